-- Create api_keys table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 3c4d5e6f7a8b
-- Create Date: 2026-11-05 11:45:52.090417

-- kiln:upgrade
CREATE TABLE api_keys (
    id VARCHAR(26) NOT NULL,
    workspace_id VARCHAR(26) NOT NULL,
    user_id VARCHAR(26) NOT NULL,
    name VARCHAR(255) NOT NULL,
    key_hash VARCHAR(64) NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ,
    CONSTRAINT pk_api_keys PRIMARY KEY (id),
    CONSTRAINT fk_api_keys_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE,
    CONSTRAINT fk_api_keys_user_id_users FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE,
    CONSTRAINT uq_api_keys_key_hash UNIQUE (key_hash)
);
CREATE INDEX ix_api_keys_user_id ON api_keys (user_id);

-- kiln:downgrade
DROP INDEX ix_api_keys_user_id;
DROP TABLE api_keys;
