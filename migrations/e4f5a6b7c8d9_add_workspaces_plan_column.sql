-- Add workspaces plan column
--
-- Revision ID: e4f5a6b7c8d9
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-11-12 17:03:41.908113

-- kiln:upgrade
-- A NOT NULL column on an existing table needs a server default.
ALTER TABLE workspaces ADD COLUMN plan VARCHAR(32) NOT NULL DEFAULT 'free';

-- kiln:downgrade
ALTER TABLE workspaces DROP COLUMN plan;
