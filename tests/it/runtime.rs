//! The runtime against a real PostgreSQL: every operation and target form,
//! atomicity, drift, unknown revisions, interrupted non-transactional
//! revisions, stamp, both drivers.

use kiln::{Command, Config, Direction, DriftPolicy, Error, Migrator, TransactionMode};
use std::str::FromStr;

use crate::pg::{client, fresh_db, load, revision, tables, versions, write_dir};

use kartograph::MIGRATIONS as REFERENCE;
static VALID: kiln::Migrations = kiln_macros::embed_migrations!("tests/ui/fixtures/valid");

fn history_rows(c: &mut postgres::Client) -> Vec<(String, String, String)> {
    c.query("SELECT revision, direction, status FROM kiln_history ORDER BY applied_at, id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect()
}

#[test]
fn upgrade_to_head_then_a_second_start_does_nothing_and_takes_no_lock() {
    let url = fresh_db();
    let mut c = client(&url);
    let m = Migrator::new(REFERENCE);
    let first = m.upgrade(&mut c, "head").unwrap();
    assert_eq!(first.applied.len(), 7);
    assert!(first.locked);
    assert_eq!(versions(&mut c), ["f0e1d2c3b4a5"]);
    assert_eq!(tables(&mut c), ["alembic_version", "api_keys", "kiln_history", "kiln_state", "teams", "users", "workspaces"]);
    // CREATE INDEX CONCURRENTLY ran outside a transaction and left a valid index.
    let valid: bool =
        c.query_one("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_api_keys_last_used_at'::regclass", &[]).unwrap().get(0);
    assert!(valid);
    let second = m.upgrade(&mut c, "head").unwrap();
    assert!(second.applied.is_empty() && !second.locked);
    assert!(m.check(&mut c).unwrap());
    // Every revision was recorded once, with the binary that applied it.
    let rows = history_rows(&mut c);
    assert_eq!(rows.len(), 7);
    assert!(rows.iter().all(|(_, d, s)| d == "upgrade" && s == "done"));
    let by: String = c.query_one("SELECT applied_by FROM kiln_history LIMIT 1", &[]).unwrap().get(0);
    assert!(by.contains("kiln 0.1.0"), "{by}");
    let id: String = c.query_one("SELECT id FROM kiln_history LIMIT 1", &[]).unwrap().get(0);
    assert_eq!(id.len(), 26);
}

#[test]
fn every_target_form_moves_the_version_table_like_the_plan_says() {
    let url = fresh_db();
    let mut c = client(&url);
    let m = Migrator::new(VALID);
    let expect = |c: &mut postgres::Client, cmd: Command, rows: &[&str]| {
        m.run(c, &cmd).unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert_eq!(versions(c), rows, "after {cmd:?}");
    };
    expect(&mut c, Command::Upgrade("+1".into()), &["aaaa00000001"]);
    expect(&mut c, Command::Upgrade("core@+1".into()), &["bbbb00000002"]);
    expect(&mut c, Command::Upgrade("cccc".into()), &["bbbb00000002", "cccc00000003"]);
    expect(&mut c, Command::Upgrade("heads".into()), &["eeee00000005"]);
    // eeee is irreversible: going below it is refused, and nothing changes.
    let err = m.downgrade(&mut c, "-1").unwrap_err();
    assert!(matches!(err, Error::Irreversible { ref revision, .. } if revision == "eeee00000005"), "{err}");
    assert_eq!(versions(&mut c), ["eeee00000005"]);
    // From the merge, downgrade to a branch and to base.
    let mut c2 = client(&fresh_db());
    expect(&mut c2, Command::Upgrade("dddd00000004".into()), &["dddd00000004"]);
    // Below a merge the row splits: the other parent stays applied.
    expect(&mut c2, Command::Downgrade("bbbb00000002".into()), &["bbbb00000002", "cccc00000003"]);
    let err = m.upgrade(&mut c2, "+1").unwrap_err();
    assert!(err.to_string().contains("ambiguous"), "{err}");
    expect(&mut c2, Command::Downgrade("-1".into()), &["cccc00000003"]);
    expect(&mut c2, Command::Downgrade("base".into()), &[]);
    assert_eq!(tables(&mut c2), ["alembic_version", "kiln_history", "kiln_state"]);
    expect(&mut c2, Command::Upgrade("head".into()), &["eeee00000005"]);
    let err = m.upgrade(&mut c2, "ffff").unwrap_err();
    assert!(err.to_string().contains("no revision or branch `ffff`"), "{err}");
}

#[test]
fn a_revision_failing_in_its_middle_leaves_the_previous_revision_and_names_the_statement() {
    let dir = write_dir(
        "failing",
        &[
            revision("aaaa00000001", &[], "", "CREATE TABLE teams (id VARCHAR(26) PRIMARY KEY);", Some("DROP TABLE teams;")),
            revision(
                "bbbb00000002",
                &["aaaa00000001"],
                "",
                "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY);\nINSERT INTO teams VALUES ('a');\nSELECT nope FROM teams;\nCREATE TABLE laters (id int);",
                Some("DROP TABLE IF EXISTS laters;\nDROP TABLE users;"),
            ),
            revision(
                "cccc00000003",
                &["aaaa00000001"],
                "-- Branch Labels: other\n",
                "INSERT INTO teams VALUES ('x');\nINSERT INTO teams VALUES ('x');",
                Some("DELETE FROM teams;"),
            ),
        ],
        Some("allow_multiple_heads = true\n"),
    );
    let m = Migrator::new(load(&dir));
    let mut c = client(&fresh_db());
    let err = m.upgrade(&mut c, "bbbb00000002").unwrap_err();
    let text = err.to_string();
    match &err {
        Error::RevisionFailed { revision, location, statement, source, applied, .. } => {
            assert_eq!(revision, "bbbb00000002");
            assert_eq!(source.code.as_deref(), Some("42703"), "{text}");
            assert_eq!(statement.as_deref(), Some("SELECT nope FROM teams"));
            assert_eq!(location.as_deref(), Some("migrations/bbbb00000002_m.sql:10:8"), "{text}");
            assert_eq!(applied.len(), 1, "aaaa was committed before the failure");
        }
        other => panic!("{other:?}"),
    }
    assert!(text.contains("column \"nope\" does not exist"), "{text}");
    assert_eq!(versions(&mut c), ["aaaa00000001"]);
    assert_eq!(tables(&mut c), ["alembic_version", "kiln_history", "kiln_state", "teams"], "nothing of bbbb is left");
    let n: i64 = c.query_one("SELECT count(*) FROM teams", &[]).unwrap().get(0);
    assert_eq!(n, 0);
    // An error without a position: the statement is found by a rolled-back replay.
    let err = m.upgrade(&mut c, "other@head").unwrap_err();
    match &err {
        Error::RevisionFailed { statement, location, source, .. } => {
            assert_eq!(source.code.as_deref(), Some("23505"));
            assert_eq!(statement.as_deref(), Some("INSERT INTO teams VALUES ('x')"));
            assert_eq!(location.as_deref(), Some("migrations/cccc00000003_m.sql:10:1"), "{err}");
        }
        other => panic!("{other:?}"),
    }
    let n: i64 = c.query_one("SELECT count(*) FROM teams", &[]).unwrap().get(0);
    assert_eq!(n, 0, "the replay was rolled back");
    // The advisory lock was released although the run failed.
    let mut other = client(&m_url(&mut c));
    let free: bool = other.query_one("SELECT pg_try_advisory_lock($1)", &[&m.config().tables.lock_key()]).unwrap().get(0);
    assert!(free);
}

fn m_url(c: &mut postgres::Client) -> String {
    let db: String = c.query_one("SELECT current_database()", &[]).unwrap().get(0);
    crate::pg::cluster().url(&db)
}

#[test]
fn single_transaction_mode_rolls_back_the_whole_run() {
    let dir = write_dir(
        "whole",
        &[
            revision("aaaa00000001", &[], "", "CREATE TABLE alphas (id int);", Some("DROP TABLE alphas;")),
            revision("bbbb00000002", &["aaaa00000001"], "", "CREATE TABLE betas (id int);\nSELECT 1/0;", Some("DROP TABLE betas;")),
        ],
        None,
    );
    let config = Config::default().with_transaction_mode(TransactionMode::Whole);
    let m = Migrator::with_config(load(&dir), config);
    let mut c = client(&fresh_db());
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(matches!(err, Error::RevisionFailed { ref applied, .. } if applied.is_empty()), "{err}");
    assert_eq!(versions(&mut c), Vec::<String>::new());
    assert_eq!(tables(&mut c), ["alembic_version", "kiln_history", "kiln_state"]);
    // A non-transactional revision cannot be part of one transaction.
    let m = Migrator::with_config(REFERENCE, Config::default().with_transaction_mode(TransactionMode::Whole));
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(matches!(err, Error::NonTransactionalInWholeMode { .. }), "{err}");
}

#[test]
fn a_database_at_an_unknown_revision_is_refused_unless_accepted() {
    let mut c = client(&fresh_db());
    let m = Migrator::new(VALID);
    m.upgrade(&mut c, "head").unwrap();
    c.batch_execute("UPDATE alembic_version SET version_num = 'ffffffffffff'").unwrap();
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(matches!(err, Error::UnknownRevisions { ref revisions } if revisions == &["ffffffffffff"]), "{err}");
    assert!(err.to_string().contains("does not know"), "{err}");
    assert!(matches!(m.check(&mut c), Err(Error::UnknownRevisions { .. })));
    let lenient = Migrator::with_config(VALID, Config::default().with_allow_unknown_revisions(true));
    let outcome = lenient.upgrade(&mut c, "head").unwrap();
    assert!(outcome.applied.is_empty() && !outcome.warnings.is_empty());
    assert_eq!(versions(&mut c), ["ffffffffffff"], "never a guess or a downgrade");
}

#[test]
fn checksum_drift_is_an_error_until_accepted_and_line_endings_are_not_drift() {
    let files = vec![
        revision("aaaa00000001", &[], "", "CREATE TABLE alphas (id int);", Some("DROP TABLE alphas;")),
        revision("bbbb00000002", &["aaaa00000001"], "", "CREATE TABLE betas (id int);", Some("DROP TABLE betas;")),
    ];
    let mut c = client(&fresh_db());
    Migrator::new(load(&write_dir("drift-1", &files, None))).upgrade(&mut c, "head").unwrap();
    // The same files with CRLF endings and a BOM: not drift.
    let crlf: Vec<(String, String)> = files.iter().map(|(n, t)| (n.clone(), format!("\u{feff}{}", t.replace('\n', "\r\n")))).collect();
    Migrator::new(load(&write_dir("drift-2", &crlf, None))).upgrade(&mut c, "head").unwrap();
    // An edited applied file: drift.
    let mut edited = files.clone();
    edited[0].1 = edited[0].1.replace("CREATE TABLE alphas (id int);", "CREATE TABLE alphas (id bigint);");
    let m = Migrator::new(load(&write_dir("drift-3", &edited, None)));
    let err = m.upgrade(&mut c, "head").unwrap_err();
    match &err {
        Error::Drift(d) => assert_eq!(d.iter().map(|x| x.revision.as_str()).collect::<Vec<_>>(), ["aaaa00000001"]),
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("kiln accept-checksum"), "{err}");
    // The opt-out warns instead.
    let warn = Migrator::with_config(load(&write_dir("drift-4", &edited, None)), Config::default().with_drift(DriftPolicy::Warn));
    assert!(!warn.upgrade(&mut c, "head").unwrap().warnings.is_empty());
    // Accepting the deliberate edit clears it.
    m.run(&mut c, &Command::AcceptChecksums(vec![])).unwrap();
    assert!(m.upgrade(&mut c, "head").unwrap().warnings.is_empty());
    assert!(history_rows(&mut c).iter().any(|(r, d, _)| r == "aaaa00000001" && d == "accept"));
}

#[test]
fn a_run_interrupted_by_an_older_kiln_resumes() {
    let mut c = client(&fresh_db());
    let m = Migrator::new(REFERENCE);
    m.upgrade(&mut c, "a1b2c3d4e5f6").unwrap();
    // A crash in the middle of the CONCURRENTLY revision, recorded the way
    // kiln 0.1.0 did: a "started" row without progress, the version table
    // not moved.
    let checksum = REFERENCE.get("b7e2d91c4a05").unwrap().checksum;
    c.batch_execute(&format!(
        "INSERT INTO kiln_history (id, revision, direction, status, checksum, applied_at, applied_by) \
         VALUES ('01JDZZZZZZZZZZZZZZZZZZZZZZ', 'b7e2d91c4a05', 'upgrade', 'started', '{checksum}', now(), 'test')"
    ))
    .unwrap();
    let outcome = m.upgrade(&mut c, "head").unwrap();
    assert!(outcome.changes.iter().any(|l| l.contains("resumed `b7e2d91c4a05` at statement 1")), "{outcome:?}");
    assert_eq!(versions(&mut c), ["f0e1d2c3b4a5"]);
}

#[test]
fn stamp_adopts_an_existing_database_then_upgrade_continues() {
    let mut c = client(&fresh_db());
    // A database built by hand up to the teams table.
    for rev in REFERENCE.revisions().iter().filter(|r| ["1975ea83b712", "7fbe65eaef1b", "3c4d5e6f7a8b"].contains(&r.id)) {
        c.batch_execute(rev.upgrade_sql()).unwrap();
    }
    let m = Migrator::new(REFERENCE);
    m.run(&mut c, &Command::Stamp { target: "3c4d".into(), purge: false }).unwrap();
    assert_eq!(versions(&mut c), ["3c4d5e6f7a8b"]);
    let outcome = m.upgrade(&mut c, "head").unwrap();
    let ran: Vec<&str> = outcome.applied.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(ran, ["a1b2c3d4e5f6", "e4f5a6b7c8d9", "b7e2d91c4a05", "f0e1d2c3b4a5"]);
    // Stamping base empties the table; purge clears unknown rows too.
    c.batch_execute("INSERT INTO alembic_version VALUES ('zzzz')").unwrap();
    m.run(&mut c, &Command::Stamp { target: "head".into(), purge: true }).unwrap();
    assert_eq!(versions(&mut c), ["f0e1d2c3b4a5"]);
    m.run(&mut c, &Command::Stamp { target: "base".into(), purge: false }).unwrap();
    assert_eq!(versions(&mut c), Vec::<String>::new());
}

#[test]
fn the_async_driver_runs_the_same_runner() {
    let url = fresh_db();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        let conn = tokio::spawn(connection);
        let m = Migrator::new(REFERENCE);
        let outcome = m.upgrade_async(&client, "head").await.unwrap();
        assert_eq!(outcome.applied.len(), 7);
        assert!(m.check_async(&client).await.unwrap());
        let down = m.downgrade_async(&client, "-1").await;
        // The head is a merge: `-1` is ambiguous, as in Alembic.
        assert!(down.is_err());
        let down = m.downgrade_async(&client, "a1b2c3d4e5f6").await.unwrap();
        assert_eq!(down.applied.len(), 3);
        assert!(down.applied.iter().all(|s| s.direction == Direction::Down));
        drop(client);
        let _ = conn.await;
    });
    assert_eq!(versions(&mut client(&url)), ["a1b2c3d4e5f6"]);
}

#[test]
fn tables_live_in_a_configured_schema_with_their_own_lock() {
    let mut c = client(&fresh_db());
    c.batch_execute("CREATE SCHEMA \"tenant one\"").unwrap();
    let mut config = Config::default();
    config.tables.schema = Some("tenant one".into());
    let m = Migrator::with_config(VALID, config);
    m.upgrade(&mut c, "head").unwrap();
    let n: i64 = c.query_one("SELECT count(*) FROM \"tenant one\".alembic_version", &[]).unwrap().get(0);
    assert_eq!(n, 1);
    assert_ne!(m.config().tables.lock_key(), Migrator::new(VALID).config().tables.lock_key());
}

/// Counts round trips and lock attempts of a run.
struct Counting<'a> {
    inner: kiln::sync::SyncConn<'a>,
    round_trips: usize,
    lock_attempts: usize,
}

impl kiln::Conn for Counting<'_> {
    fn batch(&mut self, sql: &str) -> impl std::future::Future<Output = Result<(), kiln::DbError>> + Send {
        self.round_trips += 1;
        self.inner.batch(sql)
    }

    fn query(&mut self, sql: &str) -> impl std::future::Future<Output = Result<Vec<kiln::conn::Rows>, kiln::DbError>> + Send {
        self.round_trips += 1;
        self.lock_attempts += usize::from(sql.contains("pg_try_advisory_lock"));
        self.inner.query(sql)
    }

    fn sleep(&mut self, d: std::time::Duration) -> impl std::future::Future<Output = ()> + Send {
        self.inner.sleep(d)
    }
}

#[test]
fn an_idle_start_is_one_round_trip_and_no_lock() {
    let url = fresh_db();
    let mut c = client(&url);
    let m = Migrator::new(REFERENCE);
    m.upgrade(&mut c, "head").unwrap();
    let mut counting = Counting { inner: kiln::sync::SyncConn(&mut c), round_trips: 0, lock_attempts: 0 };
    let outcome = kiln::sync::block_on(m.execute(&mut counting, &Command::Upgrade("head".into()))).unwrap();
    assert!(outcome.applied.is_empty());
    assert_eq!((counting.round_trips, counting.lock_attempts), (1, 0));
    // With pending work the runner takes the lock and re-reads under it.
    let mut c2 = client(&fresh_db());
    let mut counting = Counting { inner: kiln::sync::SyncConn(&mut c2), round_trips: 0, lock_attempts: 0 };
    kiln::sync::block_on(m.execute(&mut counting, &Command::Upgrade("head".into()))).unwrap();
    assert_eq!(counting.lock_attempts, 1);
    // A stale state row (as an offline script leaves) falls back to the full
    // check, which refreshes it; the next start is one round trip again.
    c.batch_execute("DELETE FROM kiln_state").unwrap();
    let mut counting = Counting { inner: kiln::sync::SyncConn(&mut c), round_trips: 0, lock_attempts: 0 };
    kiln::sync::block_on(m.execute(&mut counting, &Command::Upgrade("head".into()))).unwrap();
    assert!(counting.round_trips > 1);
    let mut counting = Counting { inner: kiln::sync::SyncConn(&mut c), round_trips: 0, lock_attempts: 0 };
    kiln::sync::block_on(m.execute(&mut counting, &Command::Upgrade("head".into()))).unwrap();
    assert_eq!(counting.round_trips, 1);
}

#[test]
fn a_held_advisory_lock_makes_a_runner_wait_then_give_up_without_blocking_in_postgres() {
    let url = fresh_db();
    let m = Migrator::with_config(VALID, Config::default().with_lock_wait(std::time::Duration::from_millis(400)));
    let mut holder = postgres::Config::from_str(&url).unwrap().application_name("the holder").connect(postgres::NoTls).unwrap();
    holder.query_one("SELECT pg_advisory_lock($1)", &[&m.config().tables.lock_key()]).unwrap();
    let holder_pid: i32 = holder.query_one("SELECT pg_backend_pid()", &[]).unwrap().get(0);
    let mut c = client(&url);
    let started = std::time::Instant::now();
    let err = m.upgrade(&mut c, "head").unwrap_err();
    assert!(matches!(err, Error::LockTimeout { holder: Some(_), .. }), "{err}");
    // The message names who holds it.
    assert!(err.to_string().contains(&format!("server process {holder_pid} (application `the holder`")), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // The waiting session never sat inside pg_advisory_lock.
    let waiting: i64 = holder.query_one("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted", &[]).unwrap().get(0);
    assert_eq!(waiting, 0);
    holder.query_one("SELECT pg_advisory_unlock($1)", &[&m.config().tables.lock_key()]).unwrap();
    assert_eq!(m.upgrade(&mut c, "head").unwrap().applied.len(), 5);
}

#[test]
fn lock_timeout_applies_to_migration_statements() {
    let url = fresh_db();
    let first = Migrator::new(VALID);
    let mut c = client(&url);
    first.upgrade(&mut c, "aaaa00000001").unwrap();
    // Another session holds a lock on `users`; the next revision alters it.
    let mut blocker = client(&url);
    blocker.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;").unwrap();
    let m = Migrator::with_config(VALID, Config::default().with_lock_timeout(Some(std::time::Duration::from_millis(200))));
    let err = m.upgrade(&mut c, "cccc00000003").unwrap_err();
    match &err {
        Error::RevisionFailed { source, .. } => assert_eq!(source.code.as_deref(), Some("55P03"), "{err}"),
        other => panic!("{other:?}"),
    }
    blocker.batch_execute("ROLLBACK").unwrap();
    // The timeout was reset with the session: a later plain run is unaffected.
    let lt: String = c.query_one("SHOW lock_timeout", &[]).unwrap().get(0);
    assert_eq!(lt, "0");
    assert_eq!(versions(&mut c), ["aaaa00000001"]);
}

#[test]
fn relative_and_label_targets_both_ways() {
    let mut c = client(&fresh_db());
    let reference = Migrator::new(REFERENCE);
    reference.upgrade(&mut c, "+2").unwrap();
    assert_eq!(versions(&mut c), ["7fbe65eaef1b"]);
    reference.downgrade(&mut c, "-2").unwrap();
    assert_eq!(versions(&mut c), Vec::<String>::new());
    let mut c = client(&fresh_db());
    let m = Migrator::new(VALID);
    // Past a branch point a relative walk is ambiguous, as in Alembic.
    let err = m.upgrade(&mut c, "+2").unwrap_err();
    assert!(err.to_string().contains("branch point"), "{err}");
    // `core` spreads from bbbb to its descendants, so core@head is the head.
    m.upgrade(&mut c, "core@head").unwrap();
    assert_eq!(versions(&mut c), ["eeee00000005"]);
    let mut c = client(&fresh_db());
    m.upgrade(&mut c, "dddd00000004").unwrap();
    m.downgrade(&mut c, "core@base").unwrap();
    assert_eq!(versions(&mut c), Vec::<String>::new());
    let err = m.downgrade(&mut c, "-1").unwrap_err();
    assert!(err.to_string().contains("does not produce 1 migrations"), "{err}");
    let mut c = client(&fresh_db());
    reference.upgrade(&mut c, "head").unwrap();
    let err = reference.upgrade(&mut c, "+1").unwrap_err();
    assert!(err.to_string().contains("does not produce 1 migrations"), "{err}");
}

#[test]
fn history_records_the_server_measured_duration_of_each_revision() {
    let dir = write_dir(
        "slow",
        &[revision("aaaa00000001", &[], "", "SELECT pg_sleep(0.2);\nCREATE TABLE alphas (id int);", Some("DROP TABLE alphas;"))],
        None,
    );
    let mut c = client(&fresh_db());
    Migrator::new(load(&dir)).upgrade(&mut c, "head").unwrap();
    let ms: i64 = c.query_one("SELECT duration_ms FROM kiln_history WHERE revision = 'aaaa00000001'", &[]).unwrap().get(0);
    assert!((200..5000).contains(&ms), "{ms}");
}

/// A subscriber that keeps the name and fields of every span and event.
#[derive(Default)]
struct Recorder(std::sync::Mutex<Vec<String>>);

struct Fields(String);

impl tracing::field::Visit for Fields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push_str(&format!(" {}={value:?}", field.name()));
    }
}

impl tracing::Subscriber for Recorder {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, span: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        let mut f = Fields(format!("span {}", span.metadata().name()));
        span.record(&mut f);
        let mut all = self.0.lock().unwrap();
        all.push(f.0);
        tracing::span::Id::from_u64(all.len() as u64)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields(format!("event {}", event.metadata().level()));
        event.record(&mut f);
        self.0.lock().unwrap().push(f.0);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[test]
fn a_run_emits_tracing_spans_for_itself_the_lock_each_revision_and_each_statement() {
    let url = fresh_db();
    let recorder = std::sync::Arc::new(Recorder::default());
    let dispatch = tracing::Dispatch::from(recorder.clone());
    tracing::dispatcher::with_default(&dispatch, || {
        Migrator::new(REFERENCE).upgrade(&mut client(&url), "heads").unwrap();
    });
    let seen = recorder.0.lock().unwrap().clone();
    let has = |want: &str| seen.iter().any(|l| l.contains(want));
    assert!(has("span kiln.run command=\"upgrade\""), "{seen:#?}");
    assert!(has("span kiln.lock"), "{seen:#?}");
    assert!(has("span kiln.revision revision=\"1975ea83b712\" direction=\"upgrade\" index=1 total=7"), "{seen:#?}");
    // b7e2d91c4a05 is non-transactional: its statements get spans of their own.
    assert!(has("span kiln.statement revision=\"b7e2d91c4a05\" index=1"), "{seen:#?}");
    assert_eq!(seen.iter().filter(|l| l.contains("message=revision applied") && l.contains("duration_ms=")).count(), 7, "{seen:#?}");
}

/// What a pool hands out (deadpool-postgres' `Object`, bb8's and r2d2's
/// `PooledConnection`): a guard that derefs to the driver's client.
struct Pooled<C>(C);

impl<C> std::ops::Deref for Pooled<C> {
    type Target = C;
    fn deref(&self) -> &C {
        &self.0
    }
}

impl<C> std::ops::DerefMut for Pooled<C> {
    fn deref_mut(&mut self) -> &mut C {
        &mut self.0
    }
}

#[test]
fn a_pooled_connection_is_passed_as_it_is_and_both_drivers_offer_the_same_calls() {
    let url = fresh_db();
    let m = Migrator::new(REFERENCE);
    // Sync: `&mut pooled` coerces to `&mut postgres::Client`.
    let mut pooled = Pooled(client(&url));
    m.upgrade(&mut pooled, "+2").unwrap();
    assert_eq!(m.current(&mut pooled).unwrap(), ["7fbe65eaef1b"]);
    m.stamp(&mut pooled, "1975ea83b712", false).unwrap();
    assert_eq!(m.current(&mut pooled).unwrap(), ["1975ea83b712"]);
    assert!(!m.check(&mut pooled).unwrap());
    let ready = m.readiness(&mut pooled).unwrap();
    assert!(!ready.at_head && ready.current == ["1975ea83b712"] && ready.pending == 6, "{ready:?}");
    // Async: `&pooled` coerces to `&tokio_postgres::Client`.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(conn);
        let pooled = Pooled(c);
        m.stamp_async(&pooled, "7fbe65eaef1b", true).await.unwrap();
        assert_eq!(m.current_async(&pooled).await.unwrap(), ["7fbe65eaef1b"]);
        m.upgrade_async(&pooled, "heads").await.unwrap();
        assert!(m.check_async(&pooled).await.unwrap());
        let ready = m.readiness_async(&pooled).await.unwrap();
        assert!(ready.at_head && ready.pending == 0 && ready.current == ["f0e1d2c3b4a5"], "{ready:?}");
        m.downgrade_async(&pooled, "7fbe65eaef1b").await.unwrap();
        assert_eq!(m.current_async(&pooled).await.unwrap(), ["7fbe65eaef1b"]);
    });
}

/// The executable checksum: an edited comment, an added allow comment or
/// re-indented SQL in an applied revision is not drift; a changed statement
/// or a changed `Transactional` is. Rows an older kiln wrote (no
/// `checksum_v2`) keep validating on the file checksum, get their v2 filled
/// in on the next run, and from then on take comment edits too.
#[test]
fn comments_and_whitespace_are_not_drift_but_statements_are() {
    let files = vec![
        revision("aaaa00000001", &[], "", "CREATE TABLE alphas (id int);", Some("DROP TABLE alphas;")),
        revision("bbbb00000002", &["aaaa00000001"], "", "CREATE TABLE betas (id int);", Some("DROP TABLE betas;")),
    ];
    let url = fresh_db();
    let mut c = client(&url);
    Migrator::new(load(&write_dir("v2-1", &files, None))).upgrade(&mut c, "head").unwrap();
    let v2: Vec<Option<String>> =
        c.query("SELECT checksum_v2 FROM kiln_history ORDER BY revision", &[]).unwrap().iter().map(|r| r.get(0)).collect();
    assert!(v2.iter().all(|c| c.as_ref().is_some_and(|c| c.len() == 64)), "{v2:?}");

    let commented = |files: &[(String, String)]| -> Vec<(String, String)> {
        let mut out = files.to_vec();
        out[0].1 = out[0].1.replace(
            "CREATE TABLE alphas (id int);",
            "-- kiln:allow(table-name) a comment added after the fact\nCREATE TABLE alphas (\n    id int -- the key\n);",
        );
        out
    };
    let m = Migrator::new(load(&write_dir("v2-2", &commented(&files), None)));
    let outcome = m.upgrade(&mut c, "head").unwrap();
    assert!(outcome.warnings.is_empty(), "{:?}", outcome.warnings);
    assert!(m.check(&mut c).unwrap(), "at head after a comment edit");

    // A changed statement is drift; so is a changed Transactional.
    let mut edited = files.clone();
    edited[0].1 = edited[0].1.replace("(id int)", "(id bigint)");
    assert!(matches!(Migrator::new(load(&write_dir("v2-3", &edited, None))).upgrade(&mut c, "head"), Err(Error::Drift(_))));
    let mut non_tx = files.clone();
    non_tx[1].1 =
        non_tx[1].1.replace("-- Create Date: 2026-11-27 10:00:00\n", "-- Create Date: 2026-11-27 10:00:00\n-- Transactional: false\n");
    assert!(matches!(Migrator::new(load(&write_dir("v2-4", &non_tx, None))).upgrade(&mut c, "head"), Err(Error::Drift(_))));

    // Rows an older kiln wrote: no checksum_v2, and a stale state row.
    c.batch_execute("UPDATE kiln_history SET checksum_v2 = NULL; UPDATE kiln_state SET fingerprint = 'old'").unwrap();
    let original = Migrator::new(load(&write_dir("v2-5", &files, None)));
    assert!(original.upgrade(&mut c, "head").unwrap().warnings.is_empty(), "the file checksum still validates them");
    let filled: i64 = c.query_one("SELECT count(*) FROM kiln_history WHERE checksum_v2 IS NOT NULL", &[]).unwrap().get(0);
    assert_eq!(filled, 2, "their executable checksum is filled in");
    let later = Migrator::new(load(&write_dir("v2-6", &commented(&files), None)));
    assert!(later.upgrade(&mut c, "head").unwrap().warnings.is_empty());
    // And the idle start is one query again: the state row's fingerprint matches.
    assert_eq!(later.migrations().fingerprint(), c.query_one("SELECT fingerprint FROM kiln_state", &[]).unwrap().get::<_, String>(0));
}
