-- Create users table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE users (
    id VARCHAR(26) NOT NULL,
    email VARCHAR(320) NOT NULL,
    nickname VARCHAR(64),
    login_count INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_users PRIMARY KEY (id)
);
CREATE INDEX ix_users_nickname ON users (nickname);

-- kiln:downgrade
DROP INDEX ix_users_nickname;
DROP TABLE users;
