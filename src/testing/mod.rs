//! Databases for tests, and "every revision tested both ways" as one call
//! (feature `testing`).
//!
//! A test asks for a database and gets one of its own, migrated or empty,
//! on a server shared by every test of the binary:
//!
//! ```no_run
//! # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
//! // static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();
//!
//! #[test]
//! fn signup_stores_a_user() {
//!     let db = kiln::testing::TestDatabase::migrated(&MIGRATIONS, "heads");
//!     let mut client = db.connect();
//!     client.execute("INSERT INTO users (id, email) VALUES ('01J0000000000000000000000', 'a@b.c')", &[]).unwrap();
//! } // the database is dropped here
//!
//! #[test]
//! fn every_revision_goes_down_and_up_again() {
//!     kiln::testing::assert_round_trip(&MIGRATIONS);
//! }
//! ```
//!
//! **The server.** With `KILN_TEST_DATABASE_URL` (else `DATABASE_URL`)
//! set, databases are created on that server (its role needs `CREATEDB`);
//! each carries a comment naming the host and process, so a run drops
//! what a crashed run on the same host left. Otherwise the first test
//! starts a throwaway cluster with `initdb` and `pg_ctl` from PATH (or
//! `/usr/lib/postgresql/*/bin`), as the `postgres` user when run as root;
//! a watchdog process stops and removes it when the test binary ends,
//! also when it crashed or was killed.
//!
//! **Speed.** The first database migrated to a target is kept as a
//! template; later ones are copies of it (`CREATE DATABASE ... TEMPLATE`),
//! so a test pays for the migrations once per binary, not once per test.
//!
//! **Sync and async.** The constructors and the drop work the same in a
//! `#[test]` and a `#[tokio::test]`: they run the blocking driver on a
//! helper thread, so they never start a runtime inside one.
//! [`TestDatabase::connect_async`] gives a `tokio_postgres::Client`.
//!
//! **Why no attribute macro.** `#[sqlx::test]` hides the same two lines
//! behind a proc-macro; a guard keeps the test's setup visible, composes
//! with any test attribute (`#[tokio::test]`, `rstest`, proptest), and
//! costs no `syn` in a user's build.

mod round_trip;
mod server;

use std::collections::HashMap;
use std::sync::Mutex;

pub use crate::catalog::Snapshot;
pub use round_trip::{assert_round_trip, assert_schema_matches, Failure, RoundTrip, Summary};
pub use server::{server, Server};

use crate::{Migrations, Migrator};

/// A database of its own for one test, dropped (with any session still on
/// it) when the guard goes.
pub struct TestDatabase {
    name: String,
    url: String,
    keep: bool,
}

/// Templates already migrated, by migrations fingerprint and target.
static TEMPLATES: Mutex<Option<HashMap<(String, String), String>>> = Mutex::new(None);

/// Runs blocking driver work on a helper thread, so that it works inside an
/// async runtime too (the `postgres` crate refuses to start one in one).
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(work).join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

impl TestDatabase {
    /// A new empty database.
    ///
    /// # Panics
    ///
    /// When there is no server (see [`server`]) or the database cannot be
    /// created; the message says why.
    ///
    /// ```no_run
    /// let db = kiln::testing::TestDatabase::empty();
    /// db.connect().batch_execute("CREATE TABLE scratch (id int)").unwrap();
    /// ```
    pub fn empty() -> TestDatabase {
        off_runtime(|| Self::create(None)).unwrap_or_else(|e| panic!("{e}"))
    }

    /// A new database migrated to `target` (`heads`, `head`, a revision id,
    /// `label@head`...), as [`Migrator::upgrade`] would take it.
    ///
    /// # Panics
    ///
    /// When there is no server, or a revision fails: the message is kiln's
    /// error, naming the revision, the statement and PostgreSQL's cause.
    ///
    /// ```no_run
    /// # static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
    /// let db = kiln::testing::TestDatabase::migrated(&MIGRATIONS, "heads");
    /// let rows = db.connect().query("SELECT version_num FROM alembic_version", &[]).unwrap();
    /// assert!(!rows.is_empty());
    /// ```
    pub fn migrated(migrations: &Migrations, target: &str) -> TestDatabase {
        off_runtime(|| {
            let template = template_for(migrations, target)?;
            Self::create(Some(&template))
        })
        .unwrap_or_else(|e| panic!("{e}"))
    }

    fn create(template: Option<&str>) -> Result<TestDatabase, String> {
        let server = server();
        let mut admin = server.admin()?;
        let name = server.new_name("test");
        server.create(&mut admin, &name, template)?;
        Ok(TestDatabase { url: server.url(&name), name, keep: false })
    }

    /// The database's URL (with the server's password, when it has one:
    /// keep it out of logs; [`crate::redact::redact_url`] takes it out).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A blocking client on the database.
    ///
    /// # Panics
    ///
    /// When the database does not accept the connection.
    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {}", self.name, crate::conn::with_causes(&e)))
    }

    /// An async client on the database; its connection task is spawned on
    /// the current Tokio runtime.
    ///
    /// # Panics
    ///
    /// When the database does not accept the connection, or outside a
    /// Tokio runtime.
    ///
    /// ```no_run
    /// # async fn f() {
    /// let db = kiln::testing::TestDatabase::empty();
    /// let client = db.connect_async().await;
    /// client.batch_execute("SELECT 1").await.unwrap();
    /// # }
    /// ```
    #[cfg(feature = "tokio-postgres")]
    pub async fn connect_async(&self) -> tokio_postgres::Client {
        let (client, connection) = tokio_postgres::connect(&self.url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to test database {}: {}", self.name, crate::conn::with_causes(&e)));
        tokio::spawn(connection);
        client
    }

    /// Keeps the database after the guard goes and returns its URL: it
    /// lasts as long as the server (the throwaway cluster ends with the test
    /// binary; on a given server, the next run on this host drops it).
    pub fn keep(mut self) -> String {
        self.keep = true;
        std::mem::take(&mut self.url)
    }
}

/// Shows the name and the URL without its password.
impl std::fmt::Debug for TestDatabase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase").field("name", &self.name).field("url", &crate::redact::redact_url(&self.url)).finish()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if !self.keep {
            let name = std::mem::take(&mut self.name);
            off_runtime(move || server().drop_database(&name));
        }
    }
}

/// The template database for `migrations` at `target`, migrated on first use.
fn template_for(migrations: &Migrations, target: &str) -> Result<String, String> {
    let key = (migrations.fingerprint().to_string(), target.to_string());
    // One migration per template, even when tests ask at once.
    let mut templates = TEMPLATES.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(name) = templates.get_or_insert_with(HashMap::new).get(&key) {
        return Ok(name.clone());
    }
    let server = server();
    let mut admin = server.admin()?;
    let name = server.new_name("template");
    server.create(&mut admin, &name, None)?;
    let migrated = {
        let mut client = postgres::Client::connect(&server.url(&name), postgres::NoTls)
            .map_err(|e| format!("cannot connect to template database {name}: {}", crate::conn::with_causes(&e)))?;
        Migrator::new(*migrations).upgrade(&mut client, target).map(|_| ())
    };
    if let Err(e) = migrated {
        server.drop_database(&name);
        return Err(format!("kiln::testing cannot migrate a test database to `{target}`: {e}"));
    }
    templates.get_or_insert_with(HashMap::new).insert(key, name.clone());
    Ok(name)
}
