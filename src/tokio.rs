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
use crate::migrator::{Command, Error, Migrator, Outcome};

/// [`Conn`] over a `tokio_postgres::Client`.
pub struct AsyncConn<'a>(pub &'a tokio_postgres::Client);

impl Conn for AsyncConn<'_> {
    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), DbError>> + Send {
        let client = self.0;
        let sql = sql.to_string();
        async move { client.batch_execute(&sql).await.map_err(|e| from_pg(&e)) }
    }

    fn query(&mut self, sql: &str) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send {
        let client = self.0;
        let sql = sql.to_string();
        async move { client.simple_query(&sql).await.map(collect_rows).map_err(|e| from_pg(&e)) }
    }

    fn sleep(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(duration)
    }
}

impl Migrator {
    /// Runs a command on an async client.
    pub async fn run_async(&self, client: &tokio_postgres::Client, command: &Command) -> Result<Outcome, Error> {
        self.execute(&mut AsyncConn(client), command).await
    }

    /// `upgrade <target>`.
    pub async fn upgrade_async(&self, client: &tokio_postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run_async(client, &Command::Upgrade(target.to_string())).await
    }

    /// `downgrade <target>`.
    pub async fn downgrade_async(&self, client: &tokio_postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run_async(client, &Command::Downgrade(target.to_string())).await
    }

    /// True when the database is at the graph's heads.
    pub async fn check_async(&self, client: &tokio_postgres::Client) -> Result<bool, Error> {
        self.is_at_head(&mut AsyncConn(client)).await
    }
}
