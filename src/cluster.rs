//! A throwaway PostgreSQL cluster on loopback, for the main job and the
//! tests: `initdb` into a temporary directory, `pg_ctl start` on a free port,
//! stopped and removed on drop (and by a watchdog if this process dies).
//! PostgreSQL refuses to run as root, so as root every server command runs
//! as the `postgres` system user.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running throwaway cluster.
pub struct Cluster {
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
    stopped: bool,
}

/// Options for [`Cluster::start_with`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Serve TLS with a self-signed certificate (needs the `openssl` command).
    pub tls: bool,
}

fn find_bin() -> Result<PathBuf, String> {
    let on_path =
        std::env::var_os("PATH").and_then(|p| std::env::split_paths(&p).find(|d| d.join("initdb").is_file() && d.join("pg_ctl").is_file()));
    if let Some(d) = on_path {
        return Ok(d);
    }
    for v in ["17", "16", "15", "14"] {
        let d = PathBuf::from(format!("/usr/lib/postgresql/{v}/bin"));
        if d.join("initdb").is_file() {
            return Ok(d);
        }
    }
    Err("PostgreSQL server binaries (initdb, pg_ctl) are not on PATH nor in /usr/lib/postgresql/*/bin".into())
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

impl Cluster {
    /// Starts a cluster with default options.
    pub fn start() -> Result<Cluster, String> {
        Self::start_with(Options::default())
    }

    /// Starts a cluster.
    pub fn start_with(options: Options) -> Result<Cluster, String> {
        let bin = find_bin()?;
        let as_postgres = is_root();
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("kiln-pg-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| format!("no free port: {e}"))?.port();
        let cluster = Cluster { dir, bin, port, as_postgres, stopped: false };
        if as_postgres {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(&cluster.dir))?;
        }
        let data = cluster.dir.join("data");
        cluster.pg("initdb", |c| {
            c.arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]);
        })?;
        let mut settings = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            port,
            cluster.dir.display()
        );
        if options.tls {
            let (crt, key) = (data.join("server.crt"), data.join("server.key"));
            run(Command::new("openssl")
                .args([
                    "req",
                    "-x509",
                    "-newkey",
                    "rsa:2048",
                    "-nodes",
                    "-days",
                    "1",
                    "-subj",
                    "/CN=localhost",
                    "-addext",
                    "subjectAltName=DNS:localhost",
                    "-keyout",
                ])
                .arg(&key)
                .arg("-out")
                .arg(&crt))?;
            if as_postgres {
                run(Command::new("chown").args(["postgres:postgres"]).arg(&crt).arg(&key))?;
            }
            run(Command::new("chmod").arg("600").arg(&key))?;
            settings.push_str(" -c ssl=on -c ssl_cert_file=server.crt -c ssl_key_file=server.key");
        }
        let log = cluster.dir.join("log");
        cluster
            .pg("pg_ctl", |c| {
                c.arg("-D").arg(&data).arg("-l").arg(&log).args(["-w", "-t", "60", "-o"]).arg(&settings).arg("start");
            })
            .map_err(|e| format!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()))?;
        cluster.watchdog();
        Ok(cluster)
    }

    /// Runs a server binary, as `postgres` when we are root.
    fn pg(&self, tool: &str, args: impl FnOnce(&mut Command)) -> Result<(), String> {
        let path = self.bin.join(tool);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        args(&mut c);
        run(&mut c)
    }

    /// Stops the cluster if this process dies without dropping it.
    fn watchdog(&self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let stop = format!(
            "{}{} -D {} -m immediate stop >/dev/null 2>&1",
            if self.as_postgres { "runuser -u postgres -- " } else { "" },
            pg_ctl.display(),
            self.dir.join("data").display()
        );
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 1; done; if [ -d {dir} ]; then {stop}; rm -rf {dir}; fi",
            pid = std::process::id(),
            dir = self.dir.display()
        );
        let _ = Command::new("sh").arg("-c").arg(script).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    }

    /// The server's self-signed certificate (for `localhost`), which is also
    /// the root to verify it against, when started with TLS.
    pub fn tls_certificate(&self) -> Option<PathBuf> {
        Some(self.dir.join("data").join("server.crt")).filter(|p| p.is_file())
    }

    /// Restarts the server (`pg_ctl restart -m fast`, same settings): every
    /// session is cut, as when a primary restarts.
    pub fn restart(&self) -> Result<(), String> {
        let data = self.dir.join("data");
        self.pg("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "fast", "-w", "-t", "60", "restart"]).arg("-l").arg(self.dir.join("log"));
        })
    }

    /// The port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for a database of this cluster (user `postgres`, trust auth).
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The cluster's directory (data, log, socket).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Stops the server and removes its directory.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let data = self.dir.join("data");
        let _ = self.pg("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "fast", "-w", "stop"]);
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(c: &mut Command) -> Result<(), String> {
    let out = c.stdin(Stdio::null()).output().map_err(|e| format!("cannot run {c:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{c:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// `url` with its database replaced: the path of a `postgres://` URL, or a
/// `dbname=` appended to a key-value string (the last one wins).
pub(crate) fn with_database(url: &str, database: &str) -> String {
    let Some(rest) = url.strip_prefix("postgres://").or_else(|| url.strip_prefix("postgresql://")) else {
        return format!("{url} dbname={database}");
    };
    let scheme = &url[..url.len() - rest.len()];
    let (before_query, query) = match rest.find('?') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let authority = before_query.split('/').next().unwrap_or(before_query);
    format!("{scheme}{authority}/{database}{query}")
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn a_database_replaces_the_one_in_the_url() {
        assert_eq!(with_database("postgres://u:p@h:5432/app?sslmode=disable", "t1"), "postgres://u:p@h:5432/t1?sslmode=disable");
        assert_eq!(with_database("postgresql://h", "t1"), "postgresql://h/t1");
        assert_eq!(with_database("host=h user=u", "t1"), "host=h user=u dbname=t1");
    }
}
