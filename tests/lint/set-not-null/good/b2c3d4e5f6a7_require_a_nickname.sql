-- Require a nickname
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ADD CONSTRAINT ck_users_nickname_not_null CHECK (nickname IS NOT NULL) NOT VALID;

-- kiln:downgrade
ALTER TABLE users DROP CONSTRAINT ck_users_nickname_not_null;
