-- Drop an index
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000
-- Transactional: false
-- kiln:upgrade
DROP INDEX CONCURRENTLY ix_users_nickname;

-- kiln:downgrade
CREATE INDEX CONCURRENTLY ix_users_nickname ON users (nickname);
