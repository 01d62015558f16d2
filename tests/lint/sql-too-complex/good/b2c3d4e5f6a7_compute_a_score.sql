-- Compute a score
--
-- Revision ID: b2c3d4e5f6a7
-- Revises: a1b2c3d4e5f6
-- Create Date: 2026-12-01 10:00:00.000000
-- Irreversible: true

-- kiln:upgrade
SELECT ((((((((((((((((((((((((((((((1 + 2 * 3)))))))))))))))))))))))))))))) AS score, count(*) FROM users WHERE email LIKE '%@example.com' OR email IS NULL OR NOT (email = '');
