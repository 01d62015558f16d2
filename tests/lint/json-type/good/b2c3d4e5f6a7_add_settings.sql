-- Add settings
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ADD COLUMN settings JSONB;

-- kiln:downgrade
ALTER TABLE users DROP COLUMN settings;
