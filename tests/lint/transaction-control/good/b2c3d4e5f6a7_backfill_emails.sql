-- Backfill emails
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000
-- Transactional: false

-- kiln:upgrade
BEGIN;
UPDATE users SET email = lower(email);
COMMIT;
SAVEPOINT before_trim;
ROLLBACK TO SAVEPOINT before_trim;

-- kiln:downgrade
SELECT 1;
