-- Merge index and plan branches
--
-- Revision ID: f0e1d2c3b4a5
-- Revises: b7e2d91c4a05, e4f5a6b7c8d9
-- Create Date: 2026-11-13 08:55:00.000000

-- kiln:upgrade

-- kiln:downgrade
