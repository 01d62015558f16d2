//! The declared schema (`schema = "schema.sql"` in kiln.toml) against the
//! migrations' head, at build time: `pg_dump --schema-only` of a database
//! the migrations built is what they declare; an edit to it is named at its
//! line; what the model cannot follow is left alone.

use std::path::{Path, PathBuf};
use std::process::Command;

use kartograph::MIGRATIONS as REFERENCE;
use kiln::testing::TestDatabase;

/// The reference migrations in a scratch directory, with `schema` as the
/// declared schema.
fn with_schema(name: &str, schema: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/kiln-test-dirs").join(format!("declared-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for e in std::fs::read_dir(root.join("migrations")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, dir.join(p.file_name().unwrap())).unwrap();
    }
    std::fs::write(dir.join("kiln.toml"), "schema = \"schema.sql\"\n").unwrap();
    std::fs::write(dir.join("schema.sql"), schema).unwrap();
    dir
}

fn check(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--dir", dir.to_str().unwrap(), "check"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

fn dump() -> String {
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let out = Command::new("pg_dump").args(["--schema-only", "--no-owner"]).arg(db.url()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_dump_of_what_the_migrations_build_is_what_they_declare() {
    // pg_dump as a team would run it: kiln's own tables, SETs, `\restrict` and all.
    let schema = dump();
    let (ok, text) = check(&with_schema("dump", &schema));
    assert!(ok, "{text}\n{schema}");

    // A column widened and an index added by hand in the declared schema:
    // each named at its line, with the migrations' side.
    let edited = schema.replacen("plan character varying(32)", "plan character varying(64)", 1)
        + "\nCREATE INDEX ix_users_created_at ON public.users USING btree (created_at);\n";
    let (ok, text) = check(&with_schema("edited", &edited));
    assert!(!ok, "{text}");
    let line_of = |needle: &str| edited.lines().position(|l| l.contains(needle)).unwrap() + 1;
    assert!(
        text.contains("column `workspaces.plan` is declared `varchar(64)`, but the migrations make it `varchar(32)`")
            && text.contains(&format!("schema.sql:{}:", line_of("plan character varying(64)"))),
        "{text}"
    );
    assert!(
        text.contains("index `ix_users_created_at` on `users` is declared, but the migrations do not create it")
            && text.contains(&format!("schema.sql:{}:", line_of("ix_users_created_at"))),
        "{text}"
    );
    assert_eq!(text.matches("error[kiln::declared-schema]").count(), 2, "{text}");

    // A table the declared schema lacks is named at the revision that creates it.
    let fewer: Vec<&str> = schema.split("\n\n").filter(|statement| !statement.contains("public.api_keys")).collect();
    let fewer = fewer.join("\n\n");
    let (ok, text) = check(&with_schema("fewer", &fewer));
    assert!(!ok);
    assert!(
        text.contains("table `api_keys` exists after the migrations, but the declared schema does not have it")
            && text.contains("a1b2c3d4e5f6_create_api_keys_table.sql:"),
        "{text}"
    );
}

/// A table the migrations create in a `DO` block is beyond the model: the
/// comparison says nothing of it rather than something false.
#[test]
fn what_the_model_cannot_follow_is_inconclusive_never_an_error() {
    let dir = with_schema("opaque", &format!("{}\nCREATE TABLE public.audit_events (id integer);\n", dump()));
    std::fs::write(
        dir.join("c0ffee000001_create_audit_events.sql"),
        "-- Create audit events\n--\n-- Revision ID: c0ffee000001\n-- Revises: f0e1d2c3b4a5\n-- Create Date: 2026-11-27 10:00:00\n\n\
         -- kiln:upgrade\n-- kiln:allow(unchecked-statement) created dynamically\nDO $$ BEGIN EXECUTE 'CREATE TABLE audit_events (id integer)'; END $$;\n\n\
         -- kiln:downgrade\nDROP TABLE audit_events;\n",
    )
    .unwrap();
    let (ok, text) = check(&dir);
    assert!(ok, "{text}");
    assert!(!text.contains("declared-schema"), "{text}");
}

#[test]
fn unnamed_declared_constraints_match_by_definition_and_fed_sequences_are_left_out() {
    let files = [crate::pg::revision(
        "a1",
        &[],
        "",
        "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, email TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, \
         CONSTRAINT uq_users_email UNIQUE (email));\nCREATE INDEX ix_users_created_at ON users (created_at);\n\
         CREATE TABLE bases (note TEXT);\nCREATE TABLE things (number SERIAL PRIMARY KEY, note TEXT);\n\
         -- kiln:allow(unchecked-statement)\nALTER TABLE things INHERIT bases;",
        Some("DROP TABLE things;\nDROP TABLE bases;\nDROP TABLE users;"),
    )];
    let dir = crate::pg::write_dir("declared-unnamed", &files, None);
    // A hand-written schema that leaves names to PostgreSQL: matched by what they are.
    let hand = "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, email TEXT NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL);\n\
                CREATE INDEX ON users (created_at);\nCREATE TABLE bases (note TEXT);\n\
                CREATE TABLE things (number SERIAL PRIMARY KEY, note TEXT) INHERITS (bases);\n";
    std::fs::write(dir.join("kiln.toml"), "schema = \"schema.sql\"\n").unwrap();
    std::fs::write(dir.join("schema.sql"), hand).unwrap();
    let (ok, text) = check(&dir);
    assert!(ok, "{text}");
    // One the migrations do not have is named as the build wants it named.
    std::fs::write(dir.join("schema.sql"), hand.replace("created_at TIMESTAMPTZ NOT NULL)", "created_at TIMESTAMPTZ NOT NULL UNIQUE)"))
        .unwrap();
    let (ok, text) = check(&dir);
    assert!(!ok && text.contains("constraint `uq_users_created_at` on `users` (UNIQUE (created_at)) is declared"), "{text}");

    // pg_dump writes the serial's sequence of a table kiln does not follow
    // (it inherits): left out with the table, not reported as undeclared.
    std::fs::remove_file(dir.join("schema.sql")).unwrap();
    std::fs::write(dir.join("kiln.toml"), "").unwrap();
    let migrations = kiln_core::load_dir(&dir, "migrations").unwrap_or_else(|r| panic!("{}", r.render())).leak();
    let db = TestDatabase::migrated(&migrations, "heads");
    let out = Command::new("pg_dump").args(["--schema-only", "--no-owner"]).arg(db.url()).output().unwrap();
    let dump = String::from_utf8(out.stdout).unwrap();
    assert!(dump.contains("CREATE SEQUENCE public.things_number_seq"), "{dump}");
    std::fs::write(dir.join("kiln.toml"), "schema = \"schema.sql\"\n").unwrap();
    std::fs::write(dir.join("schema.sql"), &dump).unwrap();
    let (ok, text) = check(&dir);
    assert!(ok, "{text}\n{dump}");
}
