//! The one seam between the runner and a PostgreSQL driver.
//!
//! The runner (`migrator`) is written once, as `async` code over [`Conn`].
//! The asynchronous driver implements it with `tokio_postgres`; the
//! synchronous driver implements it with `postgres::Client`, whose futures are
//! ready at once, and drives the runner with a trivial executor. So the two
//! drivers only send statements and read rows.

use std::fmt;
use std::future::Future;
use std::time::Duration;

/// The rows of one statement's result, every value as text (simple query protocol).
pub type Rows = Vec<Vec<Option<String>>>;

/// What a migration runner needs from a connection.
pub trait Conn {
    /// Runs one or more statements with the simple query protocol, ignoring rows.
    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), DbError>> + Send;
    /// Runs one or more statements and returns each statement's rows.
    fn query(&mut self, sql: &str) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send;
    /// Waits (between advisory-lock attempts).
    fn sleep(&mut self, duration: Duration) -> impl Future<Output = ()> + Send;
    /// [`Conn::batch`] for kiln's own bookkeeping, failing with
    /// [`DbError::silent`] when the server has not answered within `limit`.
    /// The default waits as long as it takes: a driver that blocks in a read
    /// (the synchronous one) cannot give up on its own.
    fn batch_within(&mut self, sql: &str, limit: Option<Duration>) -> impl Future<Output = Result<(), DbError>> + Send {
        let _ = limit;
        self.batch(sql)
    }
    /// [`Conn::query`] for kiln's own bookkeeping, bounded like [`Conn::batch_within`].
    fn query_within(&mut self, sql: &str, limit: Option<Duration>) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send {
        let _ = limit;
        self.query(sql)
    }
}

/// An error reported by PostgreSQL or by the connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbError {
    /// SQLSTATE, such as `42P01`.
    pub code: Option<String>,
    /// PostgreSQL's message (or the driver's, for connection errors).
    pub message: String,
    /// 1-based character position in the query, when PostgreSQL gives one.
    pub position: Option<usize>,
    /// PostgreSQL's DETAIL.
    pub detail: Option<String>,
    /// PostgreSQL's HINT.
    pub hint: Option<String>,
    /// True when the connection is gone.
    pub closed: bool,
}

impl DbError {
    /// An error that did not come from the server.
    pub fn other(message: impl Into<String>) -> Self {
        DbError { code: None, message: message.into(), position: None, detail: None, hint: None, closed: false }
    }
}

impl DbError {
    /// The server did not answer one of kiln's own queries within `limit`
    /// (a frozen server, or a proxy that stopped forwarding). The session
    /// is left mid-query: drop it.
    pub fn silent(limit: Duration) -> Self {
        DbError {
            closed: true,
            ..DbError::other(format!(
                "the server did not answer within {} s (the reply timeout): it accepted kiln's query and then went silent; \
                 check that the server and any proxy in between are alive, or raise the reply timeout",
                limit.as_secs_f64()
            ))
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(code) = &self.code {
            write!(f, " (SQLSTATE {code})")?;
        }
        if let Some(d) = &self.detail {
            write!(f, "; detail: {d}")?;
        }
        if let Some(h) = &self.hint {
            write!(f, "; hint: {h}")?;
        }
        if self.closed {
            write!(f, "; the connection is closed")?;
        }
        Ok(())
    }
}

impl std::error::Error for DbError {}

#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub(crate) fn from_pg(e: &pg::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError {
            code: Some(db.code().code().to_string()),
            message: db.message().to_string(),
            position: match db.position() {
                Some(pg::error::ErrorPosition::Original(p)) => Some(*p as usize),
                _ => None,
            },
            detail: db.detail().map(str::to_string),
            hint: db.hint().map(str::to_string),
            closed: e.is_closed(),
        },
        None => DbError { code: None, message: with_causes(e), position: None, detail: None, hint: None, closed: e.is_closed() },
    }
}

/// An error's message followed by each of its causes (`error connecting to
/// server: Connection refused (os error 111)`): the driver's own message
/// alone ("db error", "error connecting to server") says nothing.
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub(crate) fn with_causes(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

#[cfg(all(feature = "postgres", not(feature = "tokio-postgres")))]
use postgres as pg;
#[cfg(feature = "tokio-postgres")]
use tokio_postgres as pg;

/// Collects simple-query messages into per-statement row sets.
#[cfg(any(feature = "postgres", feature = "tokio-postgres"))]
pub(crate) fn collect_rows(messages: Vec<pg::SimpleQueryMessage>) -> Vec<Rows> {
    let mut out = Vec::new();
    let mut current: Rows = Vec::new();
    for m in messages {
        match m {
            pg::SimpleQueryMessage::Row(row) => {
                current.push((0..row.len()).map(|i| row.get(i).map(str::to_string)).collect());
            }
            pg::SimpleQueryMessage::CommandComplete(_) => out.push(std::mem::take(&mut current)),
            _ => {}
        }
    }
    out
}
