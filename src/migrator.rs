//! The runner: applies an embedded (or loaded) revision set to PostgreSQL with
//! Alembic's semantics, written once over [`Conn`] and shared by both drivers.
//!
//! A run reads the version table and the latest history row of every revision
//! in one round trip. When nothing is pending it returns without taking any
//! lock. Otherwise it takes the session-level advisory lock (polling
//! `pg_try_advisory_lock` with backoff, never blocking inside PostgreSQL),
//! creates its tables if needed, re-reads the state under the lock (another
//! runner may have finished meanwhile), plans with kiln-core, and applies each
//! revision with its version-table change and history row in one transaction.
//! The lock is released on every path.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use kiln_core::sql::split_statements;
use kiln_core::{Direction, Graph, Plan, PlanError, RevIdx, VersionOp};

use crate::conn::{Conn, DbError};
use crate::tables::{new_ulid, HistoryRow, Measured, Tables};
use crate::Migrations;

/// How revisions are grouped into transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// Each revision and its bookkeeping commit together (default): a failure
    /// leaves the database at the previous revision.
    #[default]
    PerRevision,
    /// The whole run is one transaction (Alembic's default on PostgreSQL): a
    /// failure leaves the database where the run started. Cannot include a
    /// non-transactional revision.
    Whole,
}

/// What to do when an applied revision's file changed since it was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DriftPolicy {
    /// Refuse to run (default).
    #[default]
    Error,
    /// Carry on; the run's [`Outcome`] lists the drifted revisions.
    Warn,
}

/// Settings of a [`Migrator`].
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the version and history tables live.
    pub tables: Tables,
    /// Per-revision transactions (default) or one for the whole run.
    pub transaction_mode: TransactionMode,
    /// How long to wait for another runner's advisory lock before failing.
    pub lock_wait: Duration,
    /// `lock_timeout` for migration statements, set once the advisory lock is held.
    pub lock_timeout: Option<Duration>,
    /// `statement_timeout` for migration statements.
    pub statement_timeout: Option<Duration>,
    /// Checksum drift: error (default) or warn.
    pub drift: DriftPolicy,
    /// Accept a database at a revision this binary does not know (a newer
    /// release migrated it), doing nothing, instead of failing. For
    /// application rollbacks.
    pub allow_unknown_revisions: bool,
    /// Recorded in the history table as the binary that applied a step.
    pub applied_by: String,
}

impl Default for Config {
    fn default() -> Self {
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "unknown".into());
        Config {
            tables: Tables::default(),
            transaction_mode: TransactionMode::default(),
            lock_wait: Duration::from_secs(300),
            lock_timeout: None,
            statement_timeout: None,
            drift: DriftPolicy::default(),
            allow_unknown_revisions: false,
            applied_by: format!("{exe} (kiln {})", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// What a run should do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `upgrade <target>`.
    Upgrade(String),
    /// `downgrade <target>`.
    Downgrade(String),
    /// `stamp <target>`: move the version table without running SQL. With
    /// `purge`, the table is emptied first.
    Stamp {
        /// The revision(s) to stamp.
        target: String,
        /// Empty the version table first.
        purge: bool,
    },
    /// Record the current checksum of these revisions (all drifted ones when
    /// empty) after a deliberate edit.
    AcceptChecksums(Vec<String>),
    /// Mark interrupted non-transactional revisions as abandoned, after the
    /// operator has checked and cleaned up the database.
    ResolveInterrupted,
}

/// A step that ran.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppliedStep {
    /// The revision.
    pub revision: String,
    /// Up or down.
    pub direction: Direction,
    /// How long the SQL and bookkeeping took.
    pub duration: Duration,
}

/// The result of a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The version table's rows before.
    pub before: Vec<String>,
    /// The version table's rows after.
    pub after: Vec<String>,
    /// The steps that ran, in order.
    pub applied: Vec<AppliedStep>,
    /// True when the run took the advisory lock.
    pub locked: bool,
    /// Things the caller should know (accepted drift, an unknown revision).
    pub warnings: Vec<String>,
}

/// A revision whose file differs from what was applied.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Drift {
    /// The revision.
    pub revision: String,
    /// Its file.
    pub file: String,
    /// Checksum recorded when it was applied.
    pub recorded: String,
    /// Checksum of the embedded file.
    pub current: String,
}

/// Why a run failed. Nothing half-applied remains in any case: a failing
/// revision's transaction is rolled back.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The target does not resolve, or no plan leads there.
    Plan(PlanError),
    /// The database is at revisions this binary does not know.
    UnknownRevisions {
        /// The unknown rows of the version table.
        revisions: Vec<String>,
    },
    /// Applied revisions whose files were edited afterwards.
    Drift(Vec<Drift>),
    /// A non-transactional revision started and never finished.
    Interrupted {
        /// The revision.
        revision: String,
        /// Its file.
        file: String,
        /// When it started.
        started_at: String,
    },
    /// The plan goes down through a revision declared irreversible.
    Irreversible {
        /// The revision.
        revision: String,
        /// Its file.
        file: String,
    },
    /// Whole-run transaction mode cannot include a non-transactional revision.
    NonTransactionalInWholeMode {
        /// The revision.
        revision: String,
    },
    /// Another runner held the advisory lock for longer than `lock_wait`.
    LockTimeout {
        /// How long this runner waited.
        waited: Duration,
        /// The advisory-lock key.
        key: i64,
    },
    /// A revision's SQL failed; its transaction was rolled back.
    RevisionFailed {
        /// The revision.
        revision: String,
        /// Up or down.
        direction: Direction,
        /// `file:line:column` of the failing statement, when known.
        location: Option<String>,
        /// The failing statement, when known.
        statement: Option<String>,
        /// PostgreSQL's error.
        source: DbError,
        /// Steps that completed before the failure (committed).
        applied: Vec<AppliedStep>,
    },
    /// Any other database error, with what kiln was doing.
    Database {
        /// What kiln was doing.
        context: &'static str,
        /// The error.
        source: DbError,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Plan(e) => write!(f, "{e}"),
            Error::UnknownRevisions { revisions } => write!(
                f,
                "the database is at revision {}, which this binary does not know (was it migrated by a newer release?); \
                 deploy that release, or accept it with `allow_unknown_revisions` (`--allow-unknown`) for a rollback",
                revisions.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
            ),
            Error::Drift(drifts) => {
                write!(f, "{} applied revision(s) changed since they were applied:", drifts.len())?;
                for d in drifts {
                    write!(f, " `{}` ({}: recorded {}, now {})", d.revision, d.file, &d.recorded[..12.min(d.recorded.len())], &d.current[..12])?;
                }
                write!(f, "; restore the applied text, or after a deliberate edit run `kiln accept-checksum <revision>`")
            }
            Error::Interrupted { revision, file, started_at } => write!(
                f,
                "non-transactional revision `{revision}` ({file}) started at {started_at} and never finished; \
                 check what it left behind (an INVALID index from CREATE INDEX CONCURRENTLY must be dropped), \
                 then run `kiln resolve-interrupted` and upgrade again"
            ),
            Error::Irreversible { revision, file } => write!(
                f,
                "revision `{revision}` ({file}) is irreversible: the downgrade would pass through it; choose a target above it"
            ),
            Error::NonTransactionalInWholeMode { revision } => write!(
                f,
                "revision `{revision}` must run outside a transaction, so it cannot be part of a single-transaction run; \
                 use per-revision transactions"
            ),
            Error::LockTimeout { waited, key } => write!(
                f,
                "another migration held the advisory lock {key} for {:.0} s; if no migration is running, \
                 find the holder with `SELECT pid FROM pg_locks WHERE locktype = 'advisory'`",
                waited.as_secs_f64()
            ),
            Error::RevisionFailed { revision, direction, location, statement, source, applied } => {
                let dir = if *direction == Direction::Up { "upgrade" } else { "downgrade" };
                write!(f, "{dir} of revision `{revision}` failed and was rolled back")?;
                if let Some(l) = location {
                    write!(f, " at {l}")?;
                }
                write!(f, ": {source}")?;
                if let Some(s) = statement {
                    let s = s.trim();
                    let short: String = s.chars().take(200).collect();
                    write!(f, "\n  statement: {short}{}", if short.len() < s.len() { " ..." } else { "" })?;
                }
                if !applied.is_empty() {
                    write!(f, "\n  {} earlier step(s) of this run were committed", applied.len())?;
                }
                Ok(())
            }
            Error::Database { context, source } => write!(f, "{context}: {source}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Plan(e) => Some(e),
            _ => None,
        }
    }
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        Error::Plan(e)
    }
}

/// The latest history row of a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Latest {
    direction: String,
    status: String,
    checksum: String,
    applied_at: String,
}

/// What the database says: the version rows, and the history when kiln's table exists.
#[derive(Clone, Debug, Default)]
struct State {
    heads: Vec<String>,
    history: Option<HashMap<String, Latest>>,
}

/// Applies a revision set to PostgreSQL. Cheap to build: the revision graph
/// is only built when a run needs to plan (not on an idle start).
#[derive(Clone, Debug)]
pub struct Migrator {
    migrations: Migrations,
    graph: std::sync::OnceLock<Graph>,
    config: Config,
}

impl Migrator {
    /// A migrator over a revision set, with the default [`Config`].
    pub fn new(migrations: Migrations) -> Self {
        Self::with_config(migrations, Config::default())
    }

    /// A migrator with explicit settings.
    pub fn with_config(migrations: Migrations, config: Config) -> Self {
        Migrator { graph: std::sync::OnceLock::new(), migrations, config }
    }

    /// The revision set.
    pub fn migrations(&self) -> &Migrations {
        &self.migrations
    }

    /// The revision graph.
    pub fn graph(&self) -> &Graph {
        self.graph.get_or_init(|| self.migrations.graph())
    }

    /// The graph's heads (over `Revises` and `Depends On`), sorted, computed
    /// without building the graph: what the version table holds at head.
    fn real_heads(&self) -> Vec<&'static str> {
        let revisions = self.migrations.revisions();
        let mut referenced: std::collections::HashSet<&str> = std::collections::HashSet::with_capacity(revisions.len());
        for r in revisions {
            referenced.extend(r.down_revisions.iter().copied());
            referenced.extend(r.depends_on.iter().copied());
        }
        // Depends On may name a branch label: map labels to their revisions.
        for r in revisions {
            if r.branch_labels.iter().any(|l| referenced.contains(l)) {
                referenced.insert(r.id);
            }
        }
        let mut heads: Vec<&str> = revisions.iter().map(|r| r.id).filter(|id| !referenced.contains(id)).collect();
        heads.sort_unstable();
        heads
    }

    /// The idle start: one round trip for the version rows and the state
    /// row. `Some` when the database is at head with nothing drifted or
    /// interrupted; `None` when the full check must decide.
    async fn quick_at_head<C: Conn>(&self, conn: &mut C, target: &str) -> Option<Vec<String>> {
        let heads = self.real_heads();
        if !(target == "heads" || (target == "head" && heads.len() == 1)) {
            return None;
        }
        let sets = conn.query(&self.config.tables.select_quick_sql()).await.ok()?;
        let [versions, state] = sets.as_slice() else { return None };
        let rows: Vec<String> = versions.iter().filter_map(|r| r.first().cloned().flatten()).collect();
        let [row] = state.as_slice() else { return None };
        let fingerprint = row.first().cloned().flatten()?;
        let in_progress = row.get(1).cloned().flatten();
        (rows == heads && fingerprint == self.migrations.fingerprint() && in_progress.is_none()).then_some(rows)
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The version table's current rows (empty when it does not exist).
    pub async fn current_heads<C: Conn>(&self, conn: &mut C) -> Result<Vec<String>, Error> {
        Ok(self.read_state(conn).await?.heads)
    }

    /// True when the database is at the graph's heads (for readiness probes).
    pub async fn is_at_head<C: Conn>(&self, conn: &mut C) -> Result<bool, Error> {
        if self.quick_at_head(conn, "heads").await.is_some() {
            return Ok(true);
        }
        let state = self.read_state(conn).await?;
        self.check_known(&state.heads)?;
        self.check_history(&state)?;
        Ok(self.graph().plan_upgrade(&state.heads, "heads")?.steps.is_empty())
    }

    /// Runs a command.
    pub async fn execute<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        if let Command::Upgrade(target) = command {
            // The fast path: at head, nothing drifted: one round trip, no lock, no graph.
            if let Some(rows) = self.quick_at_head(conn, target).await {
                return Ok(Outcome { before: rows.clone(), after: rows, ..Outcome::default() });
            }
            let state = self.read_state(conn).await?;
            if let Some(outcome) = self.nothing_to_do(&state, target)? {
                // At head, but the state row is missing or stale (an offline
                // script, an interrupted run): refresh it if nobody else is busy.
                if state.history.is_some() {
                    self.refresh_state_if_free(conn).await;
                }
                return Ok(outcome);
            }
        }
        self.acquire_lock(conn).await?;
        let result = self.execute_locked(conn, command).await;
        let key = self.config.tables.lock_key();
        let unlock = conn.batch(&format!("SELECT pg_advisory_unlock({key});")).await;
        match (result, unlock) {
            (Ok(mut outcome), Ok(())) => {
                outcome.locked = true;
                Ok(outcome)
            }
            (Ok(_), Err(e)) => Err(Error::Database { context: "releasing the advisory lock", source: e }),
            // The run's error matters more; a dead connection released the lock anyway.
            (Err(e), _) => Err(e),
        }
    }

    fn nothing_to_do(&self, state: &State, target: &str) -> Result<Option<Outcome>, Error> {
        let unknown = self.unknown(&state.heads);
        if !unknown.is_empty() {
            if self.config.allow_unknown_revisions {
                return Ok(Some(self.unknown_accepted(state, &unknown)));
            }
            return Err(Error::UnknownRevisions { revisions: unknown });
        }
        let plan = self.graph().plan_upgrade(&state.heads, target)?;
        if !plan.steps.is_empty() {
            return Ok(None);
        }
        let warnings = self.check_history(state)?;
        Ok(Some(Outcome { before: state.heads.clone(), after: state.heads.clone(), warnings, ..Outcome::default() }))
    }

    /// Recomputes the state row from the history table (under the lock).
    async fn write_state<C: Conn>(&self, conn: &mut C) -> Result<(), Error> {
        let state = self.read_state(conn).await?;
        let history = state.history.unwrap_or_default();
        let fingerprint = kiln_core::checksum::fingerprint(
            history
                .iter()
                .filter(|(_, l)| l.status == "done" && l.direction != "downgrade")
                .map(|(id, l)| (id.as_str(), l.checksum.as_str())),
        );
        let in_progress = history.iter().find(|(_, l)| l.status == "started" || l.status == "failed").map(|(id, _)| id.as_str());
        conn.batch(&self.config.tables.state_upsert_sql(&fingerprint, in_progress))
            .await
            .map_err(|source| Error::Database { context: "writing kiln's state row", source })
    }

    /// Refreshes the state row when the advisory lock is free right now; never waits.
    async fn refresh_state_if_free<C: Conn>(&self, conn: &mut C) {
        let key = self.config.tables.lock_key();
        let got = conn.query(&format!("SELECT pg_try_advisory_lock({key});")).await;
        if got.ok().and_then(|s| s.first()?.first()?.first().cloned().flatten()).as_deref() == Some("t") {
            let _ = conn.batch(&self.config.tables.create_sql()).await;
            let _ = self.write_state(conn).await;
            let _ = conn.batch(&format!("SELECT pg_advisory_unlock({key});")).await;
        }
    }

    fn unknown_accepted(&self, state: &State, unknown: &[String]) -> Outcome {
        Outcome {
            before: state.heads.clone(),
            after: state.heads.clone(),
            warnings: vec![format!("the database is at unknown revision(s) {}; nothing was done", unknown.join(", "))],
            ..Outcome::default()
        }
    }

    fn unknown(&self, heads: &[String]) -> Vec<String> {
        heads.iter().filter(|h| self.graph().index_of(h).is_none()).cloned().collect()
    }

    fn check_known(&self, heads: &[String]) -> Result<(), Error> {
        let unknown = self.unknown(heads);
        if unknown.is_empty() {
            Ok(())
        } else {
            Err(Error::UnknownRevisions { revisions: unknown })
        }
    }

    /// Interrupted revisions and checksum drift, from the latest history rows.
    fn check_history(&self, state: &State) -> Result<Vec<String>, Error> {
        let Some(history) = &state.history else { return Ok(Vec::new()) };
        let mut drifts = Vec::new();
        for rev in self.migrations.revisions() {
            let Some(latest) = history.get(rev.id) else { continue };
            // `failed`: a non-transactional revision stopped at a statement,
            // after earlier ones took effect; as much in need of a look.
            if latest.status == "started" || latest.status == "failed" {
                return Err(Error::Interrupted {
                    revision: rev.id.to_string(),
                    file: rev.file_name.to_string(),
                    started_at: latest.applied_at.clone(),
                });
            }
            if latest.direction != "downgrade" && latest.checksum != rev.checksum {
                drifts.push(Drift {
                    revision: rev.id.to_string(),
                    file: rev.file_name.to_string(),
                    recorded: latest.checksum.clone(),
                    current: rev.checksum.to_string(),
                });
            }
        }
        if drifts.is_empty() {
            return Ok(Vec::new());
        }
        match self.config.drift {
            DriftPolicy::Error => Err(Error::Drift(drifts)),
            DriftPolicy::Warn => Ok(vec![Error::Drift(drifts).to_string()]),
        }
    }

    /// One round trip: the version rows and the latest history rows.
    async fn read_state<C: Conn>(&self, conn: &mut C) -> Result<State, Error> {
        let t = &self.config.tables;
        let both = format!("{}\n{}", t.select_versions_sql(), t.select_latest_history_sql());
        let db = |source| Error::Database { context: "reading the version table", source };
        match conn.query(&both).await {
            Ok(mut sets) if sets.len() == 2 => {
                let history = sets.pop().unwrap_or_default();
                let versions = sets.pop().unwrap_or_default();
                let mut map = HashMap::with_capacity(history.len());
                for row in history {
                    if let [Some(rev), Some(direction), Some(status), Some(checksum), Some(at)] = row.as_slice() {
                        map.insert(
                            rev.clone(),
                            Latest { direction: direction.clone(), status: status.clone(), checksum: checksum.clone(), applied_at: at.clone() },
                        );
                    }
                }
                Ok(State { heads: versions.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect(), history: Some(map) })
            }
            Ok(_) => Err(db(DbError::other("unexpected reply to the state query"))),
            Err(e) if e.is_undefined_table() => match conn.query(&t.select_versions_sql()).await {
                // Alembic's table without kiln's: a database Alembic managed.
                Ok(sets) => Ok(State {
                    heads: sets.into_iter().next().unwrap_or_default().into_iter().filter_map(|r| r.into_iter().next().flatten()).collect(),
                    history: None,
                }),
                Err(e) if e.is_undefined_table() => Ok(State::default()),
                Err(e) => Err(db(e)),
            },
            Err(e) => Err(db(e)),
        }
    }

    async fn acquire_lock<C: Conn>(&self, conn: &mut C) -> Result<(), Error> {
        let key = self.config.tables.lock_key();
        let start = Instant::now();
        let mut delay = Duration::from_millis(20);
        // Jitter from the process id, so runners started together spread out.
        let jitter = u64::from(std::process::id() % 17);
        loop {
            let rows = conn
                .query(&format!("SELECT pg_try_advisory_lock({key});"))
                .await
                .map_err(|source| Error::Database { context: "taking the advisory lock", source })?;
            let got = rows.first().and_then(|r| r.first()).and_then(|r| r.first()).cloned().flatten();
            if got.as_deref() == Some("t") {
                return Ok(());
            }
            if start.elapsed() >= self.config.lock_wait {
                return Err(Error::LockTimeout { waited: start.elapsed(), key });
            }
            conn.sleep(delay + Duration::from_millis(jitter)).await;
            delay = (delay * 2).min(Duration::from_millis(1000));
        }
    }

    async fn execute_locked<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        let t = &self.config.tables;
        conn.batch(&t.create_sql()).await.map_err(|source| Error::Database { context: "creating kiln's tables", source })?;
        let mut session = String::new();
        if let Some(d) = self.config.lock_timeout {
            session.push_str(&format!("SET lock_timeout = {};", d.as_millis()));
        }
        if let Some(d) = self.config.statement_timeout {
            session.push_str(&format!("SET statement_timeout = {};", d.as_millis()));
        }
        if !session.is_empty() {
            conn.batch(&session).await.map_err(|source| Error::Database { context: "setting timeouts", source })?;
        }
        let mut result = self.run_command(conn, command).await;
        // Keep the state row true to the history, whatever happened.
        if let Err(e) = self.write_state(conn).await {
            if result.is_ok() {
                result = Err(e);
            }
        }
        if !session.is_empty() {
            // Best effort: the session may be gone.
            let _ = conn.batch("RESET lock_timeout; RESET statement_timeout;").await;
        }
        result
    }

    async fn run_command<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        // Re-read under the lock: another runner may have finished meanwhile.
        let state = self.read_state(conn).await?;
        match command {
            Command::Upgrade(target) => {
                if let Some(outcome) = self.nothing_to_do(&state, target)? {
                    return Ok(outcome);
                }
                let warnings = self.check_history(&state)?;
                let plan = self.graph().plan_upgrade(&state.heads, target)?;
                self.apply(conn, &state, plan, warnings).await
            }
            Command::Downgrade(target) => {
                self.check_known(&state.heads)?;
                let warnings = self.check_history(&state)?;
                let plan = self.graph().plan_downgrade(&state.heads, target)?;
                self.apply(conn, &state, plan, warnings).await
            }
            Command::Stamp { target, purge } => self.stamp(conn, &state, target, *purge).await,
            Command::AcceptChecksums(revisions) => self.accept_checksums(conn, &state, revisions).await,
            Command::ResolveInterrupted => {
                let sql = format!("UPDATE {} SET status = 'abandoned' WHERE status = 'started';", self.config.tables.history());
                conn.batch(&sql).await.map_err(|source| Error::Database { context: "resolving interrupted revisions", source })?;
                Ok(Outcome { before: state.heads.clone(), after: state.heads, ..Outcome::default() })
            }
        }
    }

    fn history_row<'a>(&'a self, rev: &'a crate::Revision, direction: &'a str, status: &'a str, duration: Measured) -> HistoryRow<'a> {
        HistoryRow {
            id: new_ulid(),
            revision: rev.id,
            direction,
            status,
            checksum: rev.checksum,
            applied_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            duration,
            applied_by: &self.config.applied_by,
        }
    }

    async fn apply<C: Conn>(&self, conn: &mut C, state: &State, plan: Plan, warnings: Vec<String>) -> Result<Outcome, Error> {
        for step in &plan.steps {
            let rev = self.migrations.at(step.revision);
            if step.direction == Direction::Down && !rev.is_reversible() {
                return Err(Error::Irreversible { revision: rev.id.into(), file: rev.file_name.into() });
            }
            if self.config.transaction_mode == TransactionMode::Whole && !rev.transactional {
                return Err(Error::NonTransactionalInWholeMode { revision: rev.id.into() });
            }
        }
        let whole = self.config.transaction_mode == TransactionMode::Whole;
        if whole {
            conn.batch("BEGIN;").await.map_err(|source| Error::Database { context: "starting the transaction", source })?;
        }
        let mut applied = Vec::with_capacity(plan.steps.len());
        for step in &plan.steps {
            let started = Instant::now();
            let result = if self.migrations.at(step.revision).transactional {
                self.apply_transactional(conn, step.revision, step.direction, &step.version_ops, !whole).await
            } else {
                self.apply_outside_transaction(conn, step.revision, step.direction, &step.version_ops).await
            };
            if let Err(mut e) = result {
                if whole {
                    let _ = conn.batch("ROLLBACK;").await;
                    applied.clear();
                }
                if let Error::RevisionFailed { applied: a, .. } = &mut e {
                    *a = applied;
                }
                return Err(e);
            }
            applied.push(AppliedStep {
                revision: self.graph().id(step.revision).to_string(),
                direction: step.direction,
                duration: started.elapsed(),
            });
        }
        if whole {
            conn.batch("COMMIT;").await.map_err(|source| Error::Database { context: "committing the run", source })?;
        }
        Ok(Outcome { before: state.heads.clone(), after: plan.heads_after, applied, warnings, ..Outcome::default() })
    }

    fn section(&self, rev: RevIdx, direction: Direction) -> (&'static str, usize) {
        let r = self.migrations.at(rev);
        match direction {
            Direction::Up => (r.upgrade_sql(), r.upgrade.0),
            Direction::Down => (r.downgrade_sql().unwrap_or(""), r.downgrade.map_or(0, |d| d.0)),
        }
    }

    /// `file:line:col` of a byte offset in a revision's embedded text.
    fn location(&self, rev: RevIdx, byte: usize) -> String {
        let r = self.migrations.at(rev);
        let before = &r.source[..byte.min(r.source.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        format!("{}/{}:{line}:{col}", self.migrations.source_dir(), r.file_name)
    }

    async fn apply_transactional<C: Conn>(
        &self,
        conn: &mut C,
        rev: RevIdx,
        direction: Direction,
        ops: &[VersionOp],
        own_transaction: bool,
    ) -> Result<(), Error> {
        let r = self.migrations.at(rev);
        let (sql, section_start) = self.section(rev, direction);
        let dir = if direction == Direction::Up { "upgrade" } else { "downgrade" };
        let prefix = if own_transaction { "BEGIN;\n" } else { "SAVEPOINT kiln_revision;\n" };
        let mut script = String::with_capacity(sql.len() + 512);
        script.push_str(prefix);
        script.push_str(sql);
        script.push_str("\n;\n");
        script.push_str(&self.config.tables.version_ops_sql(ops));
        script.push_str(&self.config.tables.history_insert_sql(&self.history_row(r, dir, "done", Measured::SinceQueryStart)));
        script.push_str(if own_transaction { "COMMIT;" } else { "RELEASE SAVEPOINT kiln_revision;" });
        let Err(e) = conn.batch(&script).await else { return Ok(()) };
        if own_transaction {
            let _ = conn.batch("ROLLBACK;").await;
        } else {
            let _ = conn.batch("ROLLBACK TO SAVEPOINT kiln_revision;").await;
        }
        // Find the failing statement: from PostgreSQL's position when it gives
        // one, else by replaying the statements in a transaction that is
        // rolled back (a transactional revision has no lasting effect).
        let statements = split_statements(sql);
        let prefix_chars = prefix.chars().count();
        let by_position = e.position.and_then(|p| p.checked_sub(prefix_chars)).and_then(|p| {
            let byte = sql.char_indices().nth(p.saturating_sub(1)).map(|(b, _)| b)?;
            let stmt = statements.iter().find(|s| s.start <= byte && byte <= s.end)?.clone();
            Some((stmt, byte))
        });
        let found = match by_position {
            Some(x) => Some(x),
            None if own_transaction && !e.closed => self.replay_to_find(conn, sql, &statements).await.map(|s| (s.clone(), s.start)),
            None => None,
        };
        let (statement, location) = match found {
            Some((range, byte)) => (Some(sql[range].to_string()), Some(self.location(rev, section_start + byte))),
            None => (None, Some(format!("{}/{}", self.migrations.source_dir(), r.file_name))),
        };
        Err(Error::RevisionFailed { revision: r.id.into(), direction, location, statement, source: e, applied: Vec::new() })
    }

    async fn replay_to_find<'s, C: Conn>(&self, conn: &mut C, sql: &str, statements: &'s [std::ops::Range<usize>]) -> Option<&'s std::ops::Range<usize>> {
        conn.batch("BEGIN;").await.ok()?;
        let mut failed = None;
        for s in statements {
            if conn.batch(&sql[s.clone()]).await.is_err() {
                failed = Some(s);
                break;
            }
        }
        let _ = conn.batch("ROLLBACK;").await;
        failed
    }

    async fn apply_outside_transaction<C: Conn>(&self, conn: &mut C, rev: RevIdx, direction: Direction, ops: &[VersionOp]) -> Result<(), Error> {
        let r = self.migrations.at(rev);
        let (sql, section_start) = self.section(rev, direction);
        let dir = if direction == Direction::Up { "upgrade" } else { "downgrade" };
        let t = &self.config.tables;
        let started = Instant::now();
        // The "started" record commits first, so a crash mid-way is detected next time.
        let row = self.history_row(r, dir, "started", Measured::Unknown);
        let id = row.id.clone();
        conn.batch(&t.history_insert_sql(&row))
            .await
            .map_err(|source| Error::Database { context: "recording the start of a non-transactional revision", source })?;
        for s in split_statements(sql) {
            if let Err(e) = conn.batch(&sql[s.clone()]).await {
                // Nothing to roll back outside a transaction: the history row
                // is marked failed; earlier statements of this revision stay.
                let _ = conn
                    .batch(&format!("UPDATE {} SET status = 'failed' WHERE id = '{id}';", t.history()))
                    .await;
                return Err(Error::RevisionFailed {
                    revision: r.id.into(),
                    direction,
                    location: Some(self.location(rev, section_start + s.start)),
                    statement: Some(sql[s].to_string()),
                    source: e,
                    applied: Vec::new(),
                });
            }
        }
        let finish = format!("BEGIN;\n{}{}COMMIT;", t.version_ops_sql(ops), t.history_done_sql(&id, started.elapsed().as_millis()));
        conn.batch(&finish).await.map_err(|source| Error::Database { context: "recording a non-transactional revision", source })
    }

    async fn stamp<C: Conn>(&self, conn: &mut C, state: &State, target: &str, purge: bool) -> Result<Outcome, Error> {
        let before = state.heads.clone();
        let (after, stamp_sql) = self.stamp_sql(&before, target, purge)?;
        let t = &self.config.tables;
        let mut sql = format!("BEGIN;\n{stamp_sql}");
        // Record a checksum baseline for every revision now applied that has none.
        let no_history = HashMap::new();
        let recorded = state.history.as_ref().unwrap_or(&no_history);
        let now_applied: Vec<RevIdx> = self.applied_set(&after);
        for &r in &now_applied {
            let rev = self.migrations.at(r);
            if recorded.get(rev.id).is_none_or(|l| l.direction == "downgrade") {
                sql.push_str(&t.history_insert_sql(&self.history_row(rev, "stamp", "done", Measured::Unknown)));
            }
        }
        sql.push_str("COMMIT;");
        if let Err(source) = conn.batch(&sql).await {
            let _ = conn.batch("ROLLBACK;").await;
            return Err(Error::Database { context: "stamping the version table", source });
        }
        Ok(Outcome { before, after, ..Outcome::default() })
    }

    /// The version table's rows after `stamp <target>` from `current`, and the
    /// statements that get it there (online and in `--sql` alike).
    pub fn stamp_sql(&self, current: &[String], target: &str, purge: bool) -> Result<(Vec<String>, String), Error> {
        let current: &[String] = if purge { &[] } else { current };
        let after = stamp_rows(self.graph(), current, target)?;
        let t = &self.config.tables;
        let mut ops: Vec<VersionOp> = current.iter().filter(|h| !after.contains(h)).map(|h| VersionOp::Delete(h.clone())).collect();
        ops.extend(after.iter().filter(|h| !current.contains(h)).map(|h| VersionOp::Insert(h.clone())));
        let mut sql = if purge { format!("DELETE FROM {};\n", t.version()) } else { String::new() };
        sql.push_str(&t.version_ops_sql(&ops));
        Ok((after, sql))
    }

    /// The revisions applied when the version table holds `heads`.
    fn applied_set(&self, heads: &[String]) -> Vec<RevIdx> {
        let g = self.graph();
        let heads: Vec<RevIdx> = heads.iter().filter_map(|h| g.index_of(h)).collect();
        let applied = g.applied_with(&heads);
        (0..g.len()).filter(|&r| applied[r]).collect()
    }

    async fn accept_checksums<C: Conn>(&self, conn: &mut C, state: &State, revisions: &[String]) -> Result<Outcome, Error> {
        let t = &self.config.tables;
        let no_history = HashMap::new();
        let history = state.history.as_ref().unwrap_or(&no_history);
        let mut chosen = Vec::new();
        if revisions.is_empty() {
            for rev in self.migrations.revisions() {
                if history.get(rev.id).is_some_and(|l| l.direction != "downgrade" && l.checksum != rev.checksum) {
                    chosen.push(rev);
                }
            }
        } else {
            for ident in revisions {
                let found = self.graph().resolve(ident)?;
                chosen.extend(found.into_iter().map(|r| self.migrations.at(r)));
            }
        }
        let mut sql = String::from("BEGIN;\n");
        for rev in &chosen {
            sql.push_str(&t.history_insert_sql(&self.history_row(rev, "accept", "done", Measured::Unknown)));
        }
        sql.push_str("COMMIT;");
        conn.batch(&sql).await.map_err(|source| Error::Database { context: "accepting checksums", source })?;
        Ok(Outcome {
            before: state.heads.clone(),
            after: state.heads.clone(),
            warnings: chosen.iter().map(|r| format!("accepted the current checksum of `{}`", r.id)).collect(),
            ..Outcome::default()
        })
    }
}

/// The version table's rows after `stamp <target>`: rows on the lineage of a
/// target are replaced by the target; other branches' rows stay (Alembic's
/// `_stamp_revs`). `target` may list several revisions separated by commas.
pub fn stamp_rows(graph: &Graph, current: &[String], target: &str) -> Result<Vec<String>, PlanError> {
    let mut targets: Vec<RevIdx> = Vec::new();
    // Revisions whose lineage loses its rows: the targets, and for
    // `<label>@base` the label's revision; `base` clears every row.
    let mut cleared: Vec<RevIdx> = Vec::new();
    let mut clear_all = false;
    for part in target.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part == "base" {
            clear_all = true;
        } else if let Some(label) = part.strip_suffix("@base") {
            cleared.extend(graph.resolve(label)?);
        } else {
            targets.extend(graph.resolve(part)?);
        }
    }
    cleared.extend(targets.iter().copied());
    let related = |a: RevIdx, b: RevIdx| a == b || graph.is_ancestor(a, b) || graph.is_ancestor(b, a);
    let mut rows: Vec<String> = current
        .iter()
        .filter(|h| !clear_all && graph.index_of(h).is_none_or(|r| !cleared.iter().any(|&t| related(r, t))))
        .cloned()
        .collect();
    // Only the tips of the targets become rows.
    for &t in &targets {
        if !targets.iter().any(|&o| graph.is_ancestor(t, o)) {
            rows.push(graph.id(t).to_string());
        }
    }
    rows.sort();
    rows.dedup();
    Ok(rows)
}
