-- Create users table
--
-- Revision ID: a1b2c3d4e5f6
-- Revises: 
-- Create Date: 2026-11-27 10:00:00.000000

-- kiln:upgrade
CREATE TABLE users (
    id VARCHAR(26) NOT NULL,
    preferred_contact_channel_for_notifications VARCHAR(32),
    secondary_contact_channel VARCHAR(32),
    CONSTRAINT pk_users PRIMARY KEY (id)
);
CREATE INDEX ix_users_preferred_contact_channel_for_notifications_se_bae3 ON users (preferred_contact_channel_for_notifications, secondary_contact_channel);

-- kiln:downgrade
DROP INDEX ix_users_preferred_contact_channel_for_notifications_se_bae3;
DROP TABLE users;
