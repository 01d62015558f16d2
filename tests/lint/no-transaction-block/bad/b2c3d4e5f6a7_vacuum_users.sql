-- Vacuum users
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
VACUUM (ANALYZE) users;
ALTER SYSTEM SET work_mem = '64MB';
CREATE DATABASE reports;

-- kiln:downgrade
ALTER SYSTEM RESET work_mem;
DROP DATABASE reports;
