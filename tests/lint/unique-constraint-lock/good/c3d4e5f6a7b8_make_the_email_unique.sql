-- Make the email unique with the index built beforehand
--
-- Revision ID: c3d4e5f6a7b8
-- Revises: b2c3d4e5f6a7
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE users ADD CONSTRAINT uq_users_email UNIQUE USING INDEX uq_users_email;

-- kiln:downgrade
ALTER TABLE users DROP CONSTRAINT uq_users_email;
CREATE UNIQUE INDEX uq_users_email ON users (email);
