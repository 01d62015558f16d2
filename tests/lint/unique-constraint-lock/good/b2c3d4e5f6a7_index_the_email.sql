-- Index the email
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000
-- Transactional: false

-- kiln:upgrade
CREATE UNIQUE INDEX CONCURRENTLY uq_users_email ON users (email);

-- kiln:downgrade
DROP INDEX CONCURRENTLY uq_users_email;
