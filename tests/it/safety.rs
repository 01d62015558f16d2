//! Runtime safety against the real PostgreSQL: transaction control inside a
//! revision is never recorded as applied, non-transactional revisions
//! resume where they stopped (and settle the statement that was in flight
//! from the catalog), and `resolve-interrupted` does what it says.

use kiln::{Command, Error, Migrator, Resolution};

use crate::pg::{client, fresh_db, revision, versions, write_dir};

use kartograph::MIGRATIONS as REFERENCE;

/// Loads a directory with the lint pass off, as a set the build did not
/// check: the runtime's own defences must hold.
fn load_unlinted(dir: &std::path::Path) -> kiln::Migrations {
    kiln_core::validate::load_dir_with(dir, "migrations", |c| c.lint = false).unwrap_or_else(|r| panic!("{}", r.render())).leak()
}

fn count(c: &mut postgres::Client, sql: &str) -> i64 {
    c.query_one(sql, &[]).unwrap().get(0)
}

fn history(c: &mut postgres::Client) -> Vec<(String, String, String, Option<i32>)> {
    c.query("SELECT revision, direction, status, statements_done FROM kiln_history ORDER BY applied_at, id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect()
}

/// A directory of two revisions: `aaaa00000001` creates [`BASE`]'s tables,
/// and `bbbb00000002` (with `header`, `up` and `down`) follows it.
fn on_base(name: &str, header: &str, up: &str, down: &str, config: Option<&str>) -> std::path::PathBuf {
    write_dir(
        name,
        &[
            revision("aaaa00000001", &[], "", BASE, Some("DROP TABLE audit_logs; DROP TABLE items;")),
            revision("bbbb00000002", &["aaaa00000001"], header, up, Some(down)),
        ],
        config,
    )
}

const BASE: &str = "CREATE TABLE items (id bigint NOT NULL, a int, name text);\nCREATE TABLE audit_logs (what text NOT NULL);";

#[test]
fn transaction_control_in_a_transactional_revision_is_refused_before_anything_runs() {
    let dir = on_base("tx-control", "", "INSERT INTO audit_logs VALUES ('x');\nCOMMIT;\nSELECT nope;", "SELECT 1;", None);
    // The build (and `--dir`, which lints) refuses it outright.
    let report = kiln_core::load_dir(&dir, "migrations").map(|s| s.report).unwrap_or_else(|r| r);
    assert!(report.diagnostics.iter().any(|d| d.code == "transaction-control"), "{}", report.render());
    // A set loaded without the lint pass is refused by the runner before it sends anything.
    let m = Migrator::new(load_unlinted(&dir));
    let mut c = client(&fresh_db());
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(
        matches!(&err, Error::TransactionControl { revision, statement, .. } if revision == "bbbb00000002" && statement == "COMMIT"),
        "{err}"
    );
    assert!(err.to_string().contains("bbbb00000002_m.sql:9:1"), "{err}");
    assert!(versions(&mut c).is_empty(), "the whole plan is checked before its first step");
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_tables WHERE tablename = 'items'"), 0, "nothing ran");
}

/// A table whose statement list is unknown (as from a generator without the
/// parser): the runner's transaction marker catches the `ROLLBACK`/`COMMIT`.
fn without_statement_info(m: kiln::Migrations) -> kiln::Migrations {
    let revisions: Vec<kiln::Revision> =
        m.revisions().iter().map(|r| kiln::Revision { upgrade_statements: &[], downgrade_statements: &[], ..*r }).collect();
    let history: Vec<u32> = m.history().map(|r| m.revisions().iter().position(|x| x.id == r.id).unwrap() as u32).collect();
    kiln::Migrations::__new(Box::leak(revisions.into_boxed_slice()), Box::leak(history.into_boxed_slice()), "migrations", m.fingerprint())
}

#[test]
fn a_revision_that_ends_its_transaction_is_never_recorded() {
    for (name, sql) in [
        ("rollback", "INSERT INTO audit_logs VALUES ('lost');\nROLLBACK;\nCREATE TABLE extras (id int);"),
        ("commit", "INSERT INTO audit_logs VALUES ('early');\nCOMMIT;\nCREATE TABLE extras (id int);"),
    ] {
        let dir = on_base(&format!("tx-ended-{name}"), "", sql, "DROP TABLE extras;", None);
        let m = Migrator::new(without_statement_info(load_unlinted(&dir)));
        let mut c = client(&fresh_db());
        let err = m.upgrade(&mut c, "head").unwrap_err();
        assert!(matches!(&err, Error::TransactionEnded { revision, .. } if revision == "bbbb00000002"), "{name}: {err}");
        assert!(err.to_string().contains("recorded nothing"), "{err}");
        assert_eq!(versions(&mut c), ["aaaa00000001"], "{name}: the version table did not move");
        assert_eq!(count(&mut c, "SELECT count(*) FROM kiln_history WHERE revision = 'bbbb00000002'"), 0, "{name}: no history row");
        assert_eq!(
            count(&mut c, "SELECT count(*) FROM pg_tables WHERE tablename = 'extras'"),
            0,
            "{name}: what ran after it was rolled back"
        );
        // What ran before a COMMIT did commit: that is why the build refuses it.
        let early = count(&mut c, "SELECT count(*) FROM audit_logs");
        assert_eq!(early, i64::from(name == "commit"), "{name}");
    }
}

#[test]
fn a_begin_atomic_function_runs_whole_in_a_non_transactional_revision() {
    let body = "CREATE FUNCTION add_one(x int) RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT x + 1; END;\nCREATE INDEX CONCURRENTLY ix_items_a ON items (a);";
    let dir =
        on_base("atomic", "-- Transactional: false\n", body, "DROP INDEX CONCURRENTLY ix_items_a;\nDROP FUNCTION add_one(int);", None);
    let m = Migrator::new(crate::pg::load(&dir));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "head").unwrap();
    assert_eq!(c.query_one("SELECT add_one(41)", &[]).unwrap().get::<_, i32>(0), 42);
    m.downgrade(&mut c, "base").unwrap();
    assert!(versions(&mut c).is_empty());
}

fn resumable_set(name: &str) -> kiln::Migrations {
    let steps = "INSERT INTO audit_logs VALUES ('one');\n\
                 CREATE UNIQUE INDEX CONCURRENTLY ix_items_id ON items (id);\n\
                 INSERT INTO audit_logs VALUES ('two');\n\
                 CREATE INDEX CONCURRENTLY ix_items_a ON items (a);";
    let down = "DROP INDEX CONCURRENTLY ix_items_a;\nDROP INDEX CONCURRENTLY ix_items_id;\nDELETE FROM audit_logs;";
    let dir = on_base(name, "-- Transactional: false\n", steps, down, Some("[lints]\nmixed-data-schema = \"allow\"\n"));
    crate::pg::load(&dir)
}

#[test]
fn a_failed_non_transactional_revision_resumes_at_its_statement_and_rebuilds_the_invalid_index() {
    let m = Migrator::new(resumable_set("resume-failed"));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    c.batch_execute("INSERT INTO items (id, a) VALUES (1, 1), (1, 2), (2, 3)").unwrap();
    // The unique index fails on the duplicate and leaves an INVALID index behind.
    let err = m.upgrade(&mut c, "head").unwrap_err();
    match &err {
        Error::StatementFailed { revision, index, total, statement, source, .. } => {
            assert_eq!((revision.as_str(), *index, *total), ("bbbb00000002", 2, 4));
            assert!(statement.starts_with("CREATE UNIQUE INDEX CONCURRENTLY"), "{statement}");
            assert_eq!(source.code.as_deref(), Some("23505"));
        }
        other => panic!("{other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("stopped at statement 2 of 4") && text.contains("resumes at this statement") && !text.contains("rolled back"),
        "{text}"
    );
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 1);
    assert_eq!(history(&mut c).last().unwrap(), &("bbbb00000002".into(), "upgrade".into(), "failed".into(), Some(1)));
    // The same failure again (every replica restarting) changes nothing and doubles nothing.
    assert!(matches!(m.upgrade(&mut c, "head").unwrap_err(), Error::StatementFailed { index: 2, .. }));
    // Fix the data: the next run drops the INVALID index, builds it, and goes on.
    c.batch_execute("DELETE FROM items WHERE a = 2").unwrap();
    let outcome = m.upgrade(&mut c, "head").unwrap();
    assert!(
        outcome.changes.iter().any(|l| l.contains("resumed `bbbb00000002` at statement 2 of 4") && l.contains("dropped the INVALID index")),
        "{outcome:?}"
    );
    assert_eq!(versions(&mut c), ["bbbb00000002"]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"), 0);
    let logged: Vec<String> = c.query("SELECT what FROM audit_logs ORDER BY what", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(logged, ["one", "two"], "each statement ran once");
    let rows = history(&mut c);
    assert_eq!(rows.len(), 2, "one row per revision: {rows:?}");
    assert_eq!(rows[1], ("bbbb00000002".into(), "upgrade".into(), "done".into(), Some(4)));
}

#[test]
fn an_index_built_by_a_run_that_died_counts_as_done() {
    let m = Migrator::new(resumable_set("resume-killed"));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    // A run that died right after its CREATE INDEX CONCURRENTLY completed,
    // before it recorded that: progress says 1 statement done, status started.
    m.upgrade(&mut c, "head").unwrap();
    c.batch_execute(
        "DELETE FROM alembic_version; INSERT INTO alembic_version VALUES ('aaaa00000001'); DROP INDEX ix_items_a; \
         DELETE FROM audit_logs WHERE what = 'two'; UPDATE kiln_history SET status = 'started', statements_done = 1 WHERE revision = 'bbbb00000002'",
    )
    .unwrap();
    let outcome = m.upgrade(&mut c, "head").unwrap();
    assert!(outcome.changes.iter().any(|l| l.contains("done: index `ix_items_id` exists and is valid")), "{outcome:?}");
    assert_eq!(versions(&mut c), ["bbbb00000002"]);
    let logged: Vec<String> = c.query("SELECT what FROM audit_logs ORDER BY what", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(logged, ["one", "two"]);
}

#[test]
fn a_statement_kiln_cannot_check_stops_with_commands_that_each_do_what_they_say() {
    let db_name = format!("kiln_made_{}", std::process::id());
    let steps = format!("INSERT INTO audit_logs VALUES ('one');\nCREATE DATABASE {db_name};\nINSERT INTO audit_logs VALUES ('two');");
    let dir = on_base(
        "resolve",
        "-- Transactional: false\n",
        &steps,
        &format!("DROP DATABASE {db_name};"),
        Some("[lints]\nmixed-data-schema = \"allow\"\n"),
    );
    let m = Migrator::new(crate::pg::load(&dir));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    // A run that died while CREATE DATABASE was in flight.
    let checksum = m.migrations().get("bbbb00000002").unwrap().checksum;
    let start_row = format!(
        "INSERT INTO kiln_history (id, revision, direction, status, checksum, applied_at, applied_by, statements_done) \
         VALUES ('01JDZZZZZZZZZZZZZZZZZZZZZ0', 'bbbb00000002', 'upgrade', 'started', '{checksum}', now(), 'test', 1)"
    );
    c.batch_execute(&format!("INSERT INTO audit_logs VALUES ('one'); {start_row}")).unwrap();
    let err = m.upgrade(&mut c, "head").unwrap_err();
    let text = err.to_string();
    assert!(matches!(&err, Error::Interrupted { revision, .. } if revision == "bbbb00000002"), "{text}");
    for want in
        ["statement 2 of 3", "CREATE DATABASE", "kiln resolve-interrupted bbbb00000002 --retry", "--skip", "--abandon", "cannot tell"]
    {
        assert!(text.contains(want), "missing {want:?} in {text}");
    }
    // The database was not created: retry runs the statement again.
    let out = m.run(&mut c, &Command::ResolveInterrupted { revision: Some("bbbb00000002".into()), action: Resolution::Retry }).unwrap();
    assert_eq!(out.changes, ["`bbbb00000002`: the next upgrade runs statement 2 of 3 again"]);
    m.upgrade(&mut c, "head").unwrap();
    assert_eq!(count(&mut c, &format!("SELECT count(*) FROM pg_database WHERE datname = '{db_name}'")), 1);
    let logged: Vec<String> = c.query("SELECT what FROM audit_logs ORDER BY what", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(logged, ["one", "two"]);

    // Skip: the database exists already (the run died after creating it).
    m.downgrade(&mut c, "aaaa00000001").unwrap();
    c.batch_execute(&format!("CREATE DATABASE {db_name}")).unwrap();
    c.batch_execute(&format!("DELETE FROM audit_logs; INSERT INTO audit_logs VALUES ('one'); {}", start_row.replace("ZZZ0", "ZZZ1")))
        .unwrap();
    assert!(matches!(m.upgrade(&mut c, "head").unwrap_err(), Error::Interrupted { .. }));
    let out = m.run(&mut c, &Command::ResolveInterrupted { revision: None, action: Resolution::Skip }).unwrap();
    assert_eq!(out.changes, ["`bbbb00000002`: statement 2 of 3 counts as done; the next upgrade goes on with statement 3"]);
    m.upgrade(&mut c, "head").unwrap();
    let logged: Vec<String> = c.query("SELECT what FROM audit_logs ORDER BY what", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert_eq!(logged, ["one", "two"], "statement 1 was not run again");

    // Abandon: the run is given up; the next upgrade starts from statement 1.
    m.downgrade(&mut c, "aaaa00000001").unwrap();
    c.batch_execute(&format!("DELETE FROM audit_logs; {}", start_row.replace("ZZZ0", "ZZZ2"))).unwrap();
    let out = m.run(&mut c, &Command::ResolveInterrupted { revision: Some("bbbb".into()), action: Resolution::Abandon }).unwrap();
    assert!(out.changes[0].contains("abandoned (1 of 3 statement(s) had taken effect and stay)"), "{:?}", out.changes);
    assert!(history(&mut c).iter().any(|h| h.2 == "abandoned"));
    m.upgrade(&mut c, "head").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM audit_logs"), 2);
    // A file edited while its revision was part-way is not resumed blindly.
    m.downgrade(&mut c, "aaaa00000001").unwrap();
    c.batch_execute(&format!("DELETE FROM audit_logs; {}", start_row.replace("ZZZ0", "ZZZ3").replace(checksum, "0ld"))).unwrap();
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(err.to_string().contains("its file changed since this run started"), "{err}");
    m.run(&mut c, &Command::ResolveInterrupted { revision: None, action: Resolution::Abandon }).unwrap();
    m.upgrade(&mut c, "head").unwrap();
    // Nothing to resolve is said, not silently ignored.
    let out = m.run(&mut c, &Command::ResolveInterrupted { revision: None, action: Resolution::Retry }).unwrap();
    assert_eq!(out.changes, ["no revision has an interrupted run: nothing changed"]);
    m.downgrade(&mut c, "base").unwrap();
}

#[test]
fn a_downgrade_does_not_pass_a_half_applied_upgrade() {
    let m = Migrator::new(resumable_set("resume-down"));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    c.batch_execute("INSERT INTO items (id, a) VALUES (1, 1), (1, 2)").unwrap();
    assert!(m.upgrade(&mut c, "head").is_err());
    let err = m.downgrade(&mut c, "base").unwrap_err();
    assert!(matches!(err, Error::Interrupted { .. }), "{err}");
    assert!(err.to_string().contains("does not continue its upgrade"), "{err}");
    assert_eq!(versions(&mut c), ["aaaa00000001"]);
}

#[test]
fn a_first_run_on_an_empty_database_writes_no_error_into_the_server_log() {
    // Table names of this test alone, so the shared cluster's log can be searched for them.
    let tag = format!("probe{}", std::process::id());
    let tables = kiln::Tables::default()
        .with_version_table(format!("{tag}_versions"))
        .with_history_table(format!("{tag}_history"))
        .with_state_table(format!("{tag}_state"));
    let m = Migrator::with_config(REFERENCE, kiln::Config::default().with_tables(tables));
    let mut c = client(&fresh_db());
    assert!(!m.check(&mut c).unwrap(), "a fresh database is not at head");
    assert!(m.current(&mut c).unwrap().is_empty());
    m.upgrade(&mut c, "head").unwrap();
    assert!(m.check(&mut c).unwrap());
    m.upgrade(&mut c, "head").unwrap();
    let log = std::fs::read_to_string(crate::pg::cluster().dir().join("log")).unwrap();
    let mentions: Vec<&str> = log.lines().filter(|l| l.contains(&tag)).collect();
    assert!(mentions.is_empty(), "the server logged:\n{}", mentions.join("\n"));
}

/// A row written by kiln 0.1.0 (a `started` status, no `statements_done`):
/// which statements took effect is unknown.
fn old_style_row(c: &mut postgres::Client, m: &Migrator, revision: &str) {
    let checksum = m.migrations().get(revision).unwrap().checksum;
    c.batch_execute(&format!(
        "INSERT INTO kiln_history (id, revision, direction, status, checksum, applied_at, applied_by) \
         VALUES ('01JDZZZZZZZZZZZZZZZZZZZZZ9', '{revision}', 'upgrade', 'started', '{checksum}', now(), 'kiln 0.1.0')"
    ))
    .unwrap();
}

#[test]
fn a_run_an_older_kiln_left_without_progress_is_checked_statement_by_statement() {
    // Only catalog-checkable statements: every one is settled before it runs.
    let steps = "CREATE INDEX CONCURRENTLY ix_items_a ON items (a);\nCREATE INDEX CONCURRENTLY ix_items_name ON items (name);\nVACUUM items;\nCREATE INDEX CONCURRENTLY ix_items_id ON items (id);";
    let down = "DROP INDEX CONCURRENTLY ix_items_id;\nDROP INDEX CONCURRENTLY ix_items_name;\nDROP INDEX CONCURRENTLY ix_items_a;";
    let dir = on_base("old-row-indexes", "-- Transactional: false\n", steps, down, None);
    let m = Migrator::new(crate::pg::load(&dir));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    // The older run built the first two indexes (and the vacuum), then died.
    c.batch_execute("CREATE INDEX ix_items_a ON items (a); CREATE INDEX ix_items_name ON items (name)").unwrap();
    old_style_row(&mut c, &m, "bbbb00000002");
    let outcome = m.upgrade(&mut c, "head").unwrap();
    let note = outcome.changes.join("\n");
    assert!(note.contains("statement 1: done: index `ix_items_a`") && note.contains("statement 2: done: index `ix_items_name`"), "{note}");
    assert_eq!(versions(&mut c), ["bbbb00000002"]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM pg_indexes WHERE tablename = 'items'"), 3);

    // A plain statement: kiln cannot tell whether it ran, so it asks.
    let steps = "INSERT INTO audit_logs VALUES ('one');\nCREATE INDEX CONCURRENTLY ix_items_a ON items (a);";
    let dir = on_base(
        "old-row-plain",
        "-- Transactional: false\n",
        steps,
        "DROP INDEX CONCURRENTLY ix_items_a;\nDELETE FROM audit_logs;",
        Some("[lints]\nmixed-data-schema = \"allow\"\n"),
    );
    let m = Migrator::new(crate::pg::load(&dir));
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    old_style_row(&mut c, &m, "bbbb00000002");
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(err.to_string().contains("an older kiln started it without recording"), "{err}");
    // The operator checked: the INSERT did not run. --retry runs from statement 1.
    let out = m.run(&mut c, &Command::ResolveInterrupted { revision: None, action: Resolution::Retry }).unwrap();
    assert_eq!(out.changes, ["`bbbb00000002`: the next upgrade runs statement 1 of 2 again"]);
    m.upgrade(&mut c, "head").unwrap();
    assert_eq!(count(&mut c, "SELECT count(*) FROM audit_logs"), 1);
}

#[test]
fn a_statement_still_running_on_the_server_is_waited_for_never_raced() {
    let m =
        Migrator::with_config(resumable_set("still-running"), kiln::Config::default().with_lock_wait(std::time::Duration::from_secs(1)));
    let url = fresh_db();
    let mut c = client(&url);
    m.upgrade(&mut c, "aaaa00000001").unwrap();
    let statement = m.migrations().get("bbbb00000002").unwrap().statements(true).nth(1).unwrap().0.to_string();
    assert!(statement.starts_with("CREATE UNIQUE INDEX CONCURRENTLY ix_items_id"), "{statement}");
    // A run that died while its CREATE INDEX CONCURRENTLY went on in the server:
    // here another session runs that exact statement, held up by a lock.
    c.batch_execute("INSERT INTO audit_logs VALUES ('one')").unwrap();
    let checksum = m.migrations().get("bbbb00000002").unwrap().checksum;
    c.batch_execute(&format!(
        "INSERT INTO kiln_history (id, revision, direction, status, checksum, applied_at, applied_by, statements_done) \
         VALUES ('01JDZZZZZZZZZZZZZZZZZZZZZ7', 'bbbb00000002', 'upgrade', 'started', '{checksum}', now(), 'test', 1)"
    ))
    .unwrap();
    let mut blocker = client(&url);
    blocker.batch_execute("BEGIN; LOCK TABLE items IN SHARE UPDATE EXCLUSIVE MODE").unwrap();
    let orphan_url = url.clone();
    let orphan = std::thread::spawn(move || client(&orphan_url).batch_execute(&statement));
    while count(&mut c, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE UNIQUE INDEX CONCURRENTLY%' AND state = 'active'")
        == 0
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // While it runs, kiln waits (lock_wait, here 1 s) and then says so, naming the process.
    let err = m.upgrade(&mut c, "head").unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Interrupted { .. }) && text.contains("still running in server process"), "{text}");
    assert_eq!(versions(&mut c), ["aaaa00000001"], "nothing ran beside it");
    // Once it finishes, the index it built counts as done: not built twice, nothing raced.
    blocker.batch_execute("COMMIT").unwrap();
    orphan.join().unwrap().unwrap();
    let outcome = m.upgrade(&mut c, "head").unwrap();
    assert!(outcome.changes.iter().any(|l| l.contains("done: index `ix_items_id` exists and is valid")), "{outcome:?}");
    assert_eq!(versions(&mut c), ["bbbb00000002"]);
    assert_eq!(count(&mut c, "SELECT count(*) FROM audit_logs"), 2);
}
