//! Every revision down and up again, checked against the real catalog.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use super::{off_runtime, Snapshot, TestDatabase};
use crate::{Command, Config, Migrations, Migrator, Tables};

/// The round trip of a whole history: for every revision, in the order
/// `upgrade heads` applies them from an empty database (so each runs on
/// exactly the schema its parents and `depends_on` leave, and a merge with
/// both of its parents applied), it
///
/// 1. snapshots the schema through `pg_catalog` ([`Snapshot`]),
/// 2. upgrades that one revision and snapshots again,
/// 3. runs the revision's data fixture, if it has one ([`RoundTrip::with_rows`]),
/// 4. downgrades exactly that revision ([`Command::DowngradeOne`]: the
///    version table goes back to its parents' rows, a merge's to both),
///    and compares the schema and the version rows with step 1,
/// 5. upgrades it again and compares with step 2.
///
/// Every edge of the graph is walked: each revision's upgrade from its
/// parents, each downgrade back to exactly them. Revisions marked
/// `Irreversible: true` are upgraded only. The first difference fails the
/// run, naming the revision, the direction and the objects that differ.
///
/// ```no_run
/// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
/// use kiln::testing::RoundTrip;
/// RoundTrip::new(&MIGRATIONS)
///     // A NOT NULL column re-added without a default fails here, not in production.
///     .with_rows("b7e2d91c4a05", "INSERT INTO users (id, email) VALUES ('01J0000000000000000000000', 'a@b.c')")
///     .assert();
/// ```
pub struct RoundTrip {
    migrations: Migrations,
    rows: HashMap<String, String>,
    config: Config,
}

/// What a passing round trip did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Summary {
    /// Revisions taken down and up again.
    pub round_trips: usize,
    /// Revisions only upgraded (`Irreversible: true`).
    pub irreversible: Vec<String>,
    /// Upgrades and downgrades run.
    pub steps: usize,
    /// Wall time, server included.
    pub elapsed: Duration,
}

/// The first thing a round trip found wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The revision.
    pub revision: String,
    /// `upgrade`, `downgrade`, `upgrade again`, or `fixture`.
    pub direction: &'static str,
    /// What happened: kiln's error (with PostgreSQL's cause), or the
    /// objects that differ, as [`Snapshot::diff`] writes them.
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "round trip of revision {}, {}: {}", self.revision, self.direction, self.message)
    }
}

impl std::error::Error for Failure {}

impl RoundTrip {
    /// A round trip of `migrations`, with kiln's default tables.
    pub fn new(migrations: &Migrations) -> RoundTrip {
        RoundTrip { migrations: *migrations, rows: HashMap::new(), config: Config::default() }
    }

    /// Runs `sql` after `revision`'s upgrade, before its downgrade: rows a
    /// downgrade must cope with, as production data would be there. The
    /// rows stay for the upgrade again and for later revisions.
    pub fn with_rows(mut self, revision: &str, sql: &str) -> RoundTrip {
        self.rows.insert(revision.to_string(), sql.to_string());
        self
    }

    /// The application's [`Config`] (its tables, transaction mode,
    /// timeouts), when it sets its own.
    pub fn with_config(mut self, config: Config) -> RoundTrip {
        self.config = config;
        self
    }

    /// Runs the round trip on a fresh database of the test server.
    pub fn run(&self) -> Result<Summary, Failure> {
        off_runtime(|| {
            let db = TestDatabase::empty();
            let mut client = db.connect();
            self.run_on(&mut client)
        })
    }

    /// Runs it and panics with the [`Failure`], for a `#[test]`.
    ///
    /// # Panics
    ///
    /// At the first difference or error.
    pub fn assert(&self) -> Summary {
        self.run().unwrap_or_else(|f| panic!("{f}"))
    }

    fn run_on(&self, client: &mut postgres::Client) -> Result<Summary, Failure> {
        let started = Instant::now();
        let migrator = Migrator::with_config(self.migrations, self.config.clone());
        let graph = migrator.graph();
        let order = graph.plan_upgrade(&[], "heads").map_err(|e| Failure {
            revision: "heads".into(),
            direction: "upgrade",
            message: format!("cannot plan `upgrade heads` from an empty database: {e}"),
        })?;
        let mut summary = Summary { round_trips: 0, irreversible: Vec::new(), steps: 0, elapsed: Duration::ZERO };
        let snapshot = |client: &mut postgres::Client, revision: &str, direction: &'static str| {
            Snapshot::of(client, &self.config.tables).map_err(|e| Failure {
                revision: revision.to_string(),
                direction,
                message: format!("cannot read the catalog: {e}"),
            })
        };
        let mut before = snapshot(client, "base", "upgrade")?;
        for step in &order.steps {
            let id = graph.id(step.revision).to_string();
            let fail = |direction: &'static str, message: String| Failure { revision: id.clone(), direction, message };
            let rows_before = migrator.current(client).map_err(|e| fail("upgrade", e.to_string()))?;
            let up = |client: &mut postgres::Client, direction: &'static str| {
                let outcome = migrator.upgrade(client, &id).map_err(|e| fail(direction, e.to_string()))?;
                let ran: Vec<&str> = outcome.applied.iter().map(|s| s.revision.as_str()).collect();
                if ran != [id.as_str()] {
                    return Err(fail(direction, format!("`upgrade {id}` ran {ran:?}, not the revision alone")));
                }
                Ok(())
            };
            up(client, "upgrade")?;
            summary.steps += 1;
            let after = snapshot(client, &id, "upgrade")?;
            if !self.migrations.get(&id).is_some_and(|r| r.is_reversible()) {
                summary.irreversible.push(id.clone());
                before = after;
                continue;
            }
            if let Some(sql) = self.rows.get(&id) {
                client.batch_execute(sql).map_err(|e| fail("fixture", format!("its rows failed: {}", crate::conn::with_causes(&e))))?;
            }
            migrator.run(client, &Command::DowngradeOne(id.clone())).map_err(|e| fail("downgrade", e.to_string()))?;
            summary.steps += 1;
            let down = snapshot(client, &id, "downgrade")?;
            if let Some(diff) = before.diff(&down, 10) {
                return Err(fail(
                    "downgrade",
                    format!(
                        "the schema differs from the one its upgrade started from (- before the upgrade, + after the downgrade):\n{diff}"
                    ),
                ));
            }
            let rows_after = migrator.current(client).map_err(|e| fail("downgrade", e.to_string()))?;
            if rows_after != rows_before {
                return Err(fail("downgrade", format!("the version table holds {rows_after:?}, not its parents' {rows_before:?}")));
            }
            up(client, "upgrade again")?;
            summary.steps += 1;
            let again = snapshot(client, &id, "upgrade again")?;
            if let Some(diff) = after.diff(&again, 10) {
                return Err(fail(
                    "upgrade again",
                    format!("the schema differs from its first upgrade's (- first upgrade, + upgrade after the downgrade):\n{diff}"),
                ));
            }
            summary.round_trips += 1;
            before = again;
        }
        summary.elapsed = started.elapsed();
        Ok(summary)
    }
}

/// [`RoundTrip::new`]`(migrations).assert()`: every revision down and up
/// again on a fresh database, panicking at the first difference.
///
/// ```no_run
/// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
/// #[test]
/// fn migrations_go_both_ways() {
///     kiln::testing::assert_round_trip(&MIGRATIONS);
/// }
/// ```
pub fn assert_round_trip(migrations: &Migrations) -> Summary {
    RoundTrip::new(migrations).assert()
}

/// The migrations' schema at `heads` equals the one `ddl` creates
/// (pytest-alembic's "models match DDL"): `ddl` runs on one fresh database,
/// the migrations on another, and the two catalogs are compared. `ddl` may
/// be `pg_dump --schema-only` output: its psql meta-commands (`\restrict`)
/// are skipped.
///
/// # Panics
///
/// With the objects that differ (`-` from the migrations, `+` from the
/// DDL), or when either side fails.
///
/// ```no_run
/// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
/// let declared = std::fs::read_to_string("schema.sql").unwrap();
/// kiln::testing::assert_schema_matches(&MIGRATIONS, &declared);
/// ```
pub fn assert_schema_matches(migrations: &Migrations, ddl: &str) {
    let (migrated, declared) = off_runtime(|| {
        let by_migrations = TestDatabase::migrated(migrations, "heads");
        let by_ddl = TestDatabase::empty();
        by_ddl
            .connect()
            .batch_execute(&kiln_core::sql::without_meta_commands(ddl))
            .unwrap_or_else(|e| panic!("the declared schema fails: {}", crate::conn::with_causes(&e)));
        let tables = Tables::default();
        let read = |db: &TestDatabase| Snapshot::of(&mut db.connect(), &tables).unwrap_or_else(|e| panic!("cannot read the catalog: {e}"));
        (read(&by_migrations), read(&by_ddl))
    });
    if let Some(diff) = migrated.diff(&declared, 20) {
        panic!("the migrations' schema at heads differs from the declared one (- migrations, + declared):\n{diff}");
    }
}
