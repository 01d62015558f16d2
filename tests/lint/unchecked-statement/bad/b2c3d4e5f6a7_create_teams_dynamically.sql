-- Create teams dynamically
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
DO $$
BEGIN
    EXECUTE 'CREATE TABLE teams (id VARCHAR(26) NOT NULL)';
END
$$;

-- kiln:downgrade
DROP TABLE teams;
