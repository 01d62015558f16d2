//! Where test databases live: a throwaway cluster per test binary, or the
//! server `KILN_TEST_DATABASE_URL` (else `DATABASE_URL`) names.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::cluster::{with_database, Cluster};
use crate::redact::redact_url;

/// The PostgreSQL server a test binary's databases are created on.
pub struct Server {
    kind: Kind,
}

enum Kind {
    /// Started by this process; stopped and removed by its watchdog when the
    /// process ends, crashed or not.
    Local(Cluster),
    /// Given by the environment; each test database carries a comment naming
    /// this host and process, so a later run drops what a crashed one left.
    External { url: String },
}

/// Marks the databases kiln creates on a server it does not own.
const COMMENT: &str = "kiln::testing";

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

/// The test binary's server, started (or found) on first use and shared by
/// every test of the binary.
///
/// # Panics
///
/// When no server can be had: the PostgreSQL binaries are missing, the
/// cluster does not start, or the given URL does not connect. The message
/// names the cause and the fix.
///
/// ```no_run
/// let server = kiln::testing::server();
/// println!("tests use {}", server.describe());
/// ```
pub fn server() -> &'static Server {
    match SERVER.get_or_init(Server::start) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    }
}

impl Server {
    fn start() -> Result<Server, String> {
        let given = ["KILN_TEST_DATABASE_URL", "DATABASE_URL"].iter().find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()));
        match given {
            Some(url) => {
                let server = Server { kind: Kind::External { url } };
                let mut admin = server.admin()?;
                server.drop_leftovers(&mut admin);
                Ok(server)
            }
            None => Cluster::start().map(|c| Server { kind: Kind::Local(c) }).map_err(|e| {
                format!(
                    "kiln::testing cannot start a throwaway PostgreSQL: {e}\n\
                     help: install PostgreSQL's server binaries (initdb, pg_ctl), or set KILN_TEST_DATABASE_URL to a server \
                     where tests may create databases"
                )
            }),
        }
    }

    /// One line for a log: the throwaway cluster's directory, or the given
    /// server's URL without its password.
    pub fn describe(&self) -> String {
        match &self.kind {
            Kind::Local(c) => format!("a throwaway cluster in {} on port {}", c.dir().display(), c.port()),
            Kind::External { url } => redact_url(url),
        }
    }

    /// A URL for `database` on this server.
    pub fn url(&self, database: &str) -> String {
        match &self.kind {
            Kind::Local(c) => c.url(database),
            Kind::External { url } => with_database(url, database),
        }
    }

    /// The throwaway cluster, when this process started one (kiln's own
    /// fault-injection tests restart it and read its log).
    #[doc(hidden)]
    pub fn cluster(&self) -> Option<&Cluster> {
        match &self.kind {
            Kind::Local(c) => Some(c),
            Kind::External { .. } => None,
        }
    }

    pub(crate) fn admin(&self) -> Result<postgres::Client, String> {
        let url = match &self.kind {
            Kind::Local(c) => c.url("postgres"),
            Kind::External { url } => url.clone(),
        };
        postgres::Client::connect(&url, postgres::NoTls).map_err(|e| {
            format!(
                "kiln::testing cannot connect to {}: {}\nhelp: check KILN_TEST_DATABASE_URL (or DATABASE_URL); its role needs CREATEDB",
                redact_url(&url),
                crate::conn::with_causes(&e)
            )
        })
    }

    /// A new database name, unique on the server for this process.
    pub(crate) fn new_name(&self, kind: &str) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        format!("kiln_{kind}_{}_{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed))
    }

    /// Creates `name` (from `template` when given) and, on a server kiln
    /// does not own, marks it with this host and process.
    pub(crate) fn create(&self, admin: &mut postgres::Client, name: &str, template: Option<&str>) -> Result<(), String> {
        let sql = match template {
            Some(t) => format!("CREATE DATABASE \"{name}\" TEMPLATE \"{t}\""),
            None => format!("CREATE DATABASE \"{name}\""),
        };
        // A template being copied by another test is "being accessed by other users" for a moment.
        let mut tries = 0;
        loop {
            match admin.batch_execute(&sql) {
                Ok(()) => break,
                Err(e) if tries < 50 && e.code() == Some(&postgres::error::SqlState::OBJECT_IN_USE) => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20 * tries));
                }
                Err(e) => return Err(format!("kiln::testing cannot create database {name}: {}", crate::conn::with_causes(&e))),
            }
        }
        if let Kind::External { .. } = self.kind {
            let mark = format!("{COMMENT} host={} pid={}", host(), std::process::id());
            admin
                .batch_execute(&format!("COMMENT ON DATABASE \"{name}\" IS '{mark}'"))
                .map_err(|e| format!("kiln::testing cannot mark database {name}: {}", crate::conn::with_causes(&e)))?;
        }
        Ok(())
    }

    /// Drops `name`, closing any session still on it.
    pub(crate) fn drop_database(&self, name: &str) {
        if let Ok(mut admin) = self.admin() {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
        }
    }

    /// On a server kiln does not own: drops the databases an earlier run on
    /// this host left when it crashed (its process is gone).
    fn drop_leftovers(&self, admin: &mut postgres::Client) {
        let Ok(rows) = admin.query(
            "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
             WHERE datname LIKE 'kiln\\_%' AND shobj_description(oid, 'pg_database') LIKE $1",
            &[&format!("{COMMENT} host={} pid=%", host())],
        ) else {
            return;
        };
        for row in rows {
            let (name, comment): (String, String) = (row.get(0), row.get(1));
            let pid = comment.rsplit("pid=").next().and_then(|p| p.parse::<u32>().ok());
            if pid.is_some_and(|p| !std::path::Path::new(&format!("/proc/{p}")).exists()) {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"));
            }
        }
    }
}

/// This machine's name, to tell its leftovers from another machine's.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "unknown".into())
}
