//! The `kiln` command line, with Alembic's subcommand names and arguments,
//! over an embedded set (or `--dir PATH`, loaded at run time through the same
//! kiln-core parser and validation).
//!
//! A binary that embeds its own migrations offers the same commands in a few
//! lines:
//!
//! ```no_run
//! static MIGRATIONS: kiln::Migrations = kiln::Migrations::__new(&[], &[], "migrations", "");
//! fn main() {
//!     std::process::exit(kiln::cli::run(MIGRATIONS, std::env::args().skip(1)));
//! }
//! ```
//!
//! Exit codes: 0 success, 1 error, 2 bad usage, 3 `check` found the database
//! not at head.

use std::fmt::Write as _;
use std::time::Duration;

use kiln_core::Direction;

use crate::migrator::{Command, Config, DriftPolicy, Migrator, Outcome, Resolution, TransactionMode};
use crate::offline::{json_list, json_string, parse_range};
use crate::redact::{password_of, redact_url, scrub};
use crate::Migrations;

const USAGE: &str = "\
usage: kiln [options] <command> [args]

commands (Alembic's names and arguments):
  upgrade <target> [--sql]        apply revisions: head, heads, <rev>, +N, <label>@head
  downgrade <target> [--sql]      revert revisions: -N, <rev>, base, <label>@base
  stamp <target> [--purge] [--sql]  set the version table without running SQL
  current                         the database's current revision(s)
  check                           exit 3 unless the database is at head (readiness probes);
                                  with --dir and no database URL: validate and lint the directory
                                  (exit 1 on errors, or on warnings with --deny-warnings)
  history [-r start:end] [--indicate-current]
  heads | branches | show <rev>
  accept-checksum [<rev>...]      accept edited files' checksums (all drifted when none given)
  resolve-interrupted [<rev>] --retry|--skip|--abandon
                                  a non-transactional revision that stopped part-way: run the
                                  statement it stopped at again, count it as done, or give the run up
  revision -m <message> [--head <rev>] [--branch-label <l>] [--depends-on <rev>] [--non-transactional]
  merge -m <message> [<rev>... | heads]
  init [<dir>]                    create a migrations directory (default ./migrations) with a commented kiln.toml

--sql takes a range start:end (start may list several heads: a,b:head) and prints the
script instead of connecting; with --format json it prints the plan.

options:
  --database-url <url>      or DATABASE_URL
  --dir <path>              the migrations directory (default: named by a kiln.toml from here up, or ./migrations;
                            in a binary with embedded migrations: instead of them)
  --format human|json       output format (default human)
  --schema <name>           schema of the version and history tables
  --version-table <name>    default alembic_version
  --lock-wait <seconds>     how long to wait for another runner (default 300)
  --connect-timeout <s>     bound on connecting, handshake included (default 10; connect_timeout in the URL wins)
  --reply-timeout <s>       bound on each of kiln's own queries (default 60): a server that goes silent mid-run
                            ends it with an error; migration statements are bounded by --statement-timeout only
  --lock-timeout <ms>       lock_timeout for migration statements
  --statement-timeout <ms>  statement_timeout for migration statements
  --single-transaction      run the whole upgrade in one transaction
  --allow-unknown           accept a database at a revision this binary does not know
  --ignore-drift            warn instead of failing on edited applied revisions
  --deny-warnings           `check --dir`: fail on lint warnings too (--format json: one object per finding)
  -v, --verbose             more detail
";

struct Args {
    command: Option<String>,
    positional: Vec<String>,
    database_url: Option<String>,
    dir: Option<String>,
    json: bool,
    sql: bool,
    purge: bool,
    verbose: bool,
    indicate_current: bool,
    range: Option<String>,
    message: Option<String>,
    head: Option<String>,
    branch_label: Option<String>,
    depends_on: Option<String>,
    non_transactional: bool,
    deny_warnings: bool,
    resolution: Option<Resolution>,
    connect_timeout: Option<Duration>,
    config: Config,
}

fn parse(args: Vec<String>) -> Result<Args, String> {
    let mut a = Args {
        command: None,
        positional: Vec::new(),
        database_url: std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty()),
        dir: None,
        json: false,
        sql: false,
        purge: false,
        verbose: false,
        indicate_current: false,
        range: None,
        message: None,
        head: None,
        branch_label: None,
        depends_on: None,
        non_transactional: false,
        deny_warnings: false,
        resolution: None,
        connect_timeout: None,
        config: Config::default(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value =
            |name: &str| -> Result<String, String> { inline.clone().or_else(|| it.next()).ok_or_else(|| format!("{name} needs a value")) };
        let millis = |v: String, name: &str| -> Result<Duration, String> {
            v.parse::<u64>().map(Duration::from_millis).map_err(|_| format!("{name} takes milliseconds, not `{v}`"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--database-url" => a.database_url = Some(value("--database-url")?),
            "--dir" => a.dir = Some(value("--dir")?),
            "--format" => match value("--format")?.as_str() {
                "json" => a.json = true,
                "human" => a.json = false,
                other => return Err(format!("unknown format `{other}`; use human or json")),
            },
            "--schema" => a.config.tables.schema = Some(value("--schema")?),
            "--version-table" => a.config.tables.version_table = value("--version-table")?,
            "--lock-wait" => {
                let v = value("--lock-wait")?;
                a.config.lock_wait = Duration::from_secs(v.parse().map_err(|_| format!("--lock-wait takes seconds, not `{v}`"))?);
            }
            "--lock-timeout" => a.config.lock_timeout = Some(millis(value("--lock-timeout")?, "--lock-timeout")?),
            "--statement-timeout" => a.config.statement_timeout = Some(millis(value("--statement-timeout")?, "--statement-timeout")?),
            "--single-transaction" => a.config.transaction_mode = TransactionMode::Whole,
            "--allow-unknown" => a.config.allow_unknown_revisions = true,
            "--ignore-drift" => a.config.drift = DriftPolicy::Warn,
            "--sql" => a.sql = true,
            "--purge" => a.purge = true,
            "-v" | "--verbose" => a.verbose = true,
            "-i" | "--indicate-current" => a.indicate_current = true,
            "-r" | "--rev-range" => a.range = Some(value("-r")?),
            "-m" | "--message" => a.message = Some(value("-m")?),
            "--head" => a.head = Some(value("--head")?),
            "--branch-label" => a.branch_label = Some(value("--branch-label")?),
            "--depends-on" => a.depends_on = Some(value("--depends-on")?),
            "--non-transactional" => a.non_transactional = true,
            "--deny-warnings" => a.deny_warnings = true,
            "--retry" => a.resolution = Some(Resolution::Retry),
            "--skip" => a.resolution = Some(Resolution::Skip),
            "--abandon" => a.resolution = Some(Resolution::Abandon),
            "--connect-timeout" => {
                let v = value("--connect-timeout")?;
                a.connect_timeout =
                    Some(Duration::from_secs(v.parse().map_err(|_| format!("--connect-timeout takes seconds, not `{v}`"))?));
            }
            "--reply-timeout" => {
                let v = value("--reply-timeout")?;
                let secs: u64 = v
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| format!("--reply-timeout takes a number of seconds above 0, not `{v}`"))?;
                a.config.reply_timeout = Some(Duration::from_secs(secs));
            }
            f if f.starts_with('-') && f.len() > 1 && !f[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                return Err(format!("unknown option `{f}`"))
            }
            _ if a.command.is_none() => a.command = Some(arg),
            _ => a.positional.push(arg),
        }
    }
    const COMMANDS: [&str; 15] = [
        "upgrade",
        "downgrade",
        "stamp",
        "current",
        "check",
        "history",
        "heads",
        "branches",
        "show",
        "accept-checksum",
        "resolve-interrupted",
        "revision",
        "merge",
        "init",
        "help",
    ];
    match a.command.as_deref() {
        Some("help") => return Err(String::new()),
        Some(c) if !COMMANDS.contains(&c) => return Err(format!("unknown command `{c}`")),
        Some(c @ ("upgrade" | "downgrade" | "stamp" | "show")) if a.positional.is_empty() => {
            return Err(format!("`kiln {c}` needs a target, such as `head`, `-1` or a revision id"))
        }
        _ => {}
    }
    Ok(a)
}

/// Runs the CLI over a binary's embedded `migrations` (or `--dir`) with
/// `args` (without the program name) and returns the process exit code.
/// Without a command it prints the usage and returns 2: it never does
/// anything its arguments did not ask for.
pub fn run(migrations: Migrations, args: impl IntoIterator<Item = String>) -> i32 {
    run_over(Some(migrations), args)
}

/// Runs the CLI over a migrations directory on disk: `--dir`, else the one
/// a `kiln.toml` from the current directory up names (`migrations =
/// "db/migrations"`) or sits in, else `./migrations`. This is the stock
/// `kiln` command; without a directory it refuses and says how to name one.
pub fn run_dir(args: impl IntoIterator<Item = String>) -> i32 {
    run_over(None, args)
}

fn run_over(embedded: Option<Migrations>, args: impl IntoIterator<Item = String>) -> i32 {
    let mut args = match parse(args.into_iter().collect()) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            print!("{USAGE}");
            return 0;
        }
        Err(e) => {
            eprintln!("error: {e}\n\n{USAGE}");
            return 2;
        }
    };
    let Some(command) = args.command.clone() else {
        eprint!("{USAGE}");
        return 2;
    };
    if embedded.is_none() && args.dir.is_none() && command != "init" {
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        match find_migrations_dir(&cwd) {
            Ok((dir, notes)) => {
                for n in notes {
                    eprintln!("warning: {n}");
                }
                args.dir = Some(dir);
            }
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let secret = args.database_url.as_deref().and_then(password_of);
    match dispatch(embedded, &args) {
        Ok(code) => code,
        Err(Failure { code, message }) => {
            eprintln!("error: {}", scrub(&message, secret.as_deref()));
            code
        }
    }
}

/// Where the stock `kiln` command finds the migrations when `--dir` is not
/// given: the nearest `kiln.toml` from `start` up that names a directory
/// (`migrations = "..."`, relative to the file) or sits in one (the
/// directory's own settings file); else `start/migrations`. Returns the
/// directory as it should be shown, and notes for the user.
pub fn find_migrations_dir(start: &std::path::Path) -> Result<(String, Vec<String>), String> {
    let shown = |p: &std::path::Path| match p.strip_prefix(start) {
        Ok(rel) if rel.as_os_str().is_empty() => ".".to_string(),
        Ok(rel) => rel.display().to_string(),
        Err(_) => p.display().to_string(),
    };
    for dir in start.ancestors() {
        let file = dir.join(kiln_core::config::CONFIG_FILE);
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let config = kiln_core::config::Config::parse(&text, 0).map_err(|errors| {
            let first = errors.first().map(|d| d.message.clone()).unwrap_or_default();
            format!("{} is not a valid kiln.toml: {first}", file.display())
        })?;
        let mut notes = Vec::new();
        let found = match &config.migrations {
            Some(rel) => {
                let target = dir.join(rel);
                if config != (kiln_core::config::Config { migrations: config.migrations.clone(), ..Default::default() }) {
                    notes.push(format!(
                        "{} names the migrations directory; its other settings are not read: put them in {}",
                        file.display(),
                        target.join(kiln_core::config::CONFIG_FILE).display()
                    ));
                }
                if !target.is_dir() {
                    return Err(format!(
                        "{} says the migrations are in `{rel}`, which is not a directory ({}); create it or fix the path",
                        file.display(),
                        target.display()
                    ));
                }
                target
            }
            None => dir.to_path_buf(),
        };
        return Ok((shown(&found), notes));
    }
    let default = start.join("migrations");
    if default.is_dir() {
        return Ok(("migrations".into(), Vec::new()));
    }
    Err(format!(
        "no migrations directory here ({}): pass --dir <path>, run `kiln init` to create ./migrations, \
         or name the directory in a kiln.toml at the project's root (`migrations = \"db/migrations\"`)",
        start.display()
    ))
}

/// `kiln init [<dir>]`: a new migrations directory with a commented `kiln.toml`.
fn init(args: &Args) -> Result<i32, String> {
    let dir = args.positional.first().cloned().or_else(|| args.dir.clone()).unwrap_or_else(|| "migrations".into());
    let path = std::path::Path::new(&dir);
    if path.exists() && std::fs::read_dir(path).map(|mut d| d.next().is_some()).unwrap_or(true) {
        return Err(format!("`{dir}` already exists and is not empty: kiln init only creates a new directory"));
    }
    std::fs::create_dir_all(path).map_err(|e| format!("cannot create `{dir}`: {e}"))?;
    std::fs::write(path.join(kiln_core::config::CONFIG_FILE), INIT_CONFIG).map_err(|e| format!("cannot write `{dir}/kiln.toml`: {e}"))?;
    println!("created {dir}/ and {dir}/kiln.toml; next: kiln --dir {dir} revision -m \"create first table\"");
    Ok(0)
}

const INIT_CONFIG: &str = "\
# kiln settings for this migrations directory, read by the build script,
# embed_migrations! and the kiln command alike. Every key is optional.

# Several heads are normally an accident; allow them for good:
# allow_multiple_heads = false
# Several bases too, unless each carries a branch label:
# allow_multiple_bases = false
# A stricter pattern for revision ids:
# revision_id_pattern = \"[0-9a-f]{12}\"

# Lint levels (\"allow\", \"warn\" or \"error\") by rule name:
[lints]
# drop-column-or-table = \"error\"
";

/// `kiln check --dir <path>` without a database: the build's validation
/// and lint pass, for CI before merge.
fn lint_dir(args: &Args) -> Result<i32, String> {
    let dir = args.dir.as_deref().unwrap_or("migrations");
    let (report, revisions) = match kiln_core::load_dir(std::path::Path::new(dir), dir.trim_end_matches('/')) {
        Ok(set) => {
            let n = set.revisions.len();
            (set.report, Some(n))
        }
        Err(report) => (report, None),
    };
    let errors = report.diagnostics.iter().filter(|d| d.severity == kiln_core::Severity::Error).count();
    let warnings = report.diagnostics.len() - errors;
    if args.json {
        println!("{}", diagnostics_json(&report));
    } else {
        for d in &report.diagnostics {
            eprintln!("{}\n", d.render(&report.sources));
        }
        match revisions {
            Some(n) => println!("{dir}: {n} revision(s) checked, {warnings} warning(s)"),
            None => println!("{dir}: {errors} error(s), {warnings} warning(s)"),
        }
    }
    Ok(if errors > 0 || (args.deny_warnings && warnings > 0) { 1 } else { 0 })
}

/// Diagnostics as a JSON array, one object per finding, for CI annotations:
/// `severity`, `code`, `message`, `file`, `line`, `column` (1-based; null
/// without a location) and `help`.
fn diagnostics_json(report: &kiln_core::Report) -> String {
    let items: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| {
            let place = d.location.as_ref().and_then(|l| report.sources.get(l.file).map(|f| (f, f.line_col(l.span.start))));
            let (file, line, column) = match place {
                Some((f, (line, col))) => (json_string(&f.display), line.to_string(), col.to_string()),
                None => ("null".into(), "null".into(), "null".into()),
            };
            let severity = if d.severity == kiln_core::Severity::Error { "error" } else { "warning" };
            format!(
                "{{\"severity\":\"{severity}\",\"code\":{},\"message\":{},\"file\":{file},\"line\":{line},\"column\":{column},\"help\":{}}}",
                json_string(d.code),
                json_string(&d.message),
                d.help.as_deref().map_or("null".into(), json_string)
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn load(embedded: Option<Migrations>, args: &Args) -> Result<Migrations, String> {
    match (&args.dir, embedded) {
        (Some(dir), _) => kiln_core::load_dir(std::path::Path::new(dir), dir.trim_end_matches('/'))
            .map(|set| {
                for d in &set.report.diagnostics {
                    eprintln!("{}", d.render(&set.report.sources));
                }
                set.leak()
            })
            .map_err(|report| format!("{} is not a valid migrations directory:\n\n{}", dir, report.render())),
        (None, Some(m)) => Ok(m),
        (None, None) => Err("no embedded migrations: pass --dir <path>".into()),
    }
}

/// How long a connection attempt may take by default, handshake included.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The reply timeout the CLI gives kiln's own queries ([`Config::reply_timeout`]).
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
    runtime: tokio::runtime::Runtime,
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
        self.block_on(self.with_bound(migrator).run_async(&self.client, command))
    }

    /// The version table's rows.
    pub fn current(&self, migrator: &Migrator) -> Result<Vec<String>, crate::Error> {
        let bounded = self.with_bound(migrator);
        self.block_on(bounded.current_heads(&mut crate::tokio::AsyncConn::new(&self.client)))
    }

    /// True when the database is at the graph's heads.
    pub fn check(&self, migrator: &Migrator) -> Result<bool, crate::Error> {
        self.block_on(self.with_bound(migrator).check_async(&self.client))
    }

    fn with_bound(&self, migrator: &Migrator) -> Migrator {
        let mut config = migrator.config().clone();
        config.reply_timeout = config.reply_timeout.or(Some(DEFAULT_REPLY_TIMEOUT));
        Migrator::with_config(*migrator.migrations(), config)
    }
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
fn take_param(url: &str, key: &str) -> (String, Option<String>) {
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

fn add_param(url: &str, key: &str, value: &str) -> String {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        format!("{url}{}{key}={value}", if url.contains('?') { '&' } else { '?' })
    } else {
        format!("{url} {key}={value}")
    }
}

/// Exit code: the command succeeded.
pub const EXIT_OK: i32 = 0;
/// Exit code: an error (connection, SQL, a bad file, a lock timeout...).
pub const EXIT_ERROR: i32 = 1;
/// Exit code: bad usage (an unknown command or option, a missing argument).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: `check` found revisions pending.
pub const EXIT_PENDING: i32 = 3;
/// Exit code: the database's state needs a person before anything runs: a
/// revision this binary does not know (without `--allow-unknown`), an
/// applied revision edited since, a non-transactional revision stopped
/// part-way that kiln cannot settle, a revision that ends its own transaction.
pub const EXIT_NEEDS_PERSON: i32 = 4;

/// A command's failure: what to print and the exit code.
struct Failure {
    code: i32,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { code: EXIT_ERROR, message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure { code: EXIT_ERROR, message: message.into() }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Failure { code: if e.needs_person() { EXIT_NEEDS_PERSON } else { EXIT_ERROR }, message: e.to_string() }
    }
}

fn dispatch(embedded: Option<Migrations>, args: &Args) -> Result<i32, Failure> {
    let Some(command) = args.command.as_deref() else {
        return Ok(2);
    };
    let pos = |i: usize, what: &str| -> Result<String, String> {
        args.positional.get(i).cloned().ok_or_else(|| format!("`kiln {command}` needs {what}"))
    };
    match command {
        "revision" | "merge" => return Ok(new_revision(command, args)?),
        "init" => return Ok(init(args)?),
        "check" if args.database_url.is_none() && args.dir.is_some() => return Ok(lint_dir(args)?),
        _ => {}
    }
    let migrations = load(embedded, args)?;
    let migrator = Migrator::with_config(migrations, args.config.clone());
    match command {
        "heads" => Ok(print_listing(&migrator, args, Listing::Heads)),
        "branches" => Ok(print_listing(&migrator, args, Listing::Branches)),
        "show" => Ok(show(&migrator, args, &pos(0, "a revision")?)?),
        "history" => Ok(history(&migrator, args)?),
        "upgrade" | "downgrade" if args.sql => {
            let direction = if command == "upgrade" { Direction::Up } else { Direction::Down };
            let (start, end) = parse_range(&pos(0, "a target or a start:end range")?);
            let plan = migrator.plan(&start, &end, direction).map_err(|e| e.to_string())?;
            if args.json {
                println!("{}", migrator.plan_json(&plan));
            } else {
                print!("{}", migrator.offline_script(&plan).map_err(|e| e.to_string())?);
            }
            Ok(0)
        }
        "stamp" if args.sql => {
            let (start, end) = parse_range(&pos(0, "a target")?);
            let start = migrator.resolve_heads(&start).map_err(|e| e.to_string())?;
            let (_, sql) = migrator.stamp_sql(&start, &end, args.purge).map_err(|e| e.to_string())?;
            print!("{}BEGIN;\n{sql}COMMIT;\n", migrator.config().tables.create_sql());
            Ok(0)
        }
        _ => {
            let url = args.database_url.clone().ok_or("set DATABASE_URL or pass --database-url")?;
            let session = connect_with(&url, args.connect_timeout)?;
            online(&migrator, &session, command, args, &pos)
        }
    }
}

fn online(
    migrator: &Migrator,
    session: &Session,
    command: &str,
    args: &Args,
    pos: &dyn Fn(usize, &str) -> Result<String, String>,
) -> Result<i32, Failure> {
    let streaming = Streaming::new(args.json);
    let live = streaming.migrator(migrator);
    let run = |c: Command| {
        let ticker = session.runtime.spawn(streaming.ticker());
        let result = session.run(&live, &c);
        ticker.abort();
        result
    };
    let outcome = match command {
        "upgrade" => run(Command::Upgrade(pos(0, "a target such as `head`")?))?,
        "downgrade" => run(Command::Downgrade(pos(0, "a target such as `-1` or `base`")?))?,
        "stamp" => run(Command::Stamp { target: pos(0, "a target")?, purge: args.purge })?,
        "accept-checksum" => run(Command::AcceptChecksums(args.positional.clone()))?,
        "resolve-interrupted" => {
            let action = args.resolution.ok_or("`kiln resolve-interrupted [<rev>]` needs --retry, --skip or --abandon")?;
            run(Command::ResolveInterrupted { revision: args.positional.first().cloned(), action })?
        }
        "current" => {
            let heads = session.current(migrator)?;
            if args.json {
                println!("{{\"current\":{}}}", json_list(&heads));
            } else if heads.is_empty() {
                println!("(base: the version table is empty)");
            } else {
                for h in &heads {
                    println!("{}", describe(migrator, h, true));
                }
            }
            return Ok(0);
        }
        "check" => {
            let at_head = session.check(migrator)?;
            let heads = session.current(migrator)?;
            if args.json {
                println!("{{\"at_head\":{at_head},\"current\":{}}}", json_list(&heads));
            } else if at_head {
                println!("the database is at head ({})", heads.join(", "));
            } else {
                let pending = migrator.graph().plan_upgrade(&heads, "heads").map(|p| p.steps.len()).unwrap_or(0);
                println!(
                    "the database is not at head: {pending} revision(s) pending (current: {})",
                    if heads.is_empty() { "base".into() } else { heads.join(", ") }
                );
            }
            return Ok(if at_head { 0 } else { 3 });
        }
        other => return Err(format!("unknown command `{other}`; see `kiln --help`").into()),
    };
    print_outcome(migrator, &outcome, args.json, !args.json);
    Ok(0)
}

/// Live output while a command runs: each revision's line as it commits
/// (stdout), the lock holder when waiting for it, and every 10 s the
/// elapsed time of a revision or statement still running (stderr). With
/// `--format json` only the last two, so stdout stays one JSON document.
struct Streaming {
    json: bool,
    running: std::sync::Arc<std::sync::Mutex<Option<(String, std::time::Instant)>>>,
}

impl Streaming {
    fn new(json: bool) -> Self {
        Streaming { json, running: Default::default() }
    }

    fn migrator(&self, migrator: &Migrator) -> Migrator {
        let (json, running) = (self.json, self.running.clone());
        let mut config = migrator.config().clone();
        config.on_progress = Some(std::sync::Arc::new(move |p: &crate::Progress<'_>| {
            let now = std::time::Instant::now();
            let set = |label: String| *running.lock().unwrap_or_else(|e| e.into_inner()) = Some((label, now));
            match p {
                crate::Progress::LockWait { .. } => eprintln!("{p}"),
                crate::Progress::Started { revision, direction, .. } => set(format!("{} {revision}", direction.as_str())),
                crate::Progress::Statement { revision, index, total, .. } => set(format!("{revision}, statement {index} of {total}")),
                crate::Progress::Done { .. } => {
                    *running.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    if !json {
                        println!("{p}");
                    }
                }
            }
        }));
        Migrator::with_config(*migrator.migrations(), config)
    }

    /// Says every 10 s what is still running (runs on the session's runtime
    /// while the command waits for the server).
    fn ticker(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let running = self.running.clone();
        async move {
            let mut last_said = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = running.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let Some((label, since)) = now else { continue };
                let secs = since.elapsed().as_secs();
                if secs >= 10 && secs / 10 != last_said {
                    last_said = secs / 10;
                    eprintln!("  still running: {label} ({secs} s)");
                }
            }
        }
    }
}

fn print_outcome(migrator: &Migrator, o: &Outcome, json: bool, streamed: bool) {
    if json {
        let steps: Vec<String> = o
            .applied
            .iter()
            .map(|s| {
                format!(
                    "{{\"direction\":\"{}\",\"revision\":{},\"ms\":{}}}",
                    if s.direction == Direction::Up { "up" } else { "down" },
                    json_string(&s.revision),
                    s.duration.as_millis()
                )
            })
            .collect();
        println!(
            "{{\"before\":{},\"after\":{},\"applied\":[{}],\"warnings\":{},\"changes\":{}}}",
            json_list(&o.before),
            json_list(&o.after),
            steps.join(","),
            json_list(&o.warnings),
            json_list(&o.changes)
        );
        return;
    }
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    for c in &o.changes {
        println!("{c}");
    }
    if !streamed {
        for s in &o.applied {
            let rev = migrator.migrations().get(&s.revision);
            let msg = rev.map_or("", |r| r.message);
            let verb = s.direction.as_str();
            println!("{verb:>9} {} ({:>7.1} ms) {msg}", s.revision, s.duration.as_secs_f64() * 1e3);
        }
    }
    if o.applied.is_empty() && o.before == o.after {
        println!("nothing to do: the database is at {}", if o.after.is_empty() { "base".into() } else { o.after.join(", ") });
    } else {
        println!("now at {}", if o.after.is_empty() { "base".into() } else { o.after.join(", ") });
    }
}

/// `<parents> -> <id> (head), message`, as `alembic history` prints.
fn describe(migrator: &Migrator, id: &str, with_marks: bool) -> String {
    let g = migrator.graph();
    let Some(i) = g.index_of(id) else { return format!("{id} (unknown to this binary)") };
    let rev = migrator.migrations().at(i);
    let mut marks = Vec::new();
    if with_marks {
        if g.heads().contains(&i) {
            marks.push("head");
        }
        if g.is_branch_point(i) {
            marks.push("branchpoint");
        }
        if g.is_merge_point(i) {
            marks.push("mergepoint");
        }
    }
    let labels: Vec<&str> = g.branch_labels(i).collect();
    let label = if labels.is_empty() { String::new() } else { format!(" ({})", labels.join(", ")) };
    let marks = if marks.is_empty() { String::new() } else { format!(" ({})", marks.join(", ")) };
    let parents = if rev.down_revisions.is_empty() { "<base>".to_string() } else { rev.down_revisions.join(", ") };
    format!("{parents} -> {id}{label}{marks}, {}", rev.message)
}

enum Listing {
    Heads,
    Branches,
}

fn print_listing(migrator: &Migrator, args: &Args, which: Listing) -> i32 {
    let g = migrator.graph();
    let revs: Vec<usize> = match which {
        Listing::Heads => g.heads().to_vec(),
        Listing::Branches => (0..g.len()).filter(|&r| g.is_branch_point(r)).collect(),
    };
    if args.json {
        let ids: Vec<&str> = revs.iter().map(|&r| g.id(r)).collect();
        println!("{}", json_list(&ids));
        return 0;
    }
    for r in revs {
        println!("{}", describe(migrator, g.id(r), true));
        if matches!(which, Listing::Branches) {
            for &c in g.children(r) {
                println!("    -> {}", describe(migrator, g.id(c), false));
            }
        }
    }
    0
}

fn show(migrator: &Migrator, args: &Args, ident: &str) -> Result<i32, String> {
    let g = migrator.graph();
    let revs = g.resolve(ident).map_err(|e| e.to_string())?;
    for r in revs {
        let rev = migrator.migrations().at(r);
        if args.json {
            println!(
                "{{\"revision\":{},\"message\":{},\"down_revisions\":{},\"depends_on\":{},\"branch_labels\":{},\"file\":{},\"create_date\":{},\"transactional\":{},\"reversible\":{},\"checksum\":{}}}",
                json_string(rev.id),
                json_string(rev.message),
                json_list(rev.down_revisions),
                json_list(rev.depends_on),
                json_list(&g.branch_labels(r).collect::<Vec<_>>()),
                json_string(rev.file_name),
                json_string(rev.create_date),
                rev.transactional,
                rev.is_reversible(),
                json_string(rev.checksum)
            );
            continue;
        }
        let mut out = String::new();
        let _ = writeln!(out, "Rev: {}{}", rev.id, if g.heads().contains(&r) { " (head)" } else { "" });
        let _ = writeln!(out, "Parent: {}", if rev.down_revisions.is_empty() { "<base>".into() } else { rev.down_revisions.join(", ") });
        if !rev.depends_on.is_empty() {
            let _ = writeln!(out, "Also depends on: {}", rev.depends_on.join(", "));
        }
        let labels: Vec<&str> = g.branch_labels(r).collect();
        if !labels.is_empty() {
            let _ = writeln!(out, "Branch names: {}", labels.join(", "));
        }
        let _ = writeln!(out, "Path: {}/{}", migrator.migrations().source_dir(), rev.file_name);
        let _ = writeln!(out, "Create Date: {}", rev.create_date);
        let _ = writeln!(out, "Transactional: {}\nChecksum: {}\n\n    {}\n", rev.transactional, rev.checksum, rev.message);
        let _ = writeln!(out, "-- upgrade\n{}", rev.upgrade_sql().trim());
        match rev.downgrade_sql() {
            Some(d) => {
                let _ = writeln!(out, "-- downgrade\n{}", d.trim());
            }
            None => {
                let _ = writeln!(out, "-- irreversible: no downgrade");
            }
        }
        print!("{out}");
    }
    Ok(0)
}

fn history(migrator: &Migrator, args: &Args) -> Result<i32, String> {
    let g = migrator.graph();
    let current: Vec<String> = if args.indicate_current {
        let url = args.database_url.clone().ok_or("--indicate-current needs DATABASE_URL or --database-url")?;
        connect_with(&url, args.connect_timeout)?.current(migrator).map_err(|e| e.to_string())?
    } else {
        Vec::new()
    };
    let (start, end) = match &args.range {
        Some(r) => {
            let (s, e) = r.split_once(':').ok_or("-r takes start:end")?;
            (s.to_string(), e.to_string())
        }
        None => (String::new(), String::new()),
    };
    let resolve_one = |s: &str| -> Result<Option<Vec<usize>>, String> {
        match s {
            "" | "base" => Ok(None),
            "current" => Ok(Some(current.iter().filter_map(|c| g.index_of(c)).collect())),
            other => g.resolve(other).map(Some).map_err(|e| e.to_string()),
        }
    };
    let lower = resolve_one(&start)?;
    let upper = match end.as_str() {
        "" | "heads" | "head" => None,
        other => resolve_one(other)?,
    };
    let below_upper = upper.as_ref().map(|u| g.applied_with(u));
    let above_lower = lower.as_ref().map(|l| g.descendants_with(l));
    let order: Vec<usize> = migrator
        .migrations()
        .history()
        .filter_map(|r| g.index_of(r.id))
        .filter(|&r| below_upper.as_ref().is_none_or(|b| b[r]) && above_lower.as_ref().is_none_or(|a| a[r]))
        .collect();
    if args.json {
        let items: Vec<String> = order
            .iter()
            .map(|&r| {
                let rev = migrator.migrations().at(r);
                format!(
                    "{{\"revision\":{},\"down_revisions\":{},\"message\":{},\"head\":{},\"current\":{}}}",
                    json_string(rev.id),
                    json_list(rev.down_revisions),
                    json_string(rev.message),
                    g.heads().contains(&r),
                    current.iter().any(|c| c == rev.id)
                )
            })
            .collect();
        println!("[{}]", items.join(","));
        return Ok(0);
    }
    for r in order {
        let id = g.id(r);
        let mut line = describe(migrator, id, true);
        if current.iter().any(|c| c == id) {
            line = line.replacen(&id.to_string(), &format!("{id} (current)"), 1);
        }
        println!("{line}");
        if args.verbose {
            let rev = migrator.migrations().at(r);
            println!("    Path: {}/{}  Create Date: {}", migrator.migrations().source_dir(), rev.file_name, rev.create_date);
        }
    }
    Ok(0)
}

/// A new 12-hex-digit revision id, Alembic's form.
pub fn new_revision_id() -> String {
    format!("{:012x}", crate::tables::random_bits() as u64 & 0xffff_ffff_ffff)
}

fn new_revision(command: &str, args: &Args) -> Result<i32, String> {
    let dir = args.dir.clone().unwrap_or_else(|| "migrations".into());
    let message = args.message.clone().ok_or("`-m <message>` is required")?;
    // Several heads are what `merge` is for, and `revision --head` may start a branch.
    let set = kiln_core::validate::load_dir_with(std::path::Path::new(&dir), &dir, |c| {
        c.allow_multiple_heads = true;
        c.lint = false;
    })
    .map_err(|r| format!("{dir} is not valid:\n\n{}", r.render()))?;
    let g = &set.graph;
    let parents: Vec<String> = if command == "merge" {
        let wanted: Vec<String> = if args.positional.is_empty() || args.positional == ["heads"] {
            g.heads().iter().map(|&h| g.id(h).to_string()).collect()
        } else {
            args.positional.clone()
        };
        let mut ids = Vec::new();
        for w in wanted {
            for r in g.resolve(&w).map_err(|e| e.to_string())? {
                ids.push(g.id(r).to_string());
            }
        }
        if ids.len() < 2 {
            return Err("a merge needs at least two revisions".into());
        }
        ids
    } else {
        let head = args.head.clone().unwrap_or_else(|| "head".into());
        g.resolve(&head).map_err(|e| e.to_string())?.iter().map(|&r| g.id(r).to_string()).collect()
    };
    let id = new_revision_id();
    let slug = kiln_core::parse::slugify(&message);
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
    let mut text = format!("-- {message}\n--\n-- Revision ID: {id}\n-- Revises: {}\n-- Create Date: {now}\n", parents.join(", "));
    if let Some(l) = &args.branch_label {
        let _ = writeln!(text, "-- Branch Labels: {l}");
    }
    if let Some(d) = &args.depends_on {
        let _ = writeln!(text, "-- Depends On: {d}");
    }
    if args.non_transactional {
        text.push_str("-- Transactional: false\n");
    }
    if command == "merge" {
        text.push_str("\n-- kiln:upgrade\n\n-- kiln:downgrade\n");
    } else {
        text.push_str("\n-- kiln:upgrade\n-- TODO: the upgrade SQL\n\n-- kiln:downgrade\n-- TODO: SQL that undoes the upgrade\n");
    }
    let path = std::path::Path::new(&dir).join(format!("{id}_{slug}.sql"));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("Generating {} ... done", path.display());
    Ok(0)
}
