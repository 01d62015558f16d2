//! Connections made the way the CLI makes them: every wait bounded, TLS,
//! `application_name`, errors with their cause and without the password.

use std::time::Duration;

use crate::migrator::{Command, Migrator, Outcome};
use crate::redact::{password_of, redact_url, scrub};

/// How long a connection attempt may take by default, handshake included.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The reply timeout the CLI gives kiln's own queries ([`crate::Config::reply_timeout`]).
pub const DEFAULT_REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// A connection made the way the CLI makes them, with the single-threaded
/// runtime that drives it.
///
/// - Every wait is bounded: the TCP connect by `connect_timeout` (from the
///   URL, else `timeout`, else 10 s), and the whole attempt, TLS and the
///   startup handshake included, by the same deadline (a server that
///   accepts TCP and never answers does not hang the start). TCP
///   keepalives are on, so a peer that vanishes mid-run is noticed, and
///   [`Session::run`] bounds kiln's own queries by the reply timeout, so a
///   server that goes silent mid-run ends it with an error.
/// - The session's `application_name` is `kiln <binary>` unless the URL
///   sets one, so operators see kiln in `pg_stat_activity`.
/// - TLS (feature `tls`): `sslmode=verify-full` checks the certificate
///   against `sslrootcert` (or the system's roots) and the host name;
///   `verify-ca` the certificate only; `require`, as in libpq without a root
///   certificate, encrypts without verifying.
/// - Errors keep PostgreSQL's cause (message, SQLSTATE, detail, hint) or the
///   system's, with the password redacted.
///
/// ```no_run
/// let session = kiln::cli::connect("postgres://app@localhost/app")?;
/// let rows = session.block_on(session.client().simple_query("SELECT 1")).map_err(|e| e.to_string())?;
/// # let _ = rows;
/// # Ok::<(), String>(())
/// ```
pub struct Session {
    pub(crate) runtime: tokio::runtime::Runtime,
    client: tokio_postgres::Client,
}

impl Session {
    /// The connection.
    pub fn client(&self) -> &tokio_postgres::Client {
        &self.client
    }

    /// Drives a future (a query on [`Session::client`]) to completion.
    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }

    /// Runs a command, kiln's own queries bounded by the migrator's reply
    /// timeout ([`DEFAULT_REPLY_TIMEOUT`] when it sets none).
    pub fn run(&self, migrator: &Migrator, command: &Command) -> Result<Outcome, crate::Error> {
        bounded(migrator, |m| self.block_on(m.run_async(&self.client, command)))
    }

    /// The version table's rows.
    pub fn current(&self, migrator: &Migrator) -> Result<Vec<String>, crate::Error> {
        bounded(migrator, |m| self.block_on(m.current_async(&self.client)))
    }

    /// True when the database is at the graph's heads.
    pub fn check(&self, migrator: &Migrator) -> Result<crate::Readiness, crate::Error> {
        bounded(migrator, |m| self.block_on(m.readiness_async(&self.client)))
    }
}

/// Calls `f` with `migrator`, or, when it sets no reply timeout, with a copy
/// that has [`DEFAULT_REPLY_TIMEOUT`] (the CLI sets one, so it is not copied).
fn bounded<T>(migrator: &Migrator, f: impl FnOnce(&Migrator) -> T) -> T {
    if migrator.config().reply_timeout.is_some() {
        return f(migrator);
    }
    let config = migrator.config().clone().with_reply_timeout(Some(DEFAULT_REPLY_TIMEOUT));
    f(&Migrator::with_config(*migrator.migrations(), config))
}

/// Connects the way the CLI does (see [`Session`]).
pub fn connect(url: &str) -> Result<Session, String> {
    connect_with(url, None)
}

/// [`connect`] with a connect timeout for URLs that do not set one.
pub fn connect_with(url: &str, timeout: Option<Duration>) -> Result<Session, String> {
    let safe = redact_url(url);
    let (url_rest, sslmode) = take_param(url, "sslmode");
    let (url_rest, rootcert) = take_param(&url_rest, "sslrootcert");
    let verify = match sslmode.as_deref() {
        Some("verify-full") => Some(true),
        Some("verify-ca") => Some(false),
        _ => None,
    };
    let mut effective = url_rest.clone();
    if let Some(mode) = sslmode.as_deref() {
        let libpq = match mode {
            "verify-full" | "verify-ca" => "require",
            other => other,
        };
        effective = add_param(&url_rest, "sslmode", libpq);
    }
    let mut config: tokio_postgres::Config =
        effective.parse().map_err(|e| format!("bad database URL `{safe}`: {}", crate::conn::with_causes(&e)))?;
    let deadline = config.get_connect_timeout().copied().or(timeout).unwrap_or(DEFAULT_CONNECT_TIMEOUT);
    config.connect_timeout(deadline);
    // A peer that vanishes (keepalives: about a minute) or stops
    // acknowledging what kiln sends (a frozen host: 60 s) ends the run with
    // an error instead of a hang; one that acknowledges but never answers
    // is caught by the reply timeout on kiln's own queries. A migration
    // statement's own duration is bounded only by --statement-timeout: a
    // CREATE INDEX CONCURRENTLY may rightly run for hours.
    config
        .keepalives(true)
        .keepalives_idle(Duration::from_secs(30))
        .keepalives_interval(Duration::from_secs(10))
        .keepalives_retries(3)
        .tcp_user_timeout(Duration::from_secs(60));
    if config.get_application_name().is_none() {
        let exe = std::env::current_exe()
            .ok()
            .and_then(|p| p.file_name().map(|f| f.to_string_lossy().into_owned()))
            .unwrap_or_else(|| "kiln".into());
        config.application_name(format!("kiln {exe}"));
    }
    let where_ = {
        let hosts: Vec<String> = config
            .get_hosts()
            .iter()
            .map(|h| match h {
                tokio_postgres::config::Host::Tcp(h) => h.clone(),
                tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
            })
            .collect();
        let port = config.get_ports().first().copied().unwrap_or(5432);
        format!("{}:{port}", hosts.first().cloned().unwrap_or_else(|| "localhost".into()))
    };
    // `sslmode=disable` skips TLS set-up.
    let plain = matches!(sslmode.as_deref(), Some("disable"));
    #[cfg(feature = "tls")]
    let tls = if plain {
        None
    } else {
        let mut builder = native_tls::TlsConnector::builder();
        match verify {
            None => {
                // Nothing is verified, so the system's roots are not loaded
                // (parsing them costs every start tens of milliseconds of CPU).
                builder.danger_accept_invalid_certs(true).danger_accept_invalid_hostnames(true).disable_built_in_roots(true);
            }
            Some(full) => {
                if let Some(path) = &rootcert {
                    let pem = std::fs::read(path).map_err(|e| format!("cannot read sslrootcert `{path}`: {e}"))?;
                    let cert = native_tls::Certificate::from_pem(&pem)
                        .map_err(|e| format!("sslrootcert `{path}` is not a PEM certificate: {e}"))?;
                    builder.add_root_certificate(cert).disable_built_in_roots(true);
                }
                builder.danger_accept_invalid_hostnames(!full);
            }
        }
        Some(postgres_native_tls::MakeTlsConnector::new(builder.build().map_err(|e| format!("cannot set up TLS: {e}"))?))
    };
    #[cfg(not(feature = "tls"))]
    let tls = {
        if verify.is_some() {
            return Err("sslmode=verify-ca/verify-full needs kiln's `tls` feature".into());
        }
        let _ = (rootcert, plain);
        None::<tokio_postgres::NoTls>
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(|e| format!("cannot start the connection's runtime: {e}"))?;
    let secret = password_of(url);
    let explain = |e: tokio_postgres::Error| {
        // PostgreSQL's message, SQLSTATE, detail and hint; or the system's cause.
        let mut text = crate::conn::from_pg(&e).to_string();
        if text.contains("certificate verify failed") {
            text.push_str(
                "; the server's certificate was not accepted: check that sslrootcert is the CA that signed it and, with verify-full, \
                 that the host in the URL is a name the certificate is for",
            );
        }
        scrub(&format!("cannot connect to `{safe}`: {text}"), secret.as_deref())
    };
    // The driver bounds only the TCP connect: bound the whole attempt.
    let attempt = async {
        match tls {
            Some(tls) => {
                let (client, connection) = config.connect(tls).await?;
                tokio::spawn(async move { drop(connection.await) });
                Ok(client)
            }
            None => {
                let (client, connection) = config.connect(tokio_postgres::NoTls).await?;
                tokio::spawn(async move { drop(connection.await) });
                Ok(client)
            }
        }
    };
    match runtime.block_on(async { tokio::time::timeout(deadline + Duration::from_millis(500), attempt).await }) {
        Ok(Ok(client)) => Ok(Session { runtime, client }),
        Ok(Err(e)) => Err(explain(e)),
        Err(_) => Err(format!(
            "cannot connect to `{safe}`: the server at {where_} accepted the connection but did not answer within {} s (connect_timeout); \
             check that it is PostgreSQL and that it is not overloaded or frozen, or raise --connect-timeout",
            deadline.as_secs()
        )),
    }
}

/// Removes `key` from a URL's query string or a `key=value` connection
/// string, returning the rest and its value.
pub(crate) fn take_param(url: &str, key: &str) -> (String, Option<String>) {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let Some((base, query)) = url.split_once('?') else { return (url.to_string(), None) };
        let mut value = None;
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| match p.split_once('=') {
                Some((k, v)) if k == key => {
                    value = Some(v.to_string());
                    false
                }
                _ => true,
            })
            .collect();
        let rest = if kept.is_empty() { base.to_string() } else { format!("{base}?{}", kept.join("&")) };
        (rest, value)
    } else {
        let mut value = None;
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|p| match p.split_once('=') {
                Some((k, v)) if k == key => {
                    value = Some(v.trim_matches('\'').to_string());
                    false
                }
                _ => true,
            })
            .collect();
        (kept.join(" "), value)
    }
}

pub(crate) fn add_param(url: &str, key: &str, value: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        format!("{url}{}{key}={value}", if url.contains('?') { '&' } else { '?' })
    } else {
        format!("{url} {key}={value}")
    }
}
