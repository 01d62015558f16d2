-- Create users table
--
-- Revision ID: 7fbe65eaef1b
-- Revises: 1975ea83b712
-- Create Date: 2026-11-02 09:31:47.502911

-- kiln:upgrade
CREATE TABLE users (
    id VARCHAR(26) NOT NULL,
    email VARCHAR(320) NOT NULL,
    display_name VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_users PRIMARY KEY (id),
    CONSTRAINT uq_users_email UNIQUE (email)
);

-- kiln:downgrade
DROP TABLE users;
