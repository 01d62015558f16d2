-- Validate teams owner foreign key
--
-- Revision ID: d4e5f6a7b8c9
-- Revises: c3d4e5f6a7b8
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
ALTER TABLE teams VALIDATE CONSTRAINT fk_teams_owner_id_users;

-- kiln:downgrade
-- Validation needs no undoing: the constraint stays.
SELECT 1;
