-- Add a unique email
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE (email);

-- kiln:downgrade
ALTER TABLE users DROP CONSTRAINT uq_users_email;
