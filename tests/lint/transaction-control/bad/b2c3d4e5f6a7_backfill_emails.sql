-- Backfill emails
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
-- kiln:allow(transaction-control)   an allow comment does not lower this rule
UPDATE users SET email = lower(email);
COMMIT;
SAVEPOINT before_trim;
UPDATE users SET email = trim(email);
ROLLBACK TO SAVEPOINT before_trim;
ROLLBACK;

-- kiln:downgrade
BEGIN;
SELECT 1;
END;
