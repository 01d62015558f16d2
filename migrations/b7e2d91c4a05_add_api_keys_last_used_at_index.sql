-- Add api_keys last_used_at index
--
-- Revision ID: b7e2d91c4a05
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-12 16:20:08.331562
-- Transactional: false

-- kiln:upgrade
-- CONCURRENTLY cannot run inside a transaction: this revision runs outside one.
CREATE INDEX CONCURRENTLY ix_api_keys_last_used_at ON api_keys (last_used_at);

-- kiln:downgrade
DROP INDEX CONCURRENTLY ix_api_keys_last_used_at;
