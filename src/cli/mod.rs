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
//! Exit codes: [`EXIT_OK`], [`EXIT_ERROR`], [`EXIT_USAGE`], [`EXIT_PENDING`]
//! and [`EXIT_NEEDS_PERSON`].
//!
//! One module per command group, as cargo's `commands/`: `commands::migrate`
//! (upgrade, downgrade, stamp, current, check against a database, and their
//! `--sql` forms), `commands::inspect` (history, heads, branches, show),
//! `commands::author` (revision, merge, init), `commands::lint` (`check`
//! without a database); `args` is the grammar, `session` the connection,
//! `output` what is printed.

mod args;
mod commands;
mod output;
mod session;

use kiln_core::Direction;

use crate::migrator::Migrator;
use crate::offline::parse_range;
use crate::redact::{password_of, scrub};
use crate::Migrations;
use args::Args;
use commands::author::{init, new_revision};
use commands::inspect::{history, print_listing, show, Listing};
use commands::lint::lint_dir;
use commands::migrate::online;
pub use session::{connect, connect_with, Session, DEFAULT_CONNECT_TIMEOUT, DEFAULT_REPLY_TIMEOUT};

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

fn run_over(embedded: Option<Migrations>, argv: impl IntoIterator<Item = String>) -> i32 {
    let argv: Vec<String> = argv.into_iter().collect();
    // The stock command is `kiln`; a user's binary is named as it was run.
    let bin = match embedded {
        None => None,
        Some(_) => std::env::args().next().and_then(|p| std::path::Path::new(&p).file_name().map(|f| f.to_string_lossy().into_owned())),
    }
    .unwrap_or_else(|| "kiln".into());
    let matches = match args::command(&bin).try_get_matches_from(std::iter::once(bin.clone()).chain(argv.iter().cloned())) {
        Ok(m) => m,
        Err(e) => {
            use clap::error::ErrorKind;
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    print!("{}", e.render());
                    EXIT_OK
                }
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    eprint!("{}", e.render());
                    EXIT_USAGE
                }
                _ if wants_json(&argv) => {
                    let first = e.render().to_string();
                    let message = first.lines().next().unwrap_or("").trim_start_matches("error: ").to_string();
                    println!("{}", output::error_json("usage", &message));
                    EXIT_USAGE
                }
                _ => {
                    eprint!("{}", e.render());
                    EXIT_USAGE
                }
            };
        }
    };
    let mut args = args::read(&matches);
    if embedded.is_none() && args.dir.is_none() && !["init", "import"].contains(&args.command.as_str()) {
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        match find_migrations_dir(&cwd) {
            Ok((dir, notes)) => {
                for n in notes {
                    eprintln!("warning: {n}");
                }
                args.dir = Some(dir);
            }
            Err(e) => {
                return fail(&args, Failure { code: EXIT_USAGE, kind: "no-migrations-directory", message: e });
            }
        }
    }
    match dispatch(embedded, &args) {
        Ok(code) => code,
        Err(f) => fail(&args, f),
    }
}

/// True when the raw arguments ask for JSON (for errors found while parsing them).
fn wants_json(argv: &[String]) -> bool {
    argv.iter().zip(argv.iter().skip(1)).any(|(a, b)| a == "--format" && b == "json") || argv.iter().any(|a| a == "--format=json")
}

/// Prints a failure (redacted; one JSON object with `--format json`) and returns its exit code.
fn fail(args: &Args, f: Failure) -> i32 {
    let secret = args.database_url.as_deref().and_then(password_of);
    let message = scrub(&f.message, secret.as_deref());
    if args.json {
        println!("{}", output::error_json(f.kind, &message));
    } else {
        eprintln!("error: {message}");
    }
    f.code
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

/// Exit code: `kiln diff` found the database's schema other than its
/// version rows give (an object added, missing or changed by hand).
pub const EXIT_DRIFT: i32 = 5;

/// A command's failure: what to print and the exit code.
struct Failure {
    code: i32,
    /// A stable name for `--format json` (`usage`, `error`, or the library error's code).
    kind: &'static str,
    message: String,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure { code: EXIT_ERROR, kind: "error", message }
    }
}

impl From<&str> for Failure {
    fn from(message: &str) -> Self {
        Failure { code: EXIT_ERROR, kind: "error", message: message.into() }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        Failure { code: if e.needs_person() { EXIT_NEEDS_PERSON } else { EXIT_ERROR }, kind: e.code(), message: e.to_string() }
    }
}

/// Commands that only read the graph: they accept a revision still being
/// written (an empty section) and several unlabelled heads or bases (as
/// Alembic lists them), which building and running refuse.
const READ_ONLY: &[&str] = &["heads", "branches", "show", "history", "current"];

fn load(embedded: Option<Migrations>, args: &Args) -> Result<Migrations, String> {
    match (&args.dir, embedded) {
        (Some(dir), _) => {
            let display = dir.trim_end_matches('/');
            let read_only = READ_ONLY.contains(&args.command.as_str());
            kiln_core::validate::load_dir_with(std::path::Path::new(dir), display, |c| {
                if read_only {
                    c.allow_unfinished = true;
                    c.allow_multiple_heads = true;
                    c.allow_multiple_bases = true;
                }
            })
            .map(|set| {
                if !args.quiet {
                    summarise_warnings(&set, display);
                }
                set.leak()
            })
            .map_err(|report| format!("{} is not a valid migrations directory:\n\n{}", dir, report.render()))
        }
        (None, Some(m)) => Ok(m),
        (None, None) => Err("no embedded migrations: pass --dir <path>".into()),
    }
}

/// A directory's warnings in one line (`kiln check` lists them), and each
/// revision still being written in one line of its own.
fn summarise_warnings(set: &kiln_core::RevisionSet, display: &str) {
    let unfinished = |d: &&kiln_core::Diagnostic| matches!(d.code, "missing-upgrade" | "missing-downgrade");
    for d in set.report.diagnostics.iter().filter(unfinished) {
        let file = d.location.as_ref().and_then(|l| set.report.sources.get(l.file)).map_or("", |f| f.display.as_str());
        eprintln!("warning: {file} is unfinished: {} (building and upgrading refuse it)", d.message);
    }
    let lints = set.report.diagnostics.iter().filter(|d| !unfinished(d)).count();
    if lints > 0 {
        eprintln!("warning: {lints} lint warning(s) in {display}; `kiln --dir {display} check` lists them");
    }
}

fn dispatch(embedded: Option<Migrations>, args: &Args) -> Result<i32, Failure> {
    let command = args.command.as_str();
    let pos = |i: usize, what: &str| -> Result<String, String> {
        args.positional.get(i).cloned().ok_or_else(|| format!("`kiln {command}` needs {what}"))
    };
    match command {
        "revision" | "merge" => return Ok(new_revision(command, args)?),
        "init" => return Ok(init(args)?),
        "import" => return Ok(commands::import::import(args)?),
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
            if command == "diff" {
                return commands::drift::diff(&migrator, &session, args);
            }
            online(&migrator, &session, command, args, &pos)
        }
    }
}
