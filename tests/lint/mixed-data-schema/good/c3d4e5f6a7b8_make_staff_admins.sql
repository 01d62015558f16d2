-- Make staff admins
--
-- Revision ID: c3d4e5f6a7b8
-- Revises: b2c3d4e5f6a7
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
UPDATE users SET role = 'admin' WHERE email LIKE '%@kartograph.io';

-- kiln:downgrade
UPDATE users SET role = 'member';
