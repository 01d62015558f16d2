//! The schema linter on fixtures: for every rule, `tests/lint/<rule>/bad`
//! must produce that rule's findings and nothing else, rendered exactly as
//! in `tests/lint/<rule>/expected.txt` (rule name, file:line:col, message,
//! help), and `tests/lint/<rule>/good` must produce no finding at all.
//! `KILN_BLESS=1` rewrites the expected files after a deliberate change.

use std::path::{Path, PathBuf};

use kiln_core::lint::RULES;
use kiln_core::validate::InputFile;
use kiln_core::{Report, Severity};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/lint")
}

/// The report of a directory, whether or not it has errors.
fn report_of(dir: &Path, display: &str) -> Report {
    match kiln_core::load_dir(dir, display) {
        Ok(set) => set.report,
        Err(report) => report,
    }
}

fn rendered(report: &Report) -> String {
    report.diagnostics.iter().map(|d| format!("{}\n", d.render(&report.sources))).collect()
}

#[test]
fn every_rule_has_a_violating_and_a_clean_fixture() {
    let bless = std::env::var_os("KILN_BLESS").is_some();
    let mut failures = Vec::new();
    for rule in RULES {
        let base = fixtures().join(rule.name);
        let bad = report_of(&base.join("bad"), "migrations");
        let codes: Vec<&str> = bad.diagnostics.iter().map(|d| d.code).collect();
        if codes.is_empty() || codes.iter().any(|c| *c != rule.name) {
            failures.push(format!("{}: bad fixture gave {codes:?}\n{}", rule.name, rendered(&bad)));
        }
        let want_severity = if rule.default == kiln_core::lint::Level::Error { Severity::Error } else { Severity::Warning };
        if bad.diagnostics.iter().any(|d| d.severity != want_severity) {
            failures.push(format!("{}: not at its default level\n{}", rule.name, rendered(&bad)));
        }
        let text = rendered(&bad);
        let expected_path = base.join("expected.txt");
        if bless {
            std::fs::write(&expected_path, &text).unwrap();
        } else {
            let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
            if expected != text {
                failures
                    .push(format!("{}: rendered findings differ from expected.txt\n--- got\n{text}--- expected\n{expected}", rule.name));
            }
        }
        let good = report_of(&base.join("good"), "migrations");
        if !good.diagnostics.is_empty() {
            failures.push(format!("{}: clean fixture has findings\n{}", rule.name, rendered(&good)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_reference_schema_has_no_findings() {
    let report = report_of(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"), "migrations");
    assert!(report.diagnostics.is_empty(), "{}", rendered(&report));
}

/// A fixture's files, to edit in memory.
fn files(rule: &str, kind: &str) -> Vec<InputFile> {
    let dir = fixtures().join(rule).join(kind);
    let mut out: Vec<InputFile> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| InputFile {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            bytes: std::fs::read(&p).unwrap(),
            path: None,
            is_dir: false,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn edit(files: &mut [InputFile], from: &str, to: &str) {
    let f = files.iter_mut().find(|f| String::from_utf8_lossy(&f.bytes).contains(from)).unwrap_or_else(|| panic!("no file has {from:?}"));
    f.bytes = String::from_utf8(f.bytes.clone()).unwrap().replacen(from, to, 1).into_bytes();
}

fn codes(files: Vec<InputFile>) -> Vec<(&'static str, Severity)> {
    let report = match kiln_core::validate::check_files(files, "migrations") {
        Ok(set) => set.report,
        Err(r) => r,
    };
    report.diagnostics.iter().map(|d| (d.code, d.severity)).collect()
}

#[test]
fn a_comment_naming_the_rule_allows_one_statement() {
    let mut f = files("index-concurrently", "bad");
    edit(&mut f, "CREATE INDEX ix_users_email", "-- kiln:allow(index-concurrently) users is small\nCREATE INDEX ix_users_email");
    assert_eq!(codes(f), []);
    // The comment covers its own statement only.
    let mut f = files("index-concurrently", "bad");
    edit(
        &mut f,
        "CREATE INDEX ix_users_email ON users (email);",
        "CREATE INDEX ix_users_email ON users (email);\n-- kiln:allow(index-concurrently)\nSELECT 1;",
    );
    assert_eq!(codes(f), [("index-concurrently", Severity::Warning)]);
    // A misspelt rule name is reported, and allows nothing.
    let mut f = files("index-concurrently", "bad");
    edit(&mut f, "CREATE INDEX ix_users_email", "-- kiln:allow(index-concurently)\nCREATE INDEX ix_users_email");
    assert_eq!(codes(f), [("index-concurrently", Severity::Warning), ("unknown-lint", Severity::Warning)]);
}

#[test]
fn kiln_toml_sets_each_rules_level() {
    let with_config = |rule: &str, config: &str| {
        let mut f = files(rule, "bad");
        f.push(InputFile { name: "kiln.toml".into(), bytes: config.as_bytes().to_vec(), path: None, is_dir: false });
        codes(f)
    };
    assert_eq!(with_config("index-concurrently", "[lints]\nindex-concurrently = \"error\"\n"), [("index-concurrently", Severity::Error)]);
    assert_eq!(with_config("table-name", "[lints]\ntable-name = \"warn\"\n"), [("table-name", Severity::Warning)]);
    assert_eq!(with_config("reversible", "[lints]\nreversible = \"allow\"\n"), []);
    // The note on the first finding says where its level comes from.
    let mut f = files("table-name", "bad");
    f.push(InputFile { name: "kiln.toml".into(), bytes: b"[lints]\ntable-name = \"warn\"\n".to_vec(), path: None, is_dir: false });
    let report = kiln_core::validate::check_files(f, "migrations").unwrap().report;
    assert!(report.render().contains("kiln.toml sets `table-name` to warn"), "{}", report.render());
}

#[test]
fn what_the_model_cannot_follow_is_inconclusive_not_an_error() {
    // The DO block may create anything, so the table the downgrade creates
    // is not reported as left over: only the warning that the DO block was
    // not checked remains.
    let mut f = files("unchecked-statement", "bad");
    edit(&mut f, "DROP TABLE teams;", "DROP TABLE teams;\nCREATE TABLE leftovers (id VARCHAR(26) NOT NULL);");
    assert_eq!(codes(f), [("unchecked-statement", Severity::Warning)]);
    // Without the DO block, the same downgrade is caught.
    let mut f = files("unchecked-statement", "bad");
    edit(&mut f, "DROP TABLE teams;", "CREATE TABLE leftovers (id VARCHAR(26) NOT NULL);");
    edit(&mut f, "DO $$\nBEGIN\n    EXECUTE 'CREATE TABLE teams (id VARCHAR(26) NOT NULL)';\nEND\n$$;", "SELECT 1;");
    assert_eq!(codes(f), [("reversible", Severity::Error)]);
    // An ALTER TABLE action the model does not follow makes that table
    // uncertain: no reversibility verdict on it.
    let mut f = files("reversible", "bad");
    edit(
        &mut f,
        "ADD CONSTRAINT uq_users_nickname UNIQUE (nickname);",
        "ADD CONSTRAINT uq_users_nickname UNIQUE (nickname);\nALTER TABLE users SET SCHEMA public;",
    );
    assert_eq!(codes(f), []);
}

#[test]
fn branches_meet_in_the_model_at_a_merge() {
    // Two branches add a column each to `users`; after the merge, a foreign
    // key to either column is checked against that column's type.
    let rev = |id: &str, revises: &str, up: &str, down: &str| {
        let text = format!(
            "-- {id}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00\n\n-- kiln:upgrade\n{up}\n\n-- kiln:downgrade\n{down}\n"
        );
        InputFile { name: format!("{id}_step.sql"), bytes: text.into_bytes(), path: None, is_dir: false }
    };
    let set = |fk_type: &str| {
        vec![
            rev("aaaa", "", "CREATE TABLE users (id VARCHAR(26) NOT NULL, CONSTRAINT pk_users PRIMARY KEY (id));", "DROP TABLE users;"),
            rev("bbbb", "aaaa", "ALTER TABLE users ADD COLUMN handle VARCHAR(40);", "ALTER TABLE users DROP COLUMN handle;"),
            rev("cccc", "aaaa", "ALTER TABLE users ADD COLUMN badge BIGINT;", "ALTER TABLE users DROP COLUMN badge;"),
            rev("dddd", "bbbb, cccc", "", ""),
            rev(
                "eeee",
                "dddd",
                &format!(
                    "CREATE TABLE badges (id VARCHAR(26) NOT NULL, code {fk_type} NOT NULL, CONSTRAINT pk_badges PRIMARY KEY (id), \
                     CONSTRAINT fk_badges_code_users FOREIGN KEY (code) REFERENCES users (badge));"
                ),
                "DROP TABLE badges;",
            ),
        ]
    };
    assert_eq!(codes(set("BIGINT")), []);
    assert_eq!(codes(set("INT")), [("foreign-key-type", Severity::Error)]);
}

fn revision(id: &str, parent: &str, sql_up: &str, sql_down: &str) -> InputFile {
    let text = format!(
        "-- Step {id}\n--\n-- Revision ID: {id}\n-- Revises: {parent}\n-- Create Date: 2026-01-21\n\n-- kiln:upgrade\n{sql_up}\n\n-- kiln:downgrade\n{sql_down}\n"
    );
    InputFile { name: format!("{id}_step.sql"), bytes: text.into_bytes(), path: None, is_dir: false }
}

/// History already deployed, with convention breaches: `baseline` in
/// kiln.toml keeps its findings from failing, `report_baselined` (`kiln
/// check --all`) lists them as warnings, and a later revision still meets
/// every rule.
#[test]
fn a_baseline_keeps_deployed_history_from_failing_and_later_revisions_strict() {
    let history = || {
        vec![
            // Two breaches: a singular table name, an index named its own way.
            revision("aaaa00000001", "", "CREATE TABLE user_account (id VARCHAR(26) PRIMARY KEY);", "DROP TABLE user_account;"),
            revision("aaaa00000002", "aaaa00000001", "CREATE INDEX idx_user ON user_account (id);", "DROP INDEX idx_user;"),
        ]
    };
    let config = |text: &str| InputFile { name: "kiln.toml".into(), bytes: text.as_bytes().to_vec(), path: None, is_dir: false };
    let without = codes(history());
    assert!(
        without.iter().any(|c| c == &("table-name", Severity::Error)) && without.contains(&("index-name", Severity::Error)),
        "{without:?}"
    );

    let mut f = history();
    f.push(config("baseline = \"aaaa00000002\"\n"));
    assert_eq!(codes(f), [], "nothing in the baseline is reported");

    // A baseline below the second revision leaves that one to the rules.
    let mut f = history();
    f.push(config("baseline = \"aaaa00000001\"\n"));
    assert_eq!(codes(f), [("index-name", Severity::Error), ("index-concurrently", Severity::Warning)]);

    // `check --all`: listed, as warnings, with a note saying why.
    let mut f = history();
    f.push(config("baseline = \"aaaa00000002\"\n"));
    let set = kiln_core::validate::check_files_with(f, "migrations", |c| c.report_baselined = true).unwrap();
    assert!(set.report.diagnostics.len() >= 2 && set.report.diagnostics.iter().all(|d| d.severity == Severity::Warning));
    assert!(set.report.diagnostics.iter().all(kiln_core::lint::is_baselined), "{}", set.report.render());
    assert!(set.report.render().contains("in the baseline (`baseline = \"aaaa00000002\"` in kiln.toml)"), "{}", set.report.render());

    // A new revision after the baseline meets every rule.
    let mut f = history();
    f.push(config("baseline = \"aaaa00000002\"\n"));
    f.push(revision("aaaa00000003", "aaaa00000002", "CREATE TABLE team (id VARCHAR(26) PRIMARY KEY);", "DROP TABLE team;"));
    assert_eq!(codes(f), [("table-name", Severity::Error)]);

    // A baseline that names no revision is an error at its place in kiln.toml.
    let mut f = history();
    f.push(config("baseline = \"ffff\"\n"));
    let report = kiln_core::validate::check_files(f, "migrations").unwrap_err();
    assert!(
        report.render().contains("`baseline` names `ffff`, which is no revision") && report.render().contains("kiln.toml:1"),
        "{}",
        report.render()
    );

    // A branched history deployed at two heads: one baseline per head.
    let branched = || {
        let mut f = history();
        f.push(revision("aaaa00000003", "aaaa00000001", "CREATE TABLE team (id VARCHAR(26) PRIMARY KEY);", "DROP TABLE team;"));
        f.push(config("allow_multiple_heads = true\nbaseline = [\"aaaa00000002\", \"aaaa00000003\"]\n"));
        f
    };
    assert_eq!(codes(branched()), [], "both branches are deployed history");
    let set = kiln_core::validate::check_files_with(branched(), "migrations", |c| c.report_baselined = true).unwrap();
    assert!(set.report.render().contains("(`baseline = [\"aaaa00000002\", \"aaaa00000003\"]` in kiln.toml)"), "{}", set.report.render());
    let mut f = branched();
    f.pop();
    f.push(config("allow_multiple_heads = true\nbaseline = [\"aaaa00000002\"]\n"));
    assert_eq!(codes(f), [("table-name", Severity::Error)], "the other branch meets every rule");
    let mut f = history();
    f.push(config("baseline = []\n"));
    assert!(kiln_core::validate::check_files(f, "migrations").unwrap_err().render().contains("at least one quoted revision id"));
}

/// The README's kiln.toml, as written, over the reference schema's
/// migrations: every key it shows is accepted, and the set validates.
#[test]
fn the_readmes_kiln_toml_is_valid_over_the_reference_migrations() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let marker = "<!-- kiln.toml -->\n```toml\n";
    let at = readme.find(marker).expect("README.md marks its kiln.toml snippet");
    let body = &readme[at + marker.len()..];
    let snippet = &body[..body.find("```").unwrap()];
    let mut files: Vec<InputFile> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name() != "kiln.toml")
        .map(|e| InputFile {
            name: e.file_name().to_string_lossy().into_owned(),
            bytes: std::fs::read(e.path()).unwrap(),
            path: None,
            is_dir: false,
        })
        .collect();
    files.push(InputFile { name: "kiln.toml".into(), bytes: snippet.as_bytes().to_vec(), path: None, is_dir: false });
    match kiln_core::validate::check_files(files, "migrations") {
        Ok(set) => assert!(!set.config.baseline.is_empty() && !set.config.lints.is_empty(), "{snippet}"),
        Err(report) => panic!("{}", report.render()),
    }
}

/// The ULID key rule follows the key's type through `ALTER COLUMN id TYPE`.
#[test]
fn the_ulid_key_rule_follows_a_type_change_of_the_key() {
    let history = vec![
        revision(
            "aaaa00000001",
            "",
            "CREATE TABLE teams (id VARCHAR(26) NOT NULL, CONSTRAINT pk_teams PRIMARY KEY (id));",
            "DROP TABLE teams;",
        ),
        revision(
            "aaaa00000002",
            "aaaa00000001",
            "-- kiln:allow(alter-column-type)\nALTER TABLE teams ALTER COLUMN id TYPE VARCHAR(255);",
            "-- kiln:allow(alter-column-type)\nALTER TABLE teams ALTER COLUMN id TYPE VARCHAR(26);",
        ),
    ];
    assert_eq!(codes(history), [("ulid-primary-key", Severity::Error)]);
}

/// A team's own naming convention, pasted from its SQLAlchemy models into
/// kiln.toml (here the convention SQLAlchemy's documentation recommends):
/// the naming rules expect its names instead of Kartograph's.
#[test]
fn a_naming_convention_from_sqlalchemy_replaces_kartographs_names() {
    let schema = || {
        vec![
            revision(
                "aaaa00000001",
                "",
                "CREATE TABLE workspaces (id VARCHAR(26) NOT NULL, CONSTRAINT pk_workspaces PRIMARY KEY (id));\n\
                 CREATE TABLE teams (id VARCHAR(26) NOT NULL, workspace_id VARCHAR(26) NOT NULL, slug VARCHAR(32) NOT NULL, region VARCHAR(8) NOT NULL,\n\
                     CONSTRAINT pk_teams PRIMARY KEY (id),\n\
                     CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id),\n\
                     CONSTRAINT uq_teams_slug UNIQUE (slug, region));\n\
                 CREATE INDEX ix_teams_workspace_id ON teams (workspace_id);",
                "DROP INDEX ix_teams_workspace_id;\nDROP TABLE teams;\nDROP TABLE workspaces;",
            ),
        ]
    };
    let config = |text: &str| InputFile { name: "kiln.toml".into(), bytes: text.as_bytes().to_vec(), path: None, is_dir: false };
    // Kartograph's convention wants `uq_teams_slug_region` for the two-column unique.
    assert_eq!(codes(schema()), [("unique-name", Severity::Error)]);
    let sqlalchemy = "[naming_convention]\n\
        ix = \"ix_%(column_0_label)s\"\n\
        uq = \"uq_%(table_name)s_%(column_0_name)s\"\n\
        ck = \"ck_%(table_name)s_%(constraint_name)s\"\n\
        fk = \"fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s\"\n\
        pk = \"pk_%(table_name)s\"\n";
    let mut f = schema();
    f.push(config(sqlalchemy));
    assert_eq!(codes(f), [], "every name follows SQLAlchemy's convention");
    // The same as an inline table, as a pasted dict reads.
    let mut f = schema();
    f.push(config("naming_convention = { uq = \"uq_%(table_name)s_%(column_0_name)s\" }\n"));
    assert_eq!(codes(f), []);
    // A convention's names are what the rules ask for.
    let mut f = schema();
    f.push(config("[naming_convention]\nix = \"idx_%(table_name)s_%(column_0_N_name)s\"\nuq = \"uq_%(table_name)s_%(column_0_name)s\"\n"));
    let report = kiln_core::validate::check_files(f, "migrations").unwrap_err();
    assert!(report.render().contains("should be named `idx_teams_workspace_id`"), "{}", report.render());
    assert!(report.render().contains("`idx_<table>_<column>[_<column>...]`"), "{}", report.render());
    // An unknown token is a kiln.toml error at its place.
    let mut f = schema();
    f.push(config("[naming_convention]\nix = \"ix_%(colum_0_name)s\"\n"));
    let report = kiln_core::validate::check_files(f, "migrations").unwrap_err();
    assert!(report.render().contains("unknown token `%(colum_0_name)s`") && report.render().contains("kiln.toml:2"), "{}", report.render());
}

/// A downgrade that re-adds a dropped column puts it last: not the schema
/// the upgrade started from, and `reversible` says which table and column.
#[test]
fn a_column_re_added_at_the_end_is_not_an_exact_inverse() {
    let history = vec![
        revision(
            "aaaa00000001",
            "",
            "CREATE TABLE teams (id VARCHAR(26) NOT NULL, legacy_code VARCHAR(8), name VARCHAR(64) NOT NULL, CONSTRAINT pk_teams PRIMARY KEY (id));",
            "DROP TABLE teams;",
        ),
        revision(
            "aaaa00000002",
            "aaaa00000001",
            "-- kiln:allow(drop-column-or-table)\nALTER TABLE teams DROP COLUMN legacy_code;",
            "ALTER TABLE teams ADD COLUMN legacy_code VARCHAR(8);",
        ),
    ];
    let report = kiln_core::validate::check_files(history, "migrations").unwrap_err();
    let text = report.render();
    assert!(text.contains("error[kiln::reversible]: the downgrade of `aaaa00000002`"), "{text}");
    assert!(text.contains("columns of `teams` are `id, name, legacy_code` after the downgrade, `id, legacy_code, name` before the upgrade (`legacy_code` moved)"), "{text}");
}

/// Functions, views, types, sequences and triggers count for reversibility:
/// a downgrade that leaves one behind, or does not bring back one its
/// upgrade dropped, is named.
#[test]
fn functions_views_types_sequences_and_triggers_must_be_undone_too() {
    let base = || {
        revision(
            "aaaa00000001",
            "",
            "CREATE TABLE teams (id VARCHAR(26) NOT NULL, CONSTRAINT pk_teams PRIMARY KEY (id));\n\
             CREATE VIEW team_ids AS SELECT id FROM teams;",
            "DROP VIEW team_ids;\nDROP TABLE teams;",
        )
    };
    let second = |up: &str, down: &str| vec![base(), revision("aaaa00000002", "aaaa00000001", up, down)];
    let up = "CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n\
              CREATE TRIGGER teams_touch BEFORE UPDATE ON teams FOR EACH ROW EXECUTE FUNCTION touch();\n\
              CREATE TYPE team_kind AS ENUM ('a', 'b');\n\
              CREATE SEQUENCE team_numbers;\n\
              DROP VIEW team_ids;";
    let full_down = "CREATE VIEW team_ids AS SELECT id FROM teams;\nDROP SEQUENCE team_numbers;\nDROP TYPE team_kind;\n\
                     DROP TRIGGER teams_touch ON teams;\nDROP FUNCTION touch();";
    assert_eq!(codes(second(up, full_down)), [], "a downgrade that undoes each one");
    let report = kiln_core::validate::check_files(second(up, "SELECT 1;"), "migrations").unwrap_err();
    let text = report.render();
    for what in [
        "function `touch` is left over",
        "trigger `teams_touch on teams` is left over",
        "type `team_kind` is left over",
        "sequence `team_numbers` is left over",
        "view `team_ids` is missing: the downgrade does not create it again",
    ] {
        assert!(text.contains(what), "{what}:\n{text}");
    }
    // When every difference has a fix, the help gives the SQL.
    let report = kiln_core::validate::check_files(second(up, "CREATE VIEW team_ids AS SELECT id FROM teams;"), "migrations").unwrap_err();
    let text = report.render();
    assert!(text.contains("DROP TRIGGER teams_touch ON teams;") && text.contains("DROP FUNCTION touch;"), "{text}");
}

/// A foreign key's `ON DELETE`/`ON UPDATE` actions and deferrability are
/// part of what a downgrade must give back.
#[test]
fn a_foreign_key_restored_without_its_actions_is_not_an_exact_inverse() {
    let history = |down: &str| {
        vec![
            revision(
                "aaaa00000001",
                "",
                "CREATE TABLE workspaces (id VARCHAR(26) NOT NULL, CONSTRAINT pk_workspaces PRIMARY KEY (id));\n\
                 CREATE TABLE teams (id VARCHAR(26) NOT NULL, workspace_id VARCHAR(26) NOT NULL, CONSTRAINT pk_teams PRIMARY KEY (id),\n\
                 CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE);",
                "DROP TABLE teams;\nDROP TABLE workspaces;",
            ),
            revision("aaaa00000002", "aaaa00000001", "ALTER TABLE teams DROP CONSTRAINT fk_teams_workspace_id_workspaces;", down),
        ]
    };
    let exact = "ALTER TABLE teams ADD CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE NOT VALID;";
    assert_eq!(codes(history(exact)), []);
    let lost = "ALTER TABLE teams ADD CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) NOT VALID;";
    let text = kiln_core::validate::check_files(history(lost), "migrations").unwrap_err().render();
    assert!(
        text.contains("is FOREIGN KEY (workspace_id) REFERENCES workspaces (id) after the downgrade, FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE before the upgrade"),
        "{text}"
    );
}

/// An enum's values, in order, are part of what a downgrade gives back:
/// `ADD VALUE` cannot be undone by `SELECT 1`, and PostgreSQL cannot drop a
/// value, so the help names the way that works.
#[test]
fn an_enum_value_added_must_be_taken_back_by_the_downgrade() {
    let history = |up: &str, down: &str| {
        vec![
            revision("aaaa00000001", "", "CREATE TYPE team_kinds AS ENUM ('small', 'large');", "DROP TYPE team_kinds;"),
            revision("aaaa00000002", "aaaa00000001", up, down),
        ]
    };
    let add = "ALTER TYPE team_kinds ADD VALUE 'medium' AFTER 'small';";
    let text = kiln_core::validate::check_files(history(add, "SELECT 1;"), "migrations").unwrap_err().render();
    assert!(
        text.contains("enum `team_kinds` has the values ('small', 'medium', 'large') after the downgrade; before the upgrade it had ('small', 'large')"),
        "{text}"
    );
    assert!(text.contains("PostgreSQL cannot drop an enum value"), "{text}");
    // Recreating the type with the old values is the exact inverse; so is renaming a value back.
    let recreate = "CREATE TYPE team_kinds_old AS ENUM ('small', 'large');\nDROP TYPE team_kinds;\n\
                    ALTER TYPE team_kinds_old RENAME TO team_kinds;";
    let text = kiln_core::validate::check_files(history(add, recreate), "migrations").map(|_| String::new()).unwrap_or_else(|r| r.render());
    assert!(!text.contains("reversible"), "{text}");
    let rename = "ALTER TYPE team_kinds RENAME VALUE 'large' TO 'big';";
    assert_eq!(codes(history(rename, "ALTER TYPE team_kinds RENAME VALUE 'big' TO 'large';")), []);
    let text = kiln_core::validate::check_files(history(rename, "SELECT 1;"), "migrations").unwrap_err().render();
    assert!(text.contains("('small', 'big') after the downgrade; before the upgrade it had ('small', 'large')"), "{text}");
}
