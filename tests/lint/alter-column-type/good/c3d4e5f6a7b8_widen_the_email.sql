-- Widen the email: binary-coercible changes, no rewrite
--
-- Revision ID: c3d4e5f6a7b8
-- Revises: b2c3d4e5f6a7
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ALTER COLUMN email TYPE TEXT;
ALTER TABLE teams ALTER COLUMN name TYPE VARCHAR;

-- kiln:downgrade
ALTER TABLE teams ALTER COLUMN name TYPE VARCHAR(255);
ALTER TABLE users ALTER COLUMN email TYPE VARCHAR(320);
