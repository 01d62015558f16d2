-- Add teams owner foreign key
--
-- Revision ID: c3d4e5f6a7b8
-- Revises: b2c3d4e5f6a7
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE teams ADD CONSTRAINT fk_teams_owner_id_users FOREIGN KEY (owner_id) REFERENCES users (id);

-- kiln:downgrade
ALTER TABLE teams DROP CONSTRAINT fk_teams_owner_id_users;
