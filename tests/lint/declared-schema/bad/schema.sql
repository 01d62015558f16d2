-- What the application expects: written by hand, ahead of the migrations.
CREATE TABLE teams (
    id VARCHAR(26) NOT NULL,
    name VARCHAR(255) NOT NULL,
    plan VARCHAR(64) NOT NULL DEFAULT 'free',
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    archived_at TIMESTAMPTZ,
    CONSTRAINT pk_teams PRIMARY KEY (id)
);

CREATE INDEX ix_teams_created_at ON teams (created_at);

CREATE TABLE members (
    id VARCHAR(26) NOT NULL,
    CONSTRAINT pk_members PRIMARY KEY (id)
);
