-- Index everything
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000
-- Transactional: false
-- kiln:upgrade
CREATE INDEX CONCURRENTLY ix_users_email_nickname_login_count_created_at ON users (email, nickname, login_count, created_at);

-- kiln:downgrade
DROP INDEX CONCURRENTLY ix_users_email_nickname_login_count_created_at;
