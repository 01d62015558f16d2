-- Create items table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE items (
    id VARCHAR(26) NOT NULL,
    CONSTRAINT pk_items PRIMARY KEY (id)
);

CREATE TABLE tags (
    id VARCHAR(26) CONSTRAINT pk_tags PRIMARY KEY
);

-- kiln:downgrade
DROP TABLE tags;
DROP TABLE items;
