//! The asynchronous driver, on `tokio_postgres::Client`.
//!
//! ```no_run
//! # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
//! # async fn f(client: &tokio_postgres::Client) -> Result<(), kiln::Error> {
//! let outcome = kiln::Migrator::new(MIGRATIONS).upgrade_async(client, "head").await?;
//! # Ok(()) }
//! ```
//!
//! The futures are `Send`, so a run can be spawned on a multi-threaded runtime.

use std::future::Future;
use std::time::Duration;

use crate::conn::{collect_rows, from_pg, Conn, DbError, Rows};
use crate::migrator::{Command, Error, Migrator, Outcome, Readiness};

/// [`Conn`] over a `tokio_postgres::Client`.
///
/// Once a bounded query has gone unanswered ([`DbError::silent`]), the
/// session is mid-query for good: every later call fails at once with the
/// same error instead of queueing behind it.
pub struct AsyncConn<'a> {
    client: &'a tokio_postgres::Client,
    silent: Option<DbError>,
}

impl<'a> AsyncConn<'a> {
    /// Wraps a client.
    ///
    /// ```no_run
    /// # async fn f(client: &tokio_postgres::Client) {
    /// let mut conn = kiln::tokio::AsyncConn::new(client);
    /// # let _ = &mut conn; }
    /// ```
    pub fn new(client: &'a tokio_postgres::Client) -> Self {
        AsyncConn { client, silent: None }
    }
}

/// Runs `work`, giving up after `limit` and remembering it in `silent`.
async fn bounded<T>(
    silent: &mut Option<DbError>,
    work: impl Future<Output = Result<T, DbError>>,
    limit: Option<Duration>,
) -> Result<T, DbError> {
    if let Some(e) = silent {
        return Err(e.clone());
    }
    let Some(limit) = limit else { return work.await };
    match tokio::time::timeout(limit, work).await {
        Ok(result) => result,
        Err(_) => {
            let e = DbError::silent(limit);
            *silent = Some(e.clone());
            Err(e)
        }
    }
}

impl Conn for AsyncConn<'_> {
    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), DbError>> + Send {
        let client = self.client;
        let sql = sql.to_string();
        let silent = self.silent.clone();
        async move {
            match silent {
                Some(e) => Err(e),
                None => client.batch_execute(&sql).await.map_err(|e| from_pg(&e)),
            }
        }
    }

    fn query(&mut self, sql: &str) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send {
        let client = self.client;
        let sql = sql.to_string();
        let silent = self.silent.clone();
        async move {
            match silent {
                Some(e) => Err(e),
                None => client.simple_query(&sql).await.map(collect_rows).map_err(|e| from_pg(&e)),
            }
        }
    }

    fn sleep(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }

    /// Gives up after `limit` (the runtime needs timers enabled).
    fn batch_within(&mut self, sql: &str, limit: Option<Duration>) -> impl Future<Output = Result<(), DbError>> + Send {
        let client = self.client;
        let sql = sql.to_string();
        let work = async move { client.batch_execute(&sql).await.map_err(|e| from_pg(&e)) };
        bounded(&mut self.silent, work, limit)
    }

    /// Gives up after `limit` (the runtime needs timers enabled).
    fn query_within(&mut self, sql: &str, limit: Option<Duration>) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send {
        let client = self.client;
        let sql = sql.to_string();
        let work = async move { client.simple_query(&sql).await.map(collect_rows).map_err(|e| from_pg(&e)) };
        bounded(&mut self.silent, work, limit)
    }
}

impl Migrator {
    /// Runs a command on an async client.
    pub async fn run_async(&self, client: &tokio_postgres::Client, command: &Command) -> Result<Outcome, Error> {
        self.execute(&mut AsyncConn::new(client), command).await
    }

    /// The startup call: `upgrade heads` (see `Migrator::migrate`).
    ///
    /// ```no_run
    /// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
    /// # async fn f(client: &tokio_postgres::Client) -> Result<(), kiln::Error> {
    /// kiln::Migrator::new(MIGRATIONS).migrate_async(client).await?;
    /// # Ok(()) }
    /// ```
    pub async fn migrate_async(&self, client: &tokio_postgres::Client) -> Result<Outcome, Error> {
        self.upgrade_async(client, "heads").await
    }

    /// `upgrade <target>`.
    pub async fn upgrade_async(&self, client: &tokio_postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run_async(client, &Command::Upgrade(target.to_string())).await
    }

    /// `downgrade <target>`.
    pub async fn downgrade_async(&self, client: &tokio_postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run_async(client, &Command::Downgrade(target.to_string())).await
    }

    /// `stamp <target>`: set the version table without running SQL.
    pub async fn stamp_async(&self, client: &tokio_postgres::Client, target: &str, purge: bool) -> Result<Outcome, Error> {
        self.run_async(client, &Command::Stamp { target: target.to_string(), purge }).await
    }

    /// The version table's rows.
    pub async fn current_async(&self, client: &tokio_postgres::Client) -> Result<Vec<String>, Error> {
        self.current_heads(&mut AsyncConn::new(client)).await
    }

    /// True when the database is at the graph's heads.
    pub async fn check_async(&self, client: &tokio_postgres::Client) -> Result<bool, Error> {
        self.is_at_head(&mut AsyncConn::new(client)).await
    }

    /// Live drift ([`Migrator::drift_on`]): `live`'s schema against the one
    /// its version rows say it should have, built in the empty `scratch`.
    pub async fn drift_async(
        &self,
        live: &tokio_postgres::Client,
        scratch: &tokio_postgres::Client,
    ) -> Result<crate::catalog::Drift, Error> {
        self.drift_on(&mut AsyncConn::new(live), &mut AsyncConn::new(scratch)).await
    }

    /// At head or not, the version rows and the pending count, from one read.
    pub async fn readiness_async(&self, client: &tokio_postgres::Client) -> Result<Readiness, Error> {
        self.readiness_on(&mut AsyncConn::new(client)).await
    }
}
