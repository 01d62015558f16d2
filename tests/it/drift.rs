//! `kiln diff` and `Migrator::drift`: a live database's schema against the
//! one its version rows say it should have.

use kartograph::MIGRATIONS as REFERENCE;
use kiln::testing::TestDatabase;

use crate::cli::{kiln, stdout};

/// The hotfixes production gets by hand: an index added, one dropped, a
/// constraint relaxed.
const HOTFIX: &str = "CREATE INDEX ix_users_display_name ON users (display_name);\n\
                      DROP INDEX ix_api_keys_last_used_at;\n\
                      ALTER TABLE workspaces ALTER COLUMN name DROP NOT NULL;";

#[test]
fn kiln_diff_names_what_was_changed_by_hand() {
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let url = db.url().to_string();
    let clean = kiln(&["--database-url", &url, "diff"]);
    assert_eq!(clean.status.code(), Some(0), "{}{}", stdout(&clean), String::from_utf8_lossy(&clean.stderr));
    assert!(stdout(&clean).contains("exactly the schema its version rows (f0e1d2c3b4a5) give"), "{}", stdout(&clean));

    db.connect().batch_execute(HOTFIX).unwrap();
    let drift = kiln(&["--database-url", &url, "diff"]);
    assert_eq!(drift.status.code(), Some(kiln::cli::EXIT_DRIFT), "{}", String::from_utf8_lossy(&drift.stderr));
    let text = stdout(&drift);
    assert!(text.contains("in 3 object(s)"), "{text}");
    assert!(text.contains("  index public.ix_users_display_name: added\n"), "{text}");
    assert!(text.contains("  index public.ix_api_keys_last_used_at: missing\n"), "{text}");
    assert!(
        text.contains("  table public.workspaces: changed\n      column id character varying(26) not null\n    - column name character varying(255) not null\n    + column name character varying(255)\n"),
        "{text}"
    );

    // For a cron job: JSON, and the scratch database on a given server, dropped afterwards.
    let server = kiln::testing::server().url("postgres");
    let json = kiln(&["--database-url", &url, "diff", "--format", "json", "--scratch-url", &server]);
    assert_eq!(json.status.code(), Some(kiln::cli::EXIT_DRIFT), "{}{}", stdout(&json), String::from_utf8_lossy(&json.stderr));
    let v: serde_json::Value = serde_json::from_str(&stdout(&json)).unwrap_or_else(|e| panic!("{e}: {}", stdout(&json)));
    assert_eq!(v["current"], serde_json::json!(["f0e1d2c3b4a5"]));
    let changes: Vec<(String, String)> = v["drift"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["object"].as_str().unwrap().into(), d["change"].as_str().unwrap().into()))
        .collect();
    assert_eq!(
        changes,
        [
            ("index public.ix_api_keys_last_used_at".to_string(), "missing".to_string()),
            ("index public.ix_users_display_name".into(), "added".into()),
            ("table public.workspaces".into(), "changed".into())
        ]
    );
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    let left: i64 = admin.query_one("SELECT count(*) FROM pg_database WHERE datname LIKE 'kiln_diff_%'", &[]).unwrap().get(0);
    assert_eq!(left, 0, "the scratch database is dropped");
}

/// The expected schema is the one at the database's own revision, not at
/// head; a revision this binary does not know cannot be judged.
#[test]
fn kiln_diff_judges_a_database_at_its_own_revision() {
    let db = TestDatabase::migrated(&REFERENCE, "a1b2c3d4e5f6");
    let out = kiln(&["--database-url", db.url(), "diff"]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    db.connect().batch_execute("UPDATE alembic_version SET version_num = 'ffffffffffff'").unwrap();
    let out = kiln(&["--database-url", db.url(), "diff"]);
    assert_eq!(out.status.code(), Some(kiln::cli::EXIT_NEEDS_PERSON), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ffffffffffff"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The library call, on two of the application's own connections.
#[test]
fn migrator_drift_is_the_same_check_as_a_library_call() {
    let live = TestDatabase::migrated(&REFERENCE, "heads");
    let scratch = TestDatabase::empty();
    let m = kiln::Migrator::new(REFERENCE);
    assert!(m.drift(&mut live.connect(), &mut scratch.connect()).unwrap().is_clean());
    live.connect().batch_execute(HOTFIX).unwrap();
    let again = TestDatabase::empty();
    let drift = m.drift(&mut live.connect(), &mut again.connect()).unwrap();
    assert_eq!(drift.differences.len(), 3);
    assert!(drift.render(10).unwrap().contains("index public.ix_users_display_name: added"));
    // A scratch database that is not empty is refused, not mixed in.
    let err = m.drift(&mut live.connect(), &mut again.connect()).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
}
