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

use tracing::Instrument as _;

use kiln_core::embedded::{Statement, StatementKind};
use kiln_core::{Direction, Graph, Plan, PlanError, RevIdx, VersionOp};

use crate::conn::{Conn, DbError};
use crate::tables::{new_ulid, quote_literal, HistoryRow, Measured, Status, Tables};
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

/// A callback for what a run reports while it works ([`Progress`]).
pub type ProgressFn = std::sync::Arc<dyn Fn(&Progress<'_>) + Send + Sync>;

/// What a run reports while it works, as it happens (`Config::on_progress`).
/// Its `Display` is the line the CLI prints.
///
/// ```
/// use std::time::Duration;
/// let done = kiln::Progress::Done {
///     index: 3,
///     total: 39,
///     revision: "3c4d5e6f7a8b",
///     direction: kiln::Direction::Up,
///     duration: Duration::from_millis(12),
///     message: "Create teams table",
/// };
/// assert_eq!(done.to_string(), "[3/39] upgrade 3c4d5e6f7a8b (12 ms) Create teams table");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Progress<'a> {
    /// The advisory lock is held by another session, described by `holder`
    /// (pid, application, what it runs); said once, after 2 s of waiting.
    LockWait {
        /// The session holding the lock.
        holder: &'a str,
    },
    /// A revision starts: the `index`-th (1-based) of the `total` steps of this run.
    Started {
        /// Position in this run, from 1.
        index: usize,
        /// Steps in this run.
        total: usize,
        /// The revision id.
        revision: &'a str,
        /// Upgrade or downgrade.
        direction: Direction,
        /// The revision's message.
        message: &'a str,
    },
    /// A statement of a non-transactional revision starts.
    Statement {
        /// The revision id.
        revision: &'a str,
        /// Position in the revision's section, from 1.
        index: usize,
        /// Statements in the section.
        total: usize,
        /// The statement's text.
        sql: &'a str,
    },
    /// A revision committed (with `--single-transaction`: ran; it commits with the run).
    Done {
        /// Position in this run, from 1.
        index: usize,
        /// Steps in this run.
        total: usize,
        /// The revision id.
        revision: &'a str,
        /// Upgrade or downgrade.
        direction: Direction,
        /// How long it took.
        duration: Duration,
        /// The revision's message.
        message: &'a str,
    },
}

impl fmt::Display for Progress<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Progress::LockWait { holder } => write!(f, "waiting for the migration lock, held by {holder}"),
            Progress::Started { index, total, revision, direction, message } => {
                write!(f, "[{index}/{total}] {} {revision} ... {message}", direction.as_str())
            }
            Progress::Statement { revision, index, total, sql } => {
                write!(f, "  {revision}: statement {index} of {total}: {}", short(sql))
            }
            Progress::Done { index, total, revision, direction, duration, message } => {
                write!(f, "[{index}/{total}] {} {revision} ({} ms) {message}", direction.as_str(), duration.as_millis())
            }
        }
    }
}

/// Settings of a [`Migrator`]: `Config::default()` and the `with_*`
/// builders (the struct is `#[non_exhaustive]`, so a new setting is never a
/// breaking change).
///
/// ```
/// use std::time::Duration;
/// let config = kiln::Config::default()
///     .with_lock_wait(Duration::from_secs(60))
///     .with_statement_timeout(Some(Duration::from_secs(600)))
///     .with_allow_unknown_revisions(true);
/// assert_eq!(config.lock_wait, Duration::from_secs(60));
/// let migrator = kiln::Migrator::with_config(kiln::Migrations::__new(&[], &[], "migrations", ""), config);
/// # let _ = migrator;
/// ```
#[derive(Clone)]
#[non_exhaustive]
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
    /// How long to wait for the server to answer one of kiln's own queries
    /// (probing, taking the lock, reading and writing the bookkeeping) before
    /// failing instead of hanging on a server or proxy that went silent.
    /// Migration statements are not bounded by it: their duration is
    /// `statement_timeout`'s business. Honoured by the asynchronous driver
    /// (its runtime needs timers enabled) and so by the CLI, which sets 60 s;
    /// the synchronous driver cannot interrupt a blocking read and ignores it.
    pub reply_timeout: Option<Duration>,
    /// Checksum drift: error (default) or warn.
    pub drift: DriftPolicy,
    /// Accept a database at a revision this binary does not know (a newer
    /// release migrated it), doing nothing, instead of failing. For
    /// application rollbacks.
    pub allow_unknown_revisions: bool,
    /// Recorded in the history table as the binary that applied a step.
    pub applied_by: String,
    /// Called with each [`Progress`] event as it happens (a revision starts
    /// or commits, a statement starts, the lock is held by another session).
    /// The CLI prints them as its live output.
    pub on_progress: Option<ProgressFn>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("tables", &self.tables)
            .field("transaction_mode", &self.transaction_mode)
            .field("lock_wait", &self.lock_wait)
            .field("lock_timeout", &self.lock_timeout)
            .field("statement_timeout", &self.statement_timeout)
            .field("reply_timeout", &self.reply_timeout)
            .field("drift", &self.drift)
            .field("allow_unknown_revisions", &self.allow_unknown_revisions)
            .field("applied_by", &self.applied_by)
            .field("on_progress", &self.on_progress.as_ref().map(|_| "Fn"))
            .finish()
    }
}

impl Config {
    /// Where the version and history tables live.
    pub fn with_tables(mut self, tables: Tables) -> Self {
        self.tables = tables;
        self
    }

    /// Per-revision transactions (default) or one for the whole run.
    pub fn with_transaction_mode(mut self, mode: TransactionMode) -> Self {
        self.transaction_mode = mode;
        self
    }

    /// How long to wait for another runner's advisory lock (default 300 s).
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    /// `lock_timeout` for migration statements.
    pub fn with_lock_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// `statement_timeout` for migration statements.
    pub fn with_statement_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.statement_timeout = timeout;
        self
    }

    /// The bound on each of kiln's own queries (see [`Config::reply_timeout`]).
    pub fn with_reply_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.reply_timeout = timeout;
        self
    }

    /// What an edited applied revision does: fail (default) or warn.
    pub fn with_drift(mut self, drift: DriftPolicy) -> Self {
        self.drift = drift;
        self
    }

    /// Accept a database at a revision this binary does not know (rollbacks).
    pub fn with_allow_unknown_revisions(mut self, allow: bool) -> Self {
        self.allow_unknown_revisions = allow;
        self
    }

    /// What the history records as the applying binary.
    pub fn with_applied_by(mut self, applied_by: impl Into<String>) -> Self {
        self.applied_by = applied_by.into();
        self
    }

    /// Called with each [`Progress`] event as it happens.
    pub fn with_on_progress(mut self, f: impl Fn(&Progress<'_>) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(std::sync::Arc::new(f));
        self
    }
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
            reply_timeout: None,
            drift: DriftPolicy::default(),
            allow_unknown_revisions: false,
            applied_by: format!("{exe} (kiln {})", env!("CARGO_PKG_VERSION")),
            on_progress: None,
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
    /// Downgrade exactly this revision, a current head that nothing applied
    /// needs: its parents become current and nothing else moves
    /// ([`Graph::plan_downgrade_one`]). Alembic has no such target; the
    /// round trips of `kiln::testing` step with it.
    DowngradeOne(String),
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
    /// Decide what happens to an interrupted non-transactional revision
    /// (every interrupted one when `revision` is `None`).
    ResolveInterrupted {
        /// The revision, or `None` for all interrupted ones.
        revision: Option<String>,
        /// What to do.
        action: Resolution,
    },
}

impl Command {
    /// The command's name on the command line (`upgrade`, `stamp`, ...).
    ///
    /// ```
    /// assert_eq!(kiln::Command::Upgrade("head".into()).name(), "upgrade");
    /// ```
    pub fn name(&self) -> &'static str {
        match self {
            Command::Upgrade(_) => "upgrade",
            Command::Downgrade(_) | Command::DowngradeOne(_) => "downgrade",
            Command::Stamp { .. } => "stamp",
            Command::AcceptChecksums(_) => "accept-checksum",
            Command::ResolveInterrupted { .. } => "resolve-interrupted",
        }
    }
}

/// What `resolve-interrupted` does with a non-transactional revision whose
/// run stopped part-way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The next upgrade runs the statement it stopped at again.
    Retry,
    /// The statement it stopped at counts as done (the operator ran or
    /// checked it); the next upgrade goes on with the one after it.
    Skip,
    /// The run is given up: its history row is marked `abandoned`, and the
    /// next upgrade runs the revision from its first statement. Statements
    /// that already took effect stay: undo them first.
    Abandon,
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

/// A readiness probe's answer ([`Migrator::readiness_on`], and its sync and async forms).
///
/// ```
/// let ready = kiln::Readiness::default();
/// assert!(!ready.at_head && ready.current.is_empty() && ready.pending == 0);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Readiness {
    /// The database is at the graph's heads (or, with `allow_unknown`, at
    /// revisions of a newer release).
    pub at_head: bool,
    /// The version table's rows.
    pub current: Vec<String>,
    /// How many revisions `upgrade heads` would apply.
    pub pending: usize,
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
    /// What a command changed besides applying revisions (a resolved
    /// interruption, a resumed revision), one line each.
    pub changes: Vec<String>,
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
    /// A non-transactional revision stopped part-way, and kiln cannot go on
    /// by itself: the statement in flight may or may not have taken effect,
    /// or the command at hand (a downgrade, another target) would pass it.
    Interrupted {
        /// The revision.
        revision: String,
        /// Its file.
        file: String,
        /// When its run started.
        started_at: String,
        /// Why kiln stops, in a sentence.
        reason: String,
        /// The statement it stopped at: 1-based index, count, `file:line:col`, text.
        statement: Option<(usize, usize, String, String)>,
    },
    /// A transactional revision ended the transaction kiln ran it in (a
    /// `COMMIT`, `ROLLBACK` or `END` that the linter could not see, say in
    /// a `--dir` set built without it): nothing was recorded.
    TransactionEnded {
        /// The revision.
        revision: String,
        /// Up or down.
        direction: Direction,
        /// Its file.
        file: String,
    },
    /// A transactional revision holds a statement that ends or opens a
    /// transaction; nothing ran.
    TransactionControl {
        /// The revision.
        revision: String,
        /// `file:line:column` of the statement.
        location: String,
        /// The statement.
        statement: String,
    },
    /// A statement of a non-transactional revision failed. The statements
    /// before it took effect and stay; the next upgrade resumes at this one.
    StatementFailed {
        /// The revision.
        revision: String,
        /// Up or down.
        direction: Direction,
        /// 1-based index of the failing statement, and the count.
        index: usize,
        /// Number of statements in the section.
        total: usize,
        /// `file:line:column` of the statement.
        location: String,
        /// The statement.
        statement: String,
        /// PostgreSQL's error.
        source: DbError,
        /// Steps that completed before this revision (committed).
        applied: Vec<AppliedStep>,
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
        /// The session holding it, when it could be read.
        holder: Option<String>,
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
    /// A setting is unusable (a table name PostgreSQL would truncate, an
    /// empty one); nothing was sent.
    Config(String),
    /// Any other database error, with what kiln was doing.
    Database {
        /// What kiln was doing.
        context: &'static str,
        /// The error.
        source: DbError,
    },
}

impl Error {
    /// A stable name for the kind of error (`--format json` prints it as
    /// `code`): `plan`, `unknown-revisions`, `drift`, `interrupted`,
    /// `transaction-ended`, `transaction-control`, `statement-failed`,
    /// `irreversible`, `non-transactional-in-whole-mode`, `lock-timeout`,
    /// `revision-failed`, `config`, `database`.
    ///
    /// ```
    /// let e = kiln::Error::Config("empty table name".into());
    /// assert_eq!(e.code(), "config");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Error::Plan(_) => "plan",
            Error::UnknownRevisions { .. } => "unknown-revisions",
            Error::Drift(_) => "drift",
            Error::Interrupted { .. } => "interrupted",
            Error::TransactionEnded { .. } => "transaction-ended",
            Error::TransactionControl { .. } => "transaction-control",
            Error::StatementFailed { .. } => "statement-failed",
            Error::Irreversible { .. } => "irreversible",
            Error::NonTransactionalInWholeMode { .. } => "non-transactional-in-whole-mode",
            Error::LockTimeout { .. } => "lock-timeout",
            Error::RevisionFailed { .. } => "revision-failed",
            Error::Config(_) => "config",
            Error::Database { .. } => "database",
        }
    }

    /// True when the database's state needs a person's decision before
    /// anything runs (the CLI's exit code 4): a revision this binary does
    /// not know, an applied revision edited since, a non-transactional
    /// revision stopped part-way that kiln cannot settle, a revision that
    /// ends or opens transactions itself. Retrying does not help.
    ///
    /// ```
    /// let e = kiln::Error::UnknownRevisions { revisions: vec!["ffff00000009".into()] };
    /// assert!(e.needs_person());
    /// ```
    pub fn needs_person(&self) -> bool {
        matches!(
            self,
            Error::UnknownRevisions { .. }
                | Error::Drift(_)
                | Error::Interrupted { .. }
                | Error::TransactionEnded { .. }
                | Error::TransactionControl { .. }
        )
    }
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
            Error::Interrupted { revision, file, started_at, reason, statement } => {
                write!(f, "non-transactional revision `{revision}` ({file}), started at {started_at}, stopped part-way: {reason}")?;
                if let Some((i, n, at, text)) = statement {
                    write!(f, "\n  statement {i} of {n} at {at}: {}", short(text))?;
                }
                let next = statement.as_ref().map_or(String::new(), |(i, ..)| format!(" {}", i + 1));
                write!(
                    f,
                    "\n  check the database, then run one of:\
                     \n    kiln resolve-interrupted {revision} --retry     run that statement again on the next upgrade\
                     \n    kiln resolve-interrupted {revision} --skip      count it as done; the next upgrade goes on with statement{next}\
                     \n    kiln resolve-interrupted {revision} --abandon   give this run up; the next upgrade starts the revision from its first statement (undo what took effect first)"
                )
            }
            Error::TransactionEnded { revision, direction, file } => write!(
                f,
                "{} of revision `{revision}` ({file}) ended the transaction kiln runs it in (a COMMIT, ROLLBACK or END in its SQL), so kiln recorded nothing: \
                 what ran before that statement may have been committed and will run again on the next attempt; \
                 remove the statement, or give the revision `-- Transactional: false` to run it statement by statement",
                direction.as_str()
            ),
            Error::TransactionControl { revision, location, statement } => write!(
                f,
                "revision `{revision}` runs in one transaction, but `{}` at {location} would end it and commit or lose part of the revision behind kiln's back; nothing ran. \
                 Remove the statement, or give the revision `-- Transactional: false`",
                short(statement)
            ),
            Error::StatementFailed { revision, direction, index, total, location, statement, source, applied } => {
                write!(
                    f,
                    "{} of non-transactional revision `{revision}` stopped at statement {index} of {total} ({location}): {source}\n  statement: {}",
                    direction.as_str(),
                    short(statement)
                )?;
                write!(f, "\n  statements before it took effect and stay (it runs outside a transaction); fix the cause, and the next upgrade resumes at this statement")?;
                if !applied.is_empty() {
                    write!(f, "\n  {} earlier step(s) of this run were committed", applied.len())?;
                }
                Ok(())
            }
            Error::Irreversible { revision, file } => write!(
                f,
                "revision `{revision}` ({file}) is irreversible: the downgrade would pass through it; choose a target above it"
            ),
            Error::NonTransactionalInWholeMode { revision } => write!(
                f,
                "revision `{revision}` must run outside a transaction, so it cannot be part of a single-transaction run; \
                 use per-revision transactions"
            ),
            Error::LockTimeout { waited, key, holder } => match holder {
                Some(h) => write!(
                    f,
                    "another migration held the advisory lock {key} for {:.0} s: {h}; wait for it, or if it is stuck stop it with `SELECT pg_terminate_backend(<pid>)`",
                    waited.as_secs_f64()
                ),
                None => write!(
                    f,
                    "another migration held the advisory lock {key} for {:.0} s; if no migration is running, \
                     find the holder with `SELECT pid FROM pg_locks WHERE locktype = 'advisory'`",
                    waited.as_secs_f64()
                ),
            },
            Error::RevisionFailed { revision, direction, location, statement, source, applied } => {
                write!(f, "{} of revision `{revision}` failed and was rolled back", direction.as_str())?;
                if let Some(l) = location {
                    write!(f, " at {l}")?;
                }
                write!(f, ": {source}")?;
                if let Some(s) = statement {
                    write!(f, "\n  statement: {}", short(s))?;
                }
                if !applied.is_empty() {
                    write!(f, "\n  {} earlier step(s) of this run were committed", applied.len())?;
                }
                Ok(())
            }
            Error::Database { context, source } => write!(f, "{context}: {source}"),
            Error::Config(message) => write!(f, "{message}"),
        }
    }
}

/// The first column of each row.
fn first_column(rows: crate::conn::Rows) -> Vec<String> {
    rows.into_iter().filter_map(|r| r.into_iter().next().flatten()).collect()
}

/// `map_err(db("what kiln was doing"))`: a database error with its context.
pub(crate) fn db(context: &'static str) -> impl FnOnce(DbError) -> Error {
    move |source| Error::Database { context, source }
}

/// A statement as shown in a message: trimmed, at most 200 characters.
fn short(s: &str) -> String {
    let s = s.trim();
    let cut: String = s.chars().take(200).collect();
    if cut.len() < s.len() {
        format!("{cut} ...")
    } else {
        cut
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

/// The first column of the first row of the first result, if any.
fn first_value(sets: &[crate::conn::Rows]) -> Option<String> {
    sets.first()?.first()?.first().cloned().flatten()
}

/// How [`Migrator::acquire_lock`] ended.
enum Lock {
    /// This session holds the advisory lock.
    Held,
    /// Another runner brought the database to the target while this one
    /// waited (the version rows it found): no lock is needed.
    NotNeeded(Vec<String>),
}

/// What [`Migrator::settle`] found about the statement a part-way run stopped at.
enum Settled {
    /// Run it (it did not take effect, or running it again is harmless).
    Run,
    /// Run it, after what is said was done to make that safe.
    RunAfter(String),
    /// It took effect, as said: go on after it.
    Done(String),
}

/// The latest history row of a revision.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Latest {
    direction: String,
    status: Status,
    checksum: String,
    /// The executable checksum, when the row has one.
    checksum_v2: Option<String>,
    applied_at: String,
    /// The row's id.
    id: String,
    /// For a non-transactional revision: how many statements took effect.
    statements_done: Option<usize>,
}

impl Latest {
    /// The revision still runs what this row recorded: judged on the
    /// executable checksum when the row and the build both have one (so an
    /// edited comment is not drift), else on the file's checksum.
    fn same_as(&self, rev: &crate::Revision) -> bool {
        match (&self.checksum_v2, rev.checksum_v2) {
            (Some(stored), Some(now)) => stored == now,
            _ => self.checksum == rev.checksum,
        }
    }
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
        let sql = self.quick_sql(target)?;
        let sets = conn.query_within(&sql, self.config.reply_timeout).await.ok()?;
        self.quick_answer(&sets)
    }

    /// The idle fast path's query, when `target` is one it can answer.
    fn quick_sql(&self, target: &str) -> Option<String> {
        let heads = self.real_heads();
        // Both tables come back as XML (NULL when a table does not exist),
        // so a fresh database answers without an error in the server's log.
        (target == "heads" || (target == "head" && heads.len() == 1)).then(|| self.config.tables.select_quick_sql())
    }

    /// Reads [`Migrator::quick_sql`]'s result: the version rows when the
    /// database is at the heads with this set's fingerprint and no run in progress.
    fn quick_answer(&self, sets: &[crate::conn::Rows]) -> Option<Vec<String>> {
        let [Some(versions), Some(state)] = sets.first()?.first()?.as_slice() else { return None };
        let mut rows = crate::tables::xml_values(versions, "version_num")?;
        rows.sort_unstable();
        let fingerprint = crate::tables::xml_values(state, "fingerprint")?.into_iter().next()?;
        let in_progress = crate::tables::xml_values(state, "in_progress")?.into_iter().next();
        (rows == self.real_heads() && fingerprint == self.migrations.fingerprint() && in_progress.is_none()).then_some(rows)
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
        Ok(self.readiness_on(conn).await?.at_head)
    }

    /// What a readiness probe reports, from one read of the database: at
    /// head or not, the version rows, and how many revisions `upgrade
    /// heads` would apply. An unknown revision is an error unless
    /// [`Config::with_allow_unknown_revisions`] accepts it (a rollback of the code:
    /// ready, nothing to do); so is an edited applied revision or an
    /// interrupted run.
    pub async fn readiness_on<C: Conn>(&self, conn: &mut C) -> Result<Readiness, Error> {
        if let Some(current) = self.quick_at_head(conn, "heads").await {
            return Ok(Readiness { at_head: true, current, pending: 0 });
        }
        let state = self.read_state(conn).await?;
        if !self.unknown(&state.heads).is_empty() && self.config.allow_unknown_revisions {
            // A newer release migrated the database and this one accepts it
            // (a rollback): ready, with nothing to do.
            return Ok(Readiness { at_head: true, current: state.heads, pending: 0 });
        }
        self.check_known(&state.heads)?;
        self.check_history(&state)?;
        let pending = self.graph().plan_upgrade(&state.heads, "heads")?.steps.len();
        Ok(Readiness { at_head: pending == 0, current: state.heads, pending })
    }

    /// Runs a command, in a `kiln.run` tracing span.
    pub async fn execute<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        let span = tracing::info_span!("kiln.run", command = command.name(), tables = %self.config.tables.version());
        self.execute_inner(conn, command).instrument(span).await
    }

    async fn execute_inner<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        self.config.tables.validate().map_err(Error::Config)?;
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
        let target = match command {
            Command::Upgrade(t) => Some(t.as_str()),
            _ => None,
        };
        let span = tracing::info_span!("kiln.lock", key = self.config.tables.lock_key());
        let waiting = Instant::now();
        let lock = self.acquire_lock(conn, target).instrument(span.clone()).await?;
        span.in_scope(|| tracing::debug!(waited_ms = waiting.elapsed().as_millis() as u64, needed = matches!(lock, Lock::Held), "lock"));
        if let Lock::NotNeeded(rows) = lock {
            // Another runner brought the database to the target meanwhile.
            return Ok(Outcome { before: rows.clone(), after: rows, ..Outcome::default() });
        }
        let result = self.execute_locked(conn, command).await;
        let key = self.config.tables.lock_key();
        let unlock = conn.batch_within(&format!("SELECT pg_advisory_unlock({key});"), self.config.reply_timeout).await;
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

    /// Recomputes the state row from the history table (under the lock),
    /// first filling in the executable checksum of rows written before it
    /// existed whose file is unchanged.
    async fn write_state<C: Conn>(&self, conn: &mut C) -> Result<(), Error> {
        let state = self.read_existing(conn).await?;
        let history = state.history.unwrap_or_default();
        let t = &self.config.tables;
        let mut backfill = String::new();
        let applied = || history.iter().filter(|(_, l)| l.status == Status::Done && l.direction != "downgrade");
        let mut effective: Vec<(&str, String)> = Vec::new();
        for (id, l) in applied() {
            let rev = self.migrations.get(id);
            let checksum = match (rev.and_then(|r| r.checksum_v2), &l.checksum_v2) {
                (Some(_), Some(stored)) => stored.clone(),
                (Some(now), None) if rev.is_some_and(|r| r.checksum == l.checksum) => {
                    backfill.push_str(&t.history_checksum_v2_sql(&l.id, now));
                    now.to_string()
                }
                _ => l.checksum.clone(),
            };
            effective.push((id.as_str(), checksum));
        }
        if !backfill.is_empty() {
            conn.batch_within(&backfill, self.config.reply_timeout).await.map_err(db("recording executable checksums"))?;
        }
        let fingerprint = kiln_core::checksum::fingerprint(effective.iter().map(|(id, c)| (*id, c.as_str())));
        let in_progress = history.iter().find(|(_, l)| l.status.in_progress()).map(|(id, _)| id.as_str());
        conn.batch_within(&self.config.tables.state_upsert_sql(&fingerprint, in_progress), self.config.reply_timeout)
            .await
            .map_err(db("writing kiln's state row"))
    }

    /// Creates kiln's tables when one of them (or a column a later version
    /// added) is missing; otherwise sends no DDL, so takes no table lock.
    async fn ensure_tables<C: Conn>(&self, conn: &mut C) -> Result<(), Error> {
        let t = &self.config.tables;
        let complete = conn.query_within(&t.complete_sql(), self.config.reply_timeout).await.map_err(db("looking for kiln's tables"))?;
        if first_value(&complete).as_deref() != Some("true") {
            conn.batch_within(&t.create_sql(), self.config.reply_timeout).await.map_err(db("creating kiln's tables"))?;
        }
        Ok(())
    }

    /// Refreshes the state row when the advisory lock is free right now; never waits.
    async fn refresh_state_if_free<C: Conn>(&self, conn: &mut C) {
        let key = self.config.tables.lock_key();
        let got = conn.query_within(&format!("SELECT pg_try_advisory_lock({key});"), self.config.reply_timeout).await;
        if got.ok().and_then(|sets| first_value(&sets)).as_deref() == Some("t") {
            if self.ensure_tables(conn).await.is_ok() {
                let _ = self.write_state(conn).await;
            }
            let _ = conn.batch_within(&format!("SELECT pg_advisory_unlock({key});"), self.config.reply_timeout).await;
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

    pub(crate) fn check_known(&self, heads: &[String]) -> Result<(), Error> {
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
            // A revision part-way through is resumed (or refused) by `apply`.
            if latest.status.in_progress() {
                continue;
            }
            if latest.direction != "downgrade" && !latest.same_as(rev) {
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

    /// The version rows and the latest history rows, after asking the
    /// catalog which of the two tables exist (`to_regclass`), so that a
    /// fresh database is read without an error in the server's log.
    async fn read_state<C: Conn>(&self, conn: &mut C) -> Result<State, Error> {
        let t = &self.config.tables;
        let sets = conn.query_within(&t.select_existing_sql(), self.config.reply_timeout).await.map_err(db("looking for kiln's tables"))?;
        let exists = |i: usize| sets.first().and_then(|s| s.first()).and_then(|r| r.get(i)).cloned().flatten().as_deref() == Some("t");
        match (exists(0), exists(1)) {
            (_, true) => self.read_existing(conn).await,
            // Alembic's table without kiln's: a database Alembic managed.
            (true, false) => {
                let sets = conn
                    .query_within(&t.select_versions_sql(), self.config.reply_timeout)
                    .await
                    .map_err(db("reading the version table"))?;
                Ok(State { heads: first_column(sets.into_iter().next().unwrap_or_default()), history: None })
            }
            (false, false) => Ok(State::default()),
        }
    }

    /// One round trip: the version rows and the latest history rows, from
    /// tables known to exist (under the lock, after creating them).
    async fn read_existing<C: Conn>(&self, conn: &mut C) -> Result<State, Error> {
        let t = &self.config.tables;
        let both = format!("{}\n{}", t.select_versions_sql(), t.select_latest_history_sql());
        let mut sets = conn.query_within(&both, self.config.reply_timeout).await.map_err(db("reading the version table"))?;
        if sets.len() != 2 {
            return Err(db("reading the version table")(DbError::other("unexpected reply to the state query")));
        }
        let history = sets.pop().unwrap_or_default();
        let versions = sets.pop().unwrap_or_default();
        let mut map = HashMap::with_capacity(history.len());
        for row in history {
            if let [Some(rev), Some(direction), Some(status), Some(checksum), Some(at), Some(id), done, v2] = row.as_slice() {
                // A status this kiln does not know was written by a newer one: treat it as in progress.
                let status = Status::parse(status).unwrap_or(Status::Started);
                let statements_done = done.as_deref().and_then(|d| d.parse().ok());
                map.insert(
                    rev.clone(),
                    Latest {
                        direction: direction.clone(),
                        status,
                        checksum: checksum.clone(),
                        checksum_v2: v2.clone(),
                        applied_at: at.clone(),
                        id: id.clone(),
                        statements_done,
                    },
                );
            }
        }
        Ok(State { heads: first_column(versions), history: Some(map) })
    }

    /// Takes the advisory lock, polling (never blocking inside PostgreSQL,
    /// where a waiting session would hold a snapshot that a `CREATE INDEX
    /// CONCURRENTLY` in the holder waits for, a deadlock). While another
    /// runner holds it, a waiter polls with `pg_try_advisory_lock_shared`
    /// (taken and released in one statement), which costs the server next to
    /// nothing and succeeds for every waiter at once when the holder lets go;
    /// then the waiter reads the idle fast path, and when the holder has
    /// brought the database to the target it returns [`Lock::NotNeeded`]
    /// without ever taking the lock, so a crowd of starting replicas
    /// finishes with the holder. The poll interval grows to 100 ms at most.
    async fn acquire_lock<C: Conn>(&self, conn: &mut C, target: Option<&str>) -> Result<Lock, Error> {
        let key = self.config.tables.lock_key();
        let bound = self.config.reply_timeout;
        let start = Instant::now();
        let mut delay = Duration::from_millis(5);
        // Jitter from the process id, so runners started together spread out.
        let jitter = u64::from(std::process::id() % 7);
        let mut told = false;
        let quick = target.and_then(|t| self.quick_sql(t));
        loop {
            let sets =
                conn.query_within(&format!("SELECT pg_try_advisory_lock({key});"), bound).await.map_err(db("taking the advisory lock"))?;
            if first_value(&sets).as_deref() == Some("t") {
                return Ok(Lock::Held);
            }
            // Wait until nobody holds it exclusively.
            loop {
                if start.elapsed() >= self.config.lock_wait {
                    let holder = self.lock_holder(conn).await;
                    return Err(Error::LockTimeout { waited: start.elapsed(), key, holder });
                }
                if !told && start.elapsed() >= Duration::from_secs(2) {
                    told = true;
                    if let Some(h) = self.lock_holder(conn).await {
                        tracing::info!(holder = %h, "waiting for the migration lock");
                        self.progress(&Progress::LockWait { holder: &h });
                    }
                }
                conn.sleep(delay + Duration::from_millis(jitter)).await;
                delay = (delay * 2).min(Duration::from_millis(100));
                let Some(quick) = &quick else { break };
                // Taken and let go in one statement: nothing is left held,
                // whatever happens next.
                let free =
                    format!("SELECT CASE WHEN pg_try_advisory_lock_shared({key}) THEN pg_advisory_unlock_shared({key}) ELSE false END;");
                let sets = conn.query_within(&free, bound).await.map_err(db("taking the advisory lock"))?;
                if first_value(&sets).as_deref() != Some("t") {
                    continue;
                }
                let sets = conn.query_within(quick, bound).await.map_err(db("taking the advisory lock"))?;
                if let Some(rows) = self.quick_answer(&sets) {
                    return Ok(Lock::NotNeeded(rows));
                }
                break;
            }
        }
    }

    /// Who holds the advisory lock: pid, application and what it runs.
    async fn lock_holder<C: Conn>(&self, conn: &mut C) -> Option<String> {
        let key = self.config.tables.lock_key() as u64;
        let (hi, lo) = (key >> 32, key & 0xffff_ffff);
        let sql = format!(
            "SELECT a.pid::text, coalesce(a.application_name, ''), coalesce(a.state, ''), coalesce(left(a.query, 120), ''), \
             coalesce(extract(epoch FROM now() - a.backend_start)::bigint::text, '') FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid \
             WHERE l.locktype = 'advisory' AND l.granted AND l.classid = {hi} AND l.objid = {lo} AND l.objsubid = 1 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database());"
        );
        let rows = conn.query_within(&sql, self.config.reply_timeout).await.ok()?;
        let row = rows.into_iter().flatten().next()?;
        let f = |i: usize| row.get(i).cloned().flatten().unwrap_or_default();
        Some(format!("server process {} (application `{}`, {} s old, {}: `{}`)", f(0), f(1), f(4), f(2), f(3)))
    }

    /// Reports progress through the configured callback, if any.
    fn progress(&self, event: &Progress<'_>) {
        if let Some(cb) = &self.config.on_progress {
            cb(event);
        }
    }

    async fn execute_locked<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        self.ensure_tables(conn).await?;
        let mut session = String::new();
        if let Some(d) = self.config.lock_timeout {
            session.push_str(&format!("SET lock_timeout = {};", d.as_millis()));
        }
        if let Some(d) = self.config.statement_timeout {
            session.push_str(&format!("SET statement_timeout = {};", d.as_millis()));
        }
        if !session.is_empty() {
            conn.batch_within(&session, self.config.reply_timeout).await.map_err(db("setting timeouts"))?;
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
            let _ = conn.batch_within("RESET lock_timeout; RESET statement_timeout;", self.config.reply_timeout).await;
        }
        result
    }

    async fn run_command<C: Conn>(&self, conn: &mut C, command: &Command) -> Result<Outcome, Error> {
        // Re-read under the lock: another runner may have finished meanwhile.
        let state = self.read_existing(conn).await?;
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
            Command::DowngradeOne(revision) => {
                self.check_known(&state.heads)?;
                let warnings = self.check_history(&state)?;
                let plan = self.graph().plan_downgrade_one(&state.heads, revision)?;
                self.apply(conn, &state, plan, warnings).await
            }
            Command::Stamp { target, purge } => self.stamp_locked(conn, &state, target, *purge).await,
            Command::AcceptChecksums(revisions) => self.accept_checksums(conn, &state, revisions).await,
            Command::ResolveInterrupted { revision, action } => self.resolve(conn, &state, revision.as_deref(), *action).await,
        }
    }

    fn history_row<'a>(&'a self, rev: &'a crate::Revision, direction: &'a str, status: Status, duration: Measured) -> HistoryRow<'a> {
        HistoryRow {
            id: new_ulid(),
            revision: rev.id,
            direction,
            status,
            checksum: rev.checksum,
            checksum_v2: rev.checksum_v2,
            applied_at: Some(chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)),
            duration,
            applied_by: &self.config.applied_by,
        }
    }

    /// The part-way run of a revision, if its latest history row says so.
    fn in_progress<'s>(&self, state: &'s State, rev: &str) -> Option<&'s Latest> {
        state.history.as_ref()?.get(rev).filter(|l| l.status.in_progress())
    }

    /// [`Error::Interrupted`] for a revision's part-way run.
    fn interrupted(&self, rev: RevIdx, latest: &Latest, reason: String) -> Error {
        let r = self.migrations.at(rev);
        let up = latest.direction != "downgrade";
        let all: Vec<(&str, &Statement)> = r.statements(up).collect();
        let done = latest.statements_done.unwrap_or(0);
        let statement = all.get(done).map(|(text, s)| (done + 1, all.len(), self.location(rev, s.start), text.to_string()));
        Error::Interrupted { revision: r.id.into(), file: r.file_name.into(), started_at: latest.applied_at.clone(), reason, statement }
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
            // The build refuses these; a set loaded with the lint pass off is checked here.
            if rev.transactional {
                if let Some((text, s)) =
                    rev.statements(step.direction == Direction::Up).find(|(_, s)| s.kind == StatementKind::TransactionControl)
                {
                    return Err(Error::TransactionControl {
                        revision: rev.id.into(),
                        location: self.location(step.revision, s.start),
                        statement: text.to_string(),
                    });
                }
            }
        }
        // A revision stopped part-way is resumed by a step in its direction;
        // any other plan would pass it by, so it is refused.
        if let Some(history) = &state.history {
            for (id, latest) in history.iter().filter(|(_, l)| l.status.in_progress()) {
                let Some(rev) = self.graph().index_of(id) else { continue };
                let resumed = plan.steps.iter().any(|s| s.revision == rev && s.direction.as_str() == latest.direction);
                if !resumed {
                    return Err(self.interrupted(
                        rev,
                        latest,
                        format!(
                            "this {} does not continue its {}",
                            if plan.steps.first().is_some_and(|s| s.direction == Direction::Down) { "downgrade" } else { "command" },
                            latest.direction
                        ),
                    ));
                }
            }
        }
        let whole = self.config.transaction_mode == TransactionMode::Whole;
        let guard = new_ulid();
        if whole {
            conn.batch_within(&format!("BEGIN;\n{}", guard_set_sql(&guard)), self.config.reply_timeout)
                .await
                .map_err(db("starting the transaction"))?;
        }
        let mut applied = Vec::with_capacity(plan.steps.len());
        let mut changes = Vec::new();
        let total = plan.steps.len();
        for (i, step) in plan.steps.iter().enumerate() {
            let started = Instant::now();
            let rev = self.migrations.at(step.revision);
            let (index, direction, message) = (i + 1, step.direction, rev.message);
            self.progress(&Progress::Started { index, total, revision: rev.id, direction, message });
            let span = tracing::info_span!("kiln.revision", revision = rev.id, direction = direction.as_str(), index, total);
            let result = if rev.transactional {
                self.apply_transactional(conn, step.revision, step.direction, &step.version_ops, !whole, &guard)
                    .instrument(span.clone())
                    .await
            } else {
                let resume = self.in_progress(state, rev.id);
                self.apply_outside_transaction(conn, step.revision, step.direction, &step.version_ops, resume)
                    .instrument(span.clone())
                    .await
                    .map(|note| changes.extend(note))
            };
            let duration = started.elapsed();
            match &result {
                Ok(()) => {
                    span.in_scope(|| tracing::info!(duration_ms = duration.as_millis() as u64, "revision applied"));
                    self.progress(&Progress::Done { index, total, revision: rev.id, direction, duration, message });
                }
                Err(e) => span.in_scope(|| tracing::warn!(duration_ms = duration.as_millis() as u64, error = %e, "revision failed")),
            }
            if let Err(mut e) = result {
                if whole {
                    let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
                    applied.clear();
                }
                if let Error::RevisionFailed { applied: a, .. } | Error::StatementFailed { applied: a, .. } = &mut e {
                    *a = applied;
                }
                return Err(e);
            }
            applied.push(AppliedStep { revision: rev.id.to_string(), direction: step.direction, duration });
        }
        if whole {
            let commit = format!("{}COMMIT;", guard_check_sql(&guard));
            if let Err(source) = conn.batch_within(&commit, self.config.reply_timeout).await {
                let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
                return Err(Error::Database { context: "committing the run", source });
            }
        }
        Ok(Outcome { before: state.heads.clone(), after: plan.heads_after, applied, warnings, changes, ..Outcome::default() })
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

    /// One round trip: `BEGIN`, a transaction-local marker, the revision's
    /// SQL, a check that the marker is still there (the revision did not end
    /// the transaction), the version-table change, the history row, `COMMIT`.
    async fn apply_transactional<C: Conn>(
        &self,
        conn: &mut C,
        rev: RevIdx,
        direction: Direction,
        ops: &[VersionOp],
        own_transaction: bool,
        guard: &str,
    ) -> Result<(), Error> {
        let r = self.migrations.at(rev);
        let (sql, section_start) = self.section(rev, direction);
        let dir = direction.as_str();
        let prefix = if own_transaction { format!("BEGIN;\n{}", guard_set_sql(guard)) } else { "SAVEPOINT kiln_revision;\n".to_string() };
        let mut script = String::with_capacity(sql.len() + 768);
        script.push_str(&prefix);
        script.push_str(sql);
        script.push_str("\n;\n");
        script.push_str(&guard_check_sql(guard));
        script.push_str(&self.config.tables.version_ops_sql(ops));
        script.push_str(&self.config.tables.history_insert_sql(&self.history_row(r, dir, Status::Done, Measured::SinceQueryStart)));
        script.push_str(if own_transaction { "COMMIT;" } else { "RELEASE SAVEPOINT kiln_revision;" });
        let Err(e) = conn.batch(&script).await else { return Ok(()) };
        if own_transaction {
            let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
        } else {
            let _ = conn.batch_within("ROLLBACK TO SAVEPOINT kiln_revision;", self.config.reply_timeout).await;
        }
        if is_guard_error(&e) {
            return Err(Error::TransactionEnded { revision: r.id.into(), direction, file: r.file_name.into() });
        }
        // Find the failing statement: from PostgreSQL's position when it gives
        // one, else by replaying the statements in a transaction that is
        // rolled back.
        let statements: Vec<(&str, &Statement)> = r.statements(direction == Direction::Up).collect();
        let prefix_chars = prefix.chars().count();
        let by_position = e.position.and_then(|p| p.checked_sub(prefix_chars)).and_then(|p| {
            let byte = section_start + sql.char_indices().nth(p.saturating_sub(1)).map(|(b, _)| b)?;
            statements.iter().find(|(_, s)| s.start <= byte && byte <= s.end).map(|&(text, _)| (text, byte))
        });
        let found = match by_position {
            Some(x) => Some(x),
            None if own_transaction && !e.closed => self.replay_to_find(conn, &statements, guard).await.map(|(text, s)| (text, s.start)),
            None => None,
        };
        let (statement, location) = match found {
            Some((text, byte)) => (Some(text.to_string()), Some(self.location(rev, byte))),
            None => (None, Some(format!("{}/{}", self.migrations.source_dir(), r.file_name))),
        };
        Err(Error::RevisionFailed { revision: r.id.into(), direction, location, statement, source: e, applied: Vec::new() })
    }

    /// Runs the statements one by one inside a transaction that is rolled
    /// back, to find the one that fails. Never when a statement ends or
    /// opens a transaction (the build refuses those in a transactional
    /// revision, and here they would commit the replay); each statement is
    /// followed by the marker check, so nothing runs past a transaction end.
    async fn replay_to_find<'s, C: Conn>(
        &self,
        conn: &mut C,
        statements: &[(&'s str, &'s Statement)],
        guard: &str,
    ) -> Option<(&'s str, &'s Statement)> {
        if statements.iter().any(|(_, s)| !matches!(s.kind, StatementKind::Plain)) {
            return None;
        }
        conn.batch_within(&format!("BEGIN;\n{}", guard_set_sql(guard)), self.config.reply_timeout).await.ok()?;
        let mut failed = None;
        for &(text, s) in statements {
            if let Err(e) = conn.batch(&format!("{text}\n;\n{}", guard_check_sql(guard))).await {
                if !is_guard_error(&e) {
                    failed = Some((text, s));
                }
                break;
            }
        }
        let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
        failed
    }

    /// A non-transactional revision, statement by statement, its progress
    /// recorded as each statement completes: a statement that can share a
    /// transaction is sent in one query string with its progress record (an
    /// implicit transaction: both or neither), one that cannot is followed
    /// by it. A run that resumes first settles the statement that was in
    /// flight (see [`Self::settle`]). Returns a line for the outcome when it
    /// resumed.
    async fn apply_outside_transaction<C: Conn>(
        &self,
        conn: &mut C,
        rev: RevIdx,
        direction: Direction,
        ops: &[VersionOp],
        resume: Option<&Latest>,
    ) -> Result<Option<String>, Error> {
        let r = self.migrations.at(rev);
        let (sql, _) = self.section(rev, direction);
        let dir = direction.as_str();
        let t = &self.config.tables;
        let statements: Vec<(&str, &Statement)> = r.statements(direction == Direction::Up).collect();
        if statements.is_empty() && has_code(sql) {
            return Err(Error::Database {
                context: "running a non-transactional revision",
                source: DbError::other(format!(
                    "`{}` was loaded without kiln's SQL parser, so its statements are not known; load it with kiln-core's `lint` feature (the CLI has it)",
                    r.file_name
                )),
            });
        }
        let started = Instant::now();
        let (id, mut next, mut note) = match resume {
            Some(latest) if !latest.same_as(r) => {
                return Err(self.interrupted(
                    rev,
                    latest,
                    format!(
                        "its file changed since this run started, so kiln cannot tell whether the statements that ran are still the first {} of the file; \
                         if they are, `--retry` goes on with the file as it is now",
                        latest.statements_done.unwrap_or(0)
                    ),
                ))
            }
            Some(latest) => {
                // A row an older kiln wrote records no progress: which statements
                // took effect is unknown, so each is checked in the catalog
                // before it runs, which only some kinds allow.
                if latest.statements_done.is_none() && !statements.iter().all(|(_, s)| s.kind.checkable()) {
                    return Err(self.interrupted(
                        rev,
                        latest,
                        "an older kiln started it without recording which of its statements took effect; \
                         check which did: `--retry` runs it from its first statement, `--skip` counts the first as done"
                            .into(),
                    ));
                }
                let done = latest.statements_done.unwrap_or(0).min(statements.len());
                let sql = t.history_status_sql(&latest.id, Status::Started, Some(done), None);
                conn.batch_within(&sql, self.config.reply_timeout).await.map_err(db("recording the resumed run"))?;
                (latest.id.clone(), done, Some(format!("resumed `{}` at statement {} of {}", r.id, done + 1, statements.len())))
            }
            None => {
                // The "started" record commits first, so a crash mid-way is seen next time.
                let row = self.history_row(r, dir, Status::Started, Measured::Unknown);
                let mut sql = t.history_insert_sql(&row);
                sql.push_str(&t.history_progress_sql(&row.id, 0));
                conn.batch_within(&sql, self.config.reply_timeout).await.map_err(db("recording the start of a non-transactional revision"))?;
                (row.id, 0, None)
            }
        };
        let first = next;
        let check_each = resume.is_some_and(|l| l.statements_done.is_none());
        while next < statements.len() {
            let (text, s) = statements[next];
            let progress = t.history_progress_sql(&id, next + 1);
            // A resumed run settles the statement it stopped at (and, without
            // recorded progress, every statement) from the catalog first.
            if let Some(latest) = resume.filter(|_| next == first || check_each) {
                let (how, done) = match self.settle(conn, rev, latest, &statements, next).await? {
                    Settled::Run => (None, false),
                    Settled::RunAfter(how) => (Some(how), false),
                    Settled::Done(how) => (Some(format!("done: {how}")), true),
                };
                if let (Some(how), Some(note)) = (how, note.as_mut()) {
                    note.push_str(&format!(" (statement {}: {how})", next + 1));
                }
                if done {
                    conn.batch_within(&progress, self.config.reply_timeout).await.map_err(db("recording a statement's progress"))?;
                    next += 1;
                    continue;
                }
            }
            self.progress(&Progress::Statement { revision: r.id, index: next + 1, total: statements.len(), sql: text });
            let span = tracing::info_span!("kiln.statement", revision = r.id, index = next + 1, total = statements.len());
            let statement_started = Instant::now();
            let result = if s.kind.shares_transaction() {
                conn.batch(&format!("{text}\n;\n{progress}")).instrument(span.clone()).await
            } else {
                match conn.batch(text).instrument(span.clone()).await {
                    Ok(()) => {
                        conn.batch_within(&progress, self.config.reply_timeout).await.map_err(db("recording a statement's progress"))?;
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            };
            span.in_scope(|| {
                tracing::debug!(duration_ms = statement_started.elapsed().as_millis() as u64, ok = result.is_ok(), "statement")
            });
            if let Err(e) = result {
                // Close a transaction the revision itself opened (its
                // progress records go with it), then record the failure.
                let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
                let _ = conn.batch_within(&t.history_status_sql(&id, Status::Failed, None, None), self.config.reply_timeout).await;
                return Err(Error::StatementFailed {
                    revision: r.id.into(),
                    direction,
                    index: next + 1,
                    total: statements.len(),
                    location: self.location(rev, s.start),
                    statement: text.to_string(),
                    source: e,
                    applied: Vec::new(),
                });
            }
            next += 1;
        }
        let finish = format!("BEGIN;\n{}{}COMMIT;", t.version_ops_sql(ops), t.history_done_sql(&id, started.elapsed().as_millis()));
        if let Err(source) = conn.batch_within(&finish, self.config.reply_timeout).await {
            let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
            return Err(Error::Database { context: "recording a non-transactional revision", source });
        }
        Ok(note)
    }

    /// Decides what to do with the statement a part-way run stopped at. A
    /// statement still running in another session (a killed client does not
    /// stop a `CREATE INDEX CONCURRENTLY` on the server) is waited for first.
    async fn settle<C: Conn>(
        &self,
        conn: &mut C,
        rev: RevIdx,
        latest: &Latest,
        statements: &[(&str, &Statement)],
        index: usize,
    ) -> Result<Settled, Error> {
        let Some(&(text, s)) = statements.get(index) else { return Ok(Settled::Run) };
        if s.kind.shares_transaction() {
            // It was sent with its progress record: it did not take effect.
            return Ok(Settled::Run);
        }
        // Sent alone, so pg_stat_activity shows exactly its text while it runs.
        let running = format!(
            "SELECT pid::text FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database() AND state <> 'idle' AND query = {};",
            quote_literal(text)
        );
        let waited = Instant::now();
        loop {
            let rows = conn
                .query_within(&running, self.config.reply_timeout)
                .await
                .map_err(db("looking for the interrupted statement in pg_stat_activity"))?;
            let pids = first_column(rows.into_iter().next().unwrap_or_default());
            if pids.is_empty() {
                break;
            }
            if waited.elapsed() >= self.config.lock_wait {
                return Err(self.interrupted(
                    rev,
                    latest,
                    format!(
                        "the statement is still running in server process {} after {:.0} s of waiting; wait for it, or stop it with `SELECT pg_cancel_backend({})`",
                        pids.join(", "),
                        waited.elapsed().as_secs_f64(),
                        pids[0]
                    ),
                ));
            }
            conn.sleep(Duration::from_millis(200)).await;
        }
        match &s.kind {
            StatementKind::CreateIndexConcurrently { table, index } => {
                let sql = format!(
                    "SELECT i.indisvalid::text, format('%I.%I', n.nspname, c.relname) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid \
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indrelid = to_regclass({}) AND c.relname = {};",
                    quote_literal(table),
                    quote_literal(index)
                );
                let rows =
                    conn.query_within(&sql, self.config.reply_timeout).await.map_err(db("checking the interrupted index in pg_index"))?;
                match rows.into_iter().flatten().next().as_deref() {
                    Some([Some(valid), _]) if valid == "true" => Ok(Settled::Done(format!("index `{index}` exists and is valid"))),
                    Some([Some(_), Some(qualified)]) => {
                        conn.batch(&format!("DROP INDEX CONCURRENTLY IF EXISTS {qualified};"))
                            .await
                            .map_err(db("dropping the INVALID index left by the interrupted statement"))?;
                        Ok(Settled::RunAfter(format!("dropped the INVALID index `{index}` it left, to build it again")))
                    }
                    _ => Ok(Settled::Run),
                }
            }
            StatementKind::DropIndexConcurrently { index } => {
                let rows = conn
                    .query_within(&format!("SELECT (to_regclass({}) IS NULL)::text;", quote_literal(index)), self.config.reply_timeout)
                    .await
                    .map_err(db("checking the interrupted index"))?;
                let gone = first_value(&rows).as_deref() == Some("true");
                Ok(if gone { Settled::Done(format!("index {index} is gone")) } else { Settled::Run })
            }
            StatementKind::Repeatable => Ok(Settled::Run),
            // PostgreSQL said it failed, or an operator said to run it.
            _ if matches!(latest.status, Status::Failed | Status::Retry) => Ok(Settled::Run),
            _ => Err(self.interrupted(rev, latest, "kiln cannot tell whether the statement it was running took effect".into())),
        }
    }

    /// `resolve-interrupted`: retry, skip or abandon part-way runs.
    async fn resolve<C: Conn>(&self, conn: &mut C, state: &State, revision: Option<&str>, action: Resolution) -> Result<Outcome, Error> {
        let t = &self.config.tables;
        let mut changes = Vec::new();
        let mut sql = String::from("BEGIN;\n");
        let wanted: Option<Vec<RevIdx>> = match revision {
            Some(ident) => Some(self.graph().resolve(ident)?),
            None => None,
        };
        for (i, rev) in self.migrations.revisions().iter().enumerate() {
            if wanted.as_ref().is_some_and(|w| !w.contains(&i)) {
                continue;
            }
            let Some(latest) = self.in_progress(state, rev.id) else { continue };
            let total = rev.statements(latest.direction != "downgrade").count();
            let done = latest.statements_done.unwrap_or(0);
            let (status, progress, what) = match action {
                // Progress becomes explicit (a row an older kiln wrote has none).
                Resolution::Retry => (Status::Retry, Some(done), format!("`{}`: the next upgrade runs statement {} of {total} again", rev.id, done + 1)),
                Resolution::Skip => (
                    Status::Retry,
                    Some((done + 1).min(total)),
                    format!("`{}`: statement {} of {total} counts as done; the next upgrade goes on with statement {}", rev.id, done + 1, done + 2),
                ),
                Resolution::Abandon => (
                    Status::Abandoned,
                    None,
                    format!(
                        "`{}`: its {} run is abandoned ({done} of {total} statement(s) had taken effect and stay); the next upgrade runs it from its first statement",
                        rev.id, latest.direction
                    ),
                ),
            };
            // Going on takes the file as it is now (the operator checked it).
            let checksum = (action != Resolution::Abandon).then_some((rev.checksum, rev.checksum_v2));
            sql.push_str(&t.history_status_sql(&latest.id, status, progress, checksum));
            changes.push(what);
        }
        if changes.is_empty() {
            changes.push(match revision {
                Some(r) => format!("`{r}` has no interrupted run: nothing changed"),
                None => "no revision has an interrupted run: nothing changed".into(),
            });
        }
        sql.push_str("COMMIT;");
        if let Err(source) = conn.batch_within(&sql, self.config.reply_timeout).await {
            let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
            return Err(Error::Database { context: "resolving interrupted revisions", source });
        }
        Ok(Outcome { before: state.heads.clone(), after: state.heads.clone(), changes, ..Outcome::default() })
    }

    async fn stamp_locked<C: Conn>(&self, conn: &mut C, state: &State, target: &str, purge: bool) -> Result<Outcome, Error> {
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
                sql.push_str(&t.history_insert_sql(&self.history_row(rev, "stamp", Status::Done, Measured::Unknown)));
            }
        }
        sql.push_str("COMMIT;");
        if let Err(source) = conn.batch_within(&sql, self.config.reply_timeout).await {
            let _ = conn.batch_within("ROLLBACK;", self.config.reply_timeout).await;
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
                if history.get(rev.id).is_some_and(|l| l.direction != "downgrade" && !l.same_as(rev)) {
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
            sql.push_str(&t.history_insert_sql(&self.history_row(rev, "accept", Status::Done, Measured::Unknown)));
        }
        sql.push_str("COMMIT;");
        conn.batch_within(&sql, self.config.reply_timeout).await.map_err(db("accepting checksums"))?;
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

/// Sets the transaction-local marker a revision's transaction carries.
fn guard_set_sql(guard: &str) -> String {
    format!("SELECT set_config('kiln.transaction', {}, true);\n", quote_literal(guard))
}

/// Fails unless the marker set at `BEGIN` is still there, that is, unless
/// this is still the transaction kiln opened. `current_setting` is only
/// stable, so the `CASE` is decided when it runs, not when it is planned.
fn guard_check_sql(guard: &str) -> String {
    format!(
        "SELECT CAST(CASE WHEN current_setting('kiln.transaction', true) = {} THEN '0' ELSE '{GUARD_MESSAGE}' END AS integer);\n",
        quote_literal(guard)
    )
}

const GUARD_MESSAGE: &str = "kiln: the revision ended the transaction kiln opened for it";

fn is_guard_error(e: &DbError) -> bool {
    e.message.contains(GUARD_MESSAGE)
}

/// True when SQL holds anything besides comments and whitespace.
fn has_code(sql: &str) -> bool {
    sql.lines().map(str::trim).any(|l| !l.is_empty() && !l.starts_with("--"))
}
