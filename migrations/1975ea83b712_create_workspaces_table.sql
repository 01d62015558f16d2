-- Create workspaces table
--
-- Revision ID: 1975ea83b712
-- Revises:
-- Create Date: 2026-11-02 09:14:03.118204

-- kiln:upgrade
CREATE TABLE workspaces (
    id VARCHAR(26) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_workspaces PRIMARY KEY (id)
);

-- kiln:downgrade
DROP TABLE workspaces;
