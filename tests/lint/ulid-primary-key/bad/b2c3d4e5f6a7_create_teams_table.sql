-- Create teams table
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE teams (
    id BIGSERIAL NOT NULL,
    name VARCHAR(255) NOT NULL,
    CONSTRAINT pk_teams PRIMARY KEY (id)
);

-- kiln:downgrade
DROP TABLE teams;
