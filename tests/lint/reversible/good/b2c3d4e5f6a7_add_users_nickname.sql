-- Add users nickname
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ADD COLUMN nickname VARCHAR(64);
-- kiln:allow(unique-constraint-lock) a new, empty column
ALTER TABLE users ADD CONSTRAINT uq_users_nickname UNIQUE (nickname);

-- kiln:downgrade
ALTER TABLE users DROP CONSTRAINT uq_users_nickname;
ALTER TABLE users DROP COLUMN nickname;
