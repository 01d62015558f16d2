-- Create users table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE users (
    id VARCHAR(26) NOT NULL,
    the_preferred_channel_through_which_this_user_wants_to_hear_from_us VARCHAR(32),
    CONSTRAINT pk_users PRIMARY KEY (id)
);

-- kiln:downgrade
DROP TABLE users;
