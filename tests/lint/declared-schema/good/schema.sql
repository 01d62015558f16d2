-- What the application expects, as pg_dump --schema-only writes it.
CREATE TABLE public.teams (
    id character varying(26) NOT NULL,
    name character varying(255) NOT NULL,
    plan character varying(32) DEFAULT 'free'::character varying NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL
);

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT pk_teams PRIMARY KEY (id);

ALTER TABLE ONLY public.teams
    ADD CONSTRAINT uq_teams_name UNIQUE (name);
