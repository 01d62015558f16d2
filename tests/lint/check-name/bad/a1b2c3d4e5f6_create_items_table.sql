-- Create items table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE items (
    id VARCHAR(26) NOT NULL,
    price INTEGER NOT NULL CHECK (price > 0),
    stock INTEGER NOT NULL,
    CONSTRAINT stock_not_negative CHECK (stock >= 0),
    CONSTRAINT ck_items_ CHECK (stock < 1000000),
    CONSTRAINT pk_items PRIMARY KEY (id)
);

-- kiln:downgrade
DROP TABLE items;
