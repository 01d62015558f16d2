//! `kiln::testing`: test databases, and round trips checked against the catalog.

use std::process::Command;

use kartograph::MIGRATIONS as REFERENCE;
use kiln::testing::{assert_round_trip, assert_schema_matches, RoundTrip, Snapshot, TestDatabase};

use crate::pg::{load, revision, write_dir};

fn exists(name: &str) -> bool {
    let mut admin = postgres::Client::connect(&kiln::testing::server().url("postgres"), postgres::NoTls).unwrap();
    admin.query_one("SELECT count(*) FROM pg_database WHERE datname = $1", &[&name]).unwrap().get::<_, i64>(0) == 1
}

fn versions(db: &TestDatabase) -> Vec<String> {
    crate::pg::versions(&mut db.connect())
}

#[test]
fn a_test_gets_a_database_at_head_at_a_revision_or_empty_and_it_goes_with_the_guard() {
    let head = TestDatabase::migrated(&REFERENCE, "heads");
    assert_eq!(versions(&head), ["f0e1d2c3b4a5"]);
    let halfway = TestDatabase::migrated(&REFERENCE, "a1b2c3d4e5f6");
    assert_eq!(versions(&halfway), ["a1b2c3d4e5f6"]);
    let empty = TestDatabase::empty();
    assert!(crate::pg::tables(&mut empty.connect()).is_empty());
    // Each is its own: writing to one leaves the other alone.
    let again = TestDatabase::migrated(&REFERENCE, "heads");
    head.connect().batch_execute("CREATE TABLE scratch_rows (id int)").unwrap();
    assert!(!crate::pg::tables(&mut again.connect()).contains(&"scratch_rows".to_string()));
    // Copies of one template: the same schema, and kiln sees them at head.
    crate::pg::assert_same_schema(again.url(), TestDatabase::migrated(&REFERENCE, "heads").url(), "two databases at head");
    assert!(kiln::Migrator::new(REFERENCE).check(&mut again.connect()).unwrap());
    let name = head.name().to_string();
    let mut session = head.connect();
    drop(head);
    assert!(!exists(&name), "dropped with its guard, even with a session still open");
    assert!(session.batch_execute("SELECT 1").is_err());
    let kept = TestDatabase::empty();
    let kept_name = kept.name().to_string();
    let url = kept.keep();
    assert!(exists(&kept_name) && url.ends_with(&kept_name));
}

#[test]
fn a_failing_revision_fails_the_fixture_naming_it_and_postgresqls_cause() {
    let dir = write_dir(
        "testing-bad-revision",
        &[
            revision("aaaa00000001", &[], "", "CREATE TABLE notes (id VARCHAR(26) PRIMARY KEY);", Some("DROP TABLE notes;")),
            revision("aaaa00000002", &["aaaa00000001"], "", "ALTER TABLE note ADD COLUMN body TEXT;", Some("SELECT 1;")),
        ],
        None,
    );
    let migrations = load(&dir);
    let failed = std::panic::catch_unwind(|| TestDatabase::migrated(&migrations, "heads")).unwrap_err();
    let text = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(text.contains("aaaa00000002") && text.contains("relation \"note\" does not exist"), "{text}");
}

#[tokio::test]
async fn fixtures_work_in_async_tests_too() {
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let client = db.connect_async().await;
    let rows = client.query("SELECT version_num FROM alembic_version", &[]).await.unwrap();
    assert_eq!(rows[0].get::<_, String>(0), "f0e1d2c3b4a5");
    let m = kiln::Migrator::new(REFERENCE);
    assert!(m.check_async(&client).await.unwrap());
    drop(client);
    drop(db);
}

/// The reference schema goes down and up again, revision by revision,
/// through its branches and merge.
#[test]
fn the_reference_schema_round_trips() {
    let summary = assert_round_trip(&REFERENCE);
    assert_eq!(summary.round_trips, REFERENCE.len());
    assert_eq!(summary.steps, 3 * REFERENCE.len());
    assert!(summary.irreversible.is_empty());
}

/// Kartograph's failure: a downgrade that re-adds a dropped column at the
/// end is not an exact inverse, and the round trip names the revision and
/// the column.
#[test]
fn a_column_re_added_at_the_end_fails_the_round_trip_naming_revision_and_column() {
    let dir = write_dir(
        "testing-column-order",
        &[
            revision(
                "aaaa00000001",
                &[],
                "",
                "CREATE TABLE teams (id VARCHAR(26) NOT NULL, legacy_code VARCHAR(8), name VARCHAR(64) NOT NULL, CONSTRAINT pk_teams PRIMARY KEY (id));",
                Some("DROP TABLE teams;"),
            ),
            revision(
                "aaaa00000002",
                &["aaaa00000001"],
                "",
                "-- kiln:allow(reversible) the test is that the round trip sees it\n-- kiln:allow(drop-column-or-table)\nALTER TABLE teams DROP COLUMN legacy_code;",
                Some("ALTER TABLE teams ADD COLUMN legacy_code VARCHAR(8);"),
            ),
        ],
        None,
    );
    let failure = RoundTrip::new(&load(&dir)).run().unwrap_err();
    assert_eq!((failure.revision.as_str(), failure.direction), ("aaaa00000002", "downgrade"));
    let text = failure.to_string();
    // The testing guide shows this very failure.
    let guide = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/testing.md")).unwrap();
    let shown = guide.split("```text\n").nth(1).and_then(|b| b.split("```").next()).unwrap();
    assert_eq!(text, shown, "docs/testing.md shows the failure as it is");
    assert!(
        text.contains(
            "  table public.teams: changed\n      column id character varying(26) not null\n    - column legacy_code character varying(8)\n      column name character varying(64) not null\n    + column legacy_code character varying(8)\n"
        ),
        "{text}"
    );
}

/// What the lint's model cannot see, the catalog does: a downgrade that
/// leaves an index, loses a foreign key's action, or forgets a comment.
#[test]
fn the_catalog_catches_what_a_downgrade_leaves_or_loses() {
    let base = revision(
        "aaaa00000001",
        &[],
        "",
        "CREATE TABLE workspaces (id VARCHAR(26) PRIMARY KEY);\n\
         CREATE TABLE teams (id VARCHAR(26) PRIMARY KEY, workspace_id VARCHAR(26) NOT NULL, \
         CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id) ON DELETE CASCADE);",
        Some("DROP TABLE teams;\nDROP TABLE workspaces;"),
    );
    let cases = [
        (
            "CREATE INDEX ix_teams_workspace_id ON teams (workspace_id);",
            "SELECT 1;",
            "index public.ix_teams_workspace_id: left over",
        ),
        (
            "ALTER TABLE teams DROP CONSTRAINT fk_teams_workspace_id_workspaces;",
            "ALTER TABLE teams ADD CONSTRAINT fk_teams_workspace_id_workspaces FOREIGN KEY (workspace_id) REFERENCES workspaces (id);",
            "    - FOREIGN KEY (workspace_id) REFERENCES workspaces(id) ON DELETE CASCADE\n    + FOREIGN KEY (workspace_id) REFERENCES workspaces(id)\n",
        ),
        ("COMMENT ON TABLE teams IS 'who works together';", "SELECT 1;", "comment on table teams: left over"),
        (
            "-- kiln:allow(rename-column-or-table)\nALTER TABLE teams RENAME COLUMN workspace_id TO space_id;",
            "-- kiln:allow(rename-column-or-table)\nALTER TABLE teams RENAME COLUMN space_id TO workspace_id;",
            "",
        ),
    ];
    for (i, (up, down, expected)) in cases.iter().enumerate() {
        let dir = write_dir(
            &format!("testing-catalog-{i}"),
            &[
                base.clone(),
                revision(
                    "aaaa00000002",
                    &["aaaa00000001"],
                    "",
                    &format!("-- kiln:allow(reversible) the catalog is what this test reads\n-- kiln:allow(index-concurrently)\n{up}"),
                    Some(down),
                ),
            ],
            None,
        );
        let result = RoundTrip::new(&load(&dir)).run();
        match (expected.is_empty(), result) {
            (true, Ok(summary)) => assert_eq!(summary.round_trips, 2),
            (false, Err(f)) => assert!(f.revision == "aaaa00000002" && f.to_string().contains(expected), "{f}"),
            (_, other) => panic!("case {i}: {other:?}"),
        }
    }
}

/// A data fixture: rows inserted before a downgrade that re-adds a NOT
/// NULL column without a default make the downgrade fail in the test, with
/// PostgreSQL's cause; without rows the schema alone round-trips.
#[test]
fn rows_before_a_downgrade_catch_a_not_null_column_re_added_without_a_default() {
    let dir = write_dir(
        "testing-data",
        &[
            revision(
                "aaaa00000001",
                &[],
                "",
                "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY, nickname VARCHAR(64) NOT NULL);",
                Some("DROP TABLE users;"),
            ),
            revision(
                "aaaa00000002",
                &["aaaa00000001"],
                "",
                "-- kiln:allow(drop-column-or-table)\nALTER TABLE users DROP COLUMN nickname;",
                Some("-- kiln:allow(not-null-default)\nALTER TABLE users ADD COLUMN nickname VARCHAR(64) NOT NULL;"),
            ),
        ],
        None,
    );
    let migrations = load(&dir);
    assert!(RoundTrip::new(&migrations).run().is_ok());
    let failure = RoundTrip::new(&migrations)
        .with_rows("aaaa00000002", "INSERT INTO users (id) VALUES ('01J00000000000000000000000')")
        .run()
        .unwrap_err();
    assert_eq!((failure.revision.as_str(), failure.direction), ("aaaa00000002", "downgrade"));
    assert!(failure.message.contains("column \"nickname\" of relation \"users\" contains null values"), "{failure}");
}

/// Branches, a merge and a `depends_on`: each revision goes down to exactly
/// its parents (a merge to both rows), which Alembic's `downgrade <parent>`
/// cannot say when a dependency hangs below.
#[test]
fn every_edge_of_a_branched_graph_round_trips() {
    let t = |name: &str| (format!("CREATE TABLE {name} (id VARCHAR(26) PRIMARY KEY);"), format!("DROP TABLE {name};"));
    let (a_up, a_down) = t("alphas");
    let (b_up, b_down) = t("betas");
    let (c_up, c_down) = t("gammas");
    let (d_up, d_down) = t("deltas");
    let dir = write_dir(
        "testing-branched",
        &[
            revision("aaaa00000001", &[], "", &a_up, Some(&a_down)),
            revision("aaaa00000002", &["aaaa00000001"], "", &b_up, Some(&b_down)),
            revision("aaaa00000003", &["aaaa00000001"], "-- Depends On: aaaa00000002\n", &c_up, Some(&c_down)),
            revision("aaaa00000004", &["aaaa00000002", "aaaa00000003"], "", &d_up, Some(&d_down)),
            revision("aaaa00000005", &["aaaa00000004"], "-- Irreversible: true\n", "SELECT 1;", None),
        ],
        Some("allow_multiple_heads = true\n"),
    );
    let summary = RoundTrip::new(&load(&dir)).run().unwrap_or_else(|f| panic!("{f}"));
    assert_eq!(summary.round_trips, 4);
    assert_eq!(summary.irreversible, ["aaaa00000005"]);
}

/// pytest-alembic's "models match DDL": the migrations at head equal a
/// declared schema, and a difference names the object.
#[test]
fn the_migrations_match_a_declared_schema() {
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let dump = Command::new("pg_dump")
        .args(["--schema-only", "--no-owner", "--exclude-table=alembic_version", "--exclude-table=kiln_*"])
        .arg(db.url())
        .output()
        .unwrap();
    assert!(dump.status.success(), "{}", String::from_utf8_lossy(&dump.stderr));
    let ddl = String::from_utf8(dump.stdout).unwrap();
    assert_schema_matches(&REFERENCE, &ddl);
    let wrong = ddl.replacen("CREATE INDEX ix_api_keys_last_used_at", "CREATE INDEX ix_api_keys_last_used", 1);
    assert_ne!(wrong, ddl);
    let failed = std::panic::catch_unwind(|| assert_schema_matches(&REFERENCE, &wrong)).unwrap_err();
    let text = failed.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(
        text.contains("index public.ix_api_keys_last_used: left over") && text.contains("index public.ix_api_keys_last_used_at: missing"),
        "{text}"
    );
    // The snapshot sees column order, defaults and types.
    let snapshot = Snapshot::of(&mut db.connect(), &kiln::Tables::default()).unwrap();
    assert!(snapshot
        .get("table public.workspaces")
        .unwrap()
        .iter()
        .any(|l| l.contains("plan character varying(32) not null default 'free'")));
}

/// `KILN_TEST_DATABASE_URL`: databases go to that server, marked; a run
/// that crashed leaves its databases, and the next run on the host drops
/// them. Run in child processes of this test binary, since the server is
/// chosen once per process.
#[test]
fn a_given_server_is_used_and_a_crashed_runs_databases_are_dropped() {
    let url = kiln::testing::server().url("postgres");
    let child = |test: &str| {
        Command::new(std::env::current_exe().unwrap())
            .args(["--exact", test, "--ignored", "--nocapture", "--test-threads=1"])
            .env("KILN_TEST_DATABASE_URL", &url)
            .output()
            .unwrap()
    };
    let crashed = child("testing::child_keeps_a_database_and_crashes");
    let out = String::from_utf8_lossy(&crashed.stdout).into_owned();
    assert!(!crashed.status.success(), "{out}");
    let left = out.lines().find_map(|l| l.split("kept ").nth(1)).unwrap_or_else(|| panic!("{out}")).to_string();
    assert!(exists(&left), "the crashed run's database is there until the next run");
    let next = child("testing::child_uses_the_given_server");
    assert!(next.status.success(), "{}{}", String::from_utf8_lossy(&next.stdout), String::from_utf8_lossy(&next.stderr));
    assert!(!exists(&left), "the next run on this host dropped {left}");
}

#[test]
#[ignore = "run by a_given_server_is_used_and_a_crashed_runs_databases_are_dropped"]
fn child_keeps_a_database_and_crashes() {
    assert!(kiln::testing::server().cluster().is_none(), "a given server, not a throwaway one");
    let db = TestDatabase::empty();
    println!("kept {}", db.name());
    std::mem::forget(db);
    std::process::abort();
}

#[test]
#[ignore = "run by a_given_server_is_used_and_a_crashed_runs_databases_are_dropped"]
fn child_uses_the_given_server() {
    let server = kiln::testing::server();
    assert!(server.cluster().is_none());
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let mut c = db.connect();
    let comment: String = c
        .query_one("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = current_database()", &[])
        .unwrap()
        .get(0);
    assert!(comment.starts_with("kiln::testing host=") && comment.ends_with(&format!("pid={}", std::process::id())), "{comment}");
}

/// The round trip of any directory, timed: `KILN_ROUND_TRIP_DIR=path cargo
/// test --all-features --test it round_trip_of_a_directory -- --ignored
/// --nocapture` (what the testing guide's figures come from).
#[test]
#[ignore = "needs KILN_ROUND_TRIP_DIR"]
fn round_trip_of_a_directory() {
    let dir = std::path::PathBuf::from(std::env::var("KILN_ROUND_TRIP_DIR").expect("KILN_ROUND_TRIP_DIR"));
    let migrations = load(&dir);
    let started = std::time::Instant::now();
    let result = RoundTrip::new(&migrations).run();
    println!("{} revisions: {:?} in {:.1} s", migrations.len(), result, started.elapsed().as_secs_f64());
    result.unwrap();
}

/// The throwaway cluster of a test binary that crashed is stopped and
/// removed by its watchdog: nothing is left running or on disk.
#[test]
fn a_crashed_test_binarys_cluster_is_stopped_and_removed() {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "testing::child_starts_a_cluster_and_crashes", "--ignored", "--nocapture", "--test-threads=1"])
        .env_remove("KILN_TEST_DATABASE_URL")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(!out.status.success(), "{text}");
    let line = text.lines().find_map(|l| l.split("cluster ").nth(1)).unwrap_or_else(|| panic!("{text}"));
    let (dir, port) = line.rsplit_once(' ').unwrap();
    let (dir, port) = (std::path::PathBuf::from(dir), port.parse::<u16>().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while (dir.exists() || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(!dir.exists(), "{} is removed", dir.display());
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "nothing listens on {port} any more");
}

#[test]
#[ignore = "run by a_crashed_test_binarys_cluster_is_stopped_and_removed"]
fn child_starts_a_cluster_and_crashes() {
    let db = TestDatabase::migrated(&REFERENCE, "heads");
    let cluster = kiln::testing::server().cluster().expect("a throwaway cluster");
    println!("cluster {} {}", cluster.dir().display(), cluster.port());
    std::mem::forget(db);
    std::process::abort();
}
