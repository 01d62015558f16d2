//! The synchronous driver, on `postgres::Client`.
//!
//! ```no_run
//! # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
//! let mut client = postgres::Client::connect("host=localhost user=postgres", postgres::NoTls)?;
//! let outcome = kiln::Migrator::new(MIGRATIONS).upgrade(&mut client, "head")?;
//! println!("applied {} revision(s)", outcome.applied.len());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Session-level advisory locks need a direct connection (or PgBouncer in
//! session mode): in transaction-pooling mode, the lock and the migration
//! could land on different server connections.

use std::future::{ready, Future};
use std::pin::pin;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

use crate::conn::{collect_rows, from_pg, Conn, DbError, Rows};
use crate::migrator::{Command, Error, Migrator, Outcome, Readiness};

/// [`Conn`] over a blocking `postgres::Client`: every future is ready at once.
pub struct SyncConn<'a>(pub &'a mut postgres::Client);

impl Conn for SyncConn<'_> {
    fn batch(&mut self, sql: &str) -> impl Future<Output = Result<(), DbError>> + Send {
        ready(self.0.batch_execute(sql).map_err(|e| from_pg(&e)))
    }

    fn query(&mut self, sql: &str) -> impl Future<Output = Result<Vec<Rows>, DbError>> + Send {
        ready(self.0.simple_query(sql).map(collect_rows).map_err(|e| from_pg(&e)))
    }

    fn sleep(&mut self, duration: Duration) -> impl Future<Output = ()> + Send {
        std::thread::sleep(duration);
        ready(())
    }
}

/// Drives a run over [`SyncConn`] (or a wrapper around it, such as a logging
/// or counting [`Conn`]) to completion on this thread: every await of such a
/// run is ready at once, so no runtime is needed.
pub fn block_on<F: Future>(future: F) -> F::Output {
    fn noop_raw() -> RawWaker {
        fn clone(_: *const ()) -> RawWaker {
            noop_raw()
        }
        fn noop(_: *const ()) {}
        static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    // SAFETY: the vtable's functions do nothing and never touch the data pointer.
    let waker = unsafe { Waker::from_raw(noop_raw()) };
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(v) = future.as_mut().poll(&mut cx) {
            return v;
        }
        // Unreachable with SyncConn; yield rather than spin hard if it ever happens.
        std::thread::yield_now();
    }
}

impl Migrator {
    /// Runs a command on a blocking client.
    pub fn run(&self, client: &mut postgres::Client, command: &Command) -> Result<Outcome, Error> {
        block_on(self.execute(&mut SyncConn(client), command))
    }

    /// The startup call: `upgrade heads`, every branch to its head. `heads`
    /// rather than `head`: `head` is ambiguous (an error) as soon as the
    /// history has several heads, such as labelled branches.
    ///
    /// ```no_run
    /// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
    /// let mut client = postgres::Client::connect("host=localhost user=app", postgres::NoTls)?;
    /// kiln::Migrator::new(MIGRATIONS).migrate(&mut client)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn migrate(&self, client: &mut postgres::Client) -> Result<Outcome, Error> {
        self.upgrade(client, "heads")
    }

    /// `upgrade <target>` (`head`, `heads`, a revision, `+N`, `label@head`, ...).
    pub fn upgrade(&self, client: &mut postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run(client, &Command::Upgrade(target.to_string()))
    }

    /// `downgrade <target>` (`-N`, a revision, `base`, ...).
    pub fn downgrade(&self, client: &mut postgres::Client, target: &str) -> Result<Outcome, Error> {
        self.run(client, &Command::Downgrade(target.to_string()))
    }

    /// `stamp <target>`: set the version table without running SQL (with
    /// `purge`, emptied first).
    pub fn stamp(&self, client: &mut postgres::Client, target: &str, purge: bool) -> Result<Outcome, Error> {
        self.run(client, &Command::Stamp { target: target.to_string(), purge })
    }

    /// The version table's rows.
    pub fn current(&self, client: &mut postgres::Client) -> Result<Vec<String>, Error> {
        block_on(self.current_heads(&mut SyncConn(client)))
    }

    /// True when the database is at the graph's heads.
    pub fn check(&self, client: &mut postgres::Client) -> Result<bool, Error> {
        block_on(self.is_at_head(&mut SyncConn(client)))
    }

    /// Live drift ([`Migrator::drift_on`]): `live`'s schema against the one
    /// its version rows say it should have, built in the empty `scratch`.
    ///
    /// ```no_run
    /// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
    /// let mut live = postgres::Client::connect("host=db user=app", postgres::NoTls)?;
    /// let mut scratch = postgres::Client::connect("host=localhost dbname=scratch", postgres::NoTls)?;
    /// let drift = kiln::Migrator::new(MIGRATIONS).drift(&mut live, &mut scratch)?;
    /// if let Some(text) = drift.render(20) {
    ///     eprintln!("changed by hand:\n{text}");
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn drift(&self, live: &mut postgres::Client, scratch: &mut postgres::Client) -> Result<crate::catalog::Drift, Error> {
        block_on(self.drift_on(&mut SyncConn(live), &mut SyncConn(scratch)))
    }

    /// At head or not, the version rows and the pending count, from one read.
    pub fn readiness(&self, client: &mut postgres::Client) -> Result<Readiness, Error> {
        block_on(self.readiness_on(&mut SyncConn(client)))
    }
}
