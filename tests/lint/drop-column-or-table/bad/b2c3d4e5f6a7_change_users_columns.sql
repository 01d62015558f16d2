-- Change users columns
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users DROP COLUMN email;

-- kiln:downgrade
-- kiln:allow(reversible) the column comes back last; nothing reads users by position
ALTER TABLE users ADD COLUMN email VARCHAR(320) NOT NULL DEFAULT '';
ALTER TABLE users ALTER COLUMN email DROP DEFAULT;
