-- Create teams table
--
-- Revision ID: 3c4d5e6f7a8b
-- Revises: 7fbe65eaef1b
-- Create Date: 2026-11-03 14:02:19.774310

-- kiln:upgrade
CREATE TABLE teams (
    id VARCHAR(26) NOT NULL,
    workspace_id VARCHAR(26) NOT NULL,
    name VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT pk_teams PRIMARY KEY (id),
    CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT uq_teams_workspace_id_name UNIQUE (workspace_id, name)
);
CREATE INDEX ix_teams_workspace_id ON teams (workspace_id);

-- kiln:downgrade
DROP INDEX ix_teams_workspace_id;
DROP TABLE teams;
