//! The command line's grammar (clap's builder API: no derive, so no `syn`
//! in the CLI's build) and the [`Args`] the commands read.

use std::time::Duration;

use clap::{Arg, ArgAction, ArgGroup, ArgMatches};

use crate::migrator::{Config, DriftPolicy, Resolution, TransactionMode};

/// What the commands read, from the parsed command line.
pub(super) struct Args {
    pub command: String,
    pub positional: Vec<String>,
    pub database_url: Option<String>,
    pub dir: Option<String>,
    pub json: bool,
    pub sql: bool,
    pub purge: bool,
    pub verbose: bool,
    pub quiet: bool,
    pub indicate_current: bool,
    pub resolve_dependencies: bool,
    pub range: Option<String>,
    pub message: Option<String>,
    pub head: Option<String>,
    pub branch_label: Option<String>,
    pub depends_on: Vec<String>,
    pub rev_id: Option<String>,
    pub splice: bool,
    pub non_transactional: bool,
    /// `revision --autogenerate`.
    pub autogenerate: bool,
    /// `revision --rename <table>.<column>=<new>`.
    pub renames: Vec<String>,
    pub deny_warnings: bool,
    /// `check --all`: the baseline's findings too.
    pub all: bool,
    /// `import alembic --out`: the kiln migrations directory to write.
    pub out: Option<String>,
    /// `import alembic --python`: the interpreter with the project's Alembic.
    pub python: Option<String>,
    pub scratch_url: Option<String>,
    pub resolution: Option<Resolution>,
    pub connect_timeout: Option<Duration>,
    pub config: Config,
}

fn flag(name: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).action(ArgAction::SetTrue).help(help)
}

fn value(name: &'static str, placeholder: &'static str, help: &'static str) -> Arg {
    Arg::new(name).long(name).value_name(placeholder).help(help)
}

fn seconds(name: &'static str, help: &'static str) -> Arg {
    value(name, "SECONDS", help).value_parser(clap::value_parser!(u64))
}

fn millis(name: &'static str, help: &'static str) -> Arg {
    value(name, "MS", help).value_parser(clap::value_parser!(u64))
}

/// A revision target, which may start with `-` (`-1`).
fn target(help: &'static str) -> Arg {
    Arg::new("target").required(true).allow_negative_numbers(true).help(help)
}

fn sql() -> Arg {
    flag("sql", "print the SQL script for a start:end range instead of connecting (offline mode)")
}

/// Options of the commands that run revisions.
fn running() -> [Arg; 5] {
    [
        millis("lock-timeout", "lock_timeout for the revisions' statements"),
        millis("statement-timeout", "statement_timeout for the revisions' statements"),
        flag("single-transaction", "run the whole upgrade in one transaction instead of one per revision"),
        flag("allow-unknown", "accept a database at a revision this binary does not know (a rollback): do nothing"),
        flag("ignore-drift", "warn instead of failing when an applied revision's file changed"),
    ]
}

/// The whole command line, named `bin` in usage lines.
pub(super) fn command(bin: &str) -> clap::Command {
    let global = [
        value("database-url", "URL", "the database [env: DATABASE_URL]").global(true),
        value("dir", "PATH", "the migrations directory (default: named by a kiln.toml from here up, or ./migrations)").global(true),
        value("format", "FORMAT", "output format").value_parser(["human", "json"]).default_value("human").global(true),
        value("schema", "NAME", "schema of the version and history tables").global(true),
        value("version-table", "NAME", "name of the version table [default: alembic_version]").global(true),
        seconds("connect-timeout", "bound on connecting, handshake included [default: 10; connect_timeout in the URL wins]").global(true),
        value("reply-timeout", "SECONDS", "bound on each of kiln's own queries [default: 60]")
            .value_parser(clap::value_parser!(u64).range(1..))
            .global(true),
        seconds("lock-wait", "how long to wait for another runner's migration lock [default: 300]").global(true),
        Arg::new("verbose").short('v').long("verbose").action(ArgAction::SetTrue).help("more detail").global(true),
        Arg::new("quiet").short('q').long("quiet").action(ArgAction::SetTrue).help("print only errors (and JSON when asked)").global(true),
    ];
    let bin: &'static str = Box::leak(bin.to_string().into_boxed_str());
    clap::Command::new(bin)
        .version(env!("CARGO_PKG_VERSION"))
        .about("Alembic-style PostgreSQL migrations: Alembic's commands over a revision graph")
        .after_help(
            "Exit codes: 0 done, 1 error, 2 bad usage, 3 `check`: revisions pending, \
             4 the database needs a person (an unknown revision, an edited applied revision, an interrupted run), \
             5 `diff`: the schema differs from what the version rows give.",
        )
        .subcommand_required(true)
        .arg_required_else_help(true)
        .args(global)
        .subcommand(
            clap::Command::new("upgrade")
                .about("Upgrade to a later revision: head, heads, <rev>, +N, <label>@head")
                .arg(target("where to: head, heads, a revision (or a unique prefix), +N, <label>@head; with --sql, start:end"))
                .arg(sql())
                .args(running()),
        )
        .subcommand(
            clap::Command::new("downgrade")
                .about("Revert to an earlier revision: -N, <rev>, base, <label>@base")
                .arg(target("where to: -N, a revision, base, <label>@base; with --sql, start:end"))
                .arg(sql())
                .args(running()),
        )
        .subcommand(
            clap::Command::new("stamp")
                .about("Set the version table to the given revision(s) without running any SQL")
                .arg(target("the revision(s) to record, or start:end with --sql"))
                .arg(flag("purge", "empty the version table first"))
                .arg(sql()),
        )
        .subcommand(
            clap::Command::new("current")
                .about("Show the database's current revision(s)")
                .arg(flag("allow-unknown", "do not fail on a revision this binary does not know")),
        )
        .subcommand(
            clap::Command::new("check")
                .about("Readiness: exit 0 at head, 3 with revisions pending; without a database, validate and lint the directory")
                .arg(flag("allow-unknown", "ready at a revision a newer release applied (a rollback)"))
                .arg(flag("deny-warnings", "without a database: fail on lint warnings too"))
                .arg(flag("all", "without a database: list lint findings in the kiln.toml baseline too (as warnings)")),
        )
        .subcommand(
            clap::Command::new("diff")
                .about("Live drift: the database's schema against the one its version rows give; exit 5 when they differ")
                .arg(value(
                    "scratch-url",
                    "URL",
                    "a server (same PostgreSQL major version) where kiln may create and drop a scratch database \
                     [default: a throwaway cluster from the local PostgreSQL binaries]",
                )),
        )
        .subcommand(
            clap::Command::new("history")
                .about("List revisions in order, newest first")
                .arg(value("rev-range", "START:END", "only revisions between these (base, heads, current, or ids)").short('r'))
                .arg(flag("indicate-current", "mark the database's current revision(s) (connects)").short('i')),
        )
        .subcommand(
            clap::Command::new("heads")
                .about("Show the heads of the revision graph")
                .arg(flag("resolve-dependencies", "treat Depends On as parents: a head another revision depends on is not a head")),
        )
        .subcommand(clap::Command::new("branches").about("Show the branch points of the revision graph"))
        .subcommand(
            clap::Command::new("show").about("Show the revision(s) a target names, as Alembic does (with -v, their SQL too)").arg(
                Arg::new("rev")
                    .required(true)
                    .allow_negative_numbers(true)
                    .help("a revision id, unique prefix, label, head or a relative step such as -1"),
            ),
        )
        .subcommand(
            clap::Command::new("accept-checksum")
                .about("Record the current checksum of applied revisions deliberately edited")
                .arg(Arg::new("revs").num_args(0..).help("the revisions (all drifted ones when none given)")),
        )
        .subcommand(
            clap::Command::new("resolve-interrupted")
                .about("Decide what happens to a non-transactional revision stopped part-way")
                .arg(Arg::new("rev").help("the revision (every interrupted one when omitted)"))
                .arg(flag("retry", "the next upgrade runs the statement it stopped at again"))
                .arg(flag("skip", "count that statement as done and go on after it"))
                .arg(flag("abandon", "give the run up: the next upgrade starts the revision from its first statement"))
                .group(ArgGroup::new("action").args(["retry", "skip", "abandon"]).required(true)),
        )
        .subcommand(
            clap::Command::new("revision")
                .about("Create a new revision file")
                .arg(value("message", "MESSAGE", "the revision's message").short('m').required(true))
                .arg(value("head", "REV", "the parent: a head (default `head`), `base` for a new root, or any revision with --splice"))
                .arg(flag("splice", "allow --head to be a revision that is not a head (starts a branch)"))
                .arg(value("branch-label", "LABEL", "a branch label for the new revision"))
                .arg(value("depends-on", "REV", "a revision this one depends on (repeatable)").action(ArgAction::Append))
                .arg(value("rev-id", "ID", "the new revision's id instead of a generated one"))
                .arg(flag("non-transactional", "write `Transactional: false` (for CREATE INDEX CONCURRENTLY and the like)"))
                .arg(flag("autogenerate", "write the SQL from the head to kiln.toml's declared `schema` (and back)"))
                .arg(
                    value("rename", "TABLE.COLUMN=NEW", "with --autogenerate: a column renamed, not dropped and added (repeatable)")
                        .action(ArgAction::Append)
                        .requires("autogenerate"),
                ),
        )
        .subcommand(
            clap::Command::new("merge")
                .about("Create a revision that merges two or more heads")
                .arg(value("message", "MESSAGE", "the merge's message").short('m').required(true))
                .arg(Arg::new("revs").num_args(0..).help("the revisions to merge (default: heads)"))
                .arg(value("branch-label", "LABEL", "a branch label for the merge"))
                .arg(value("rev-id", "ID", "the merge's id instead of a generated one")),
        )
        .subcommand(
            clap::Command::new("import")
                .about("Convert an Alembic history into kiln revisions (`kiln import alembic <versions> --out <dir>`)")
                .arg(Arg::new("from").required(true).value_parser(["alembic"]).help("what to import from: `alembic`"))
                .arg(Arg::new("path").required(true).help("the versions directory, the script directory (with env.py) or alembic.ini"))
                .arg(value("out", "DIR", "the kiln migrations directory to write (must hold no revisions yet)").required(true))
                .arg(value("python", "PATH", "the Python that has the project's Alembic (and its application) [default: python3]")),
        )
        .subcommand(
            clap::Command::new("init")
                .about("Create a migrations directory with a commented kiln.toml")
                .arg(Arg::new("path").help("the directory to create [default: migrations]")),
        )
}

/// Reads the parsed command line into [`Args`].
pub(super) fn read(matches: &ArgMatches) -> Args {
    let (command, sub) = matches.subcommand().expect("a subcommand is required");
    let text = |m: &ArgMatches, id: &str| m.try_get_one::<String>(id).ok().flatten().cloned();
    let texts = |m: &ArgMatches, id: &str| -> Vec<String> {
        m.try_get_many::<String>(id).ok().flatten().map(|v| v.cloned().collect()).unwrap_or_default()
    };
    let on = |m: &ArgMatches, id: &str| m.try_get_one::<bool>(id).ok().flatten().copied().unwrap_or(false);
    let number = |m: &ArgMatches, id: &str| m.try_get_one::<u64>(id).ok().flatten().copied();
    let mut config = Config::default();
    if let Some(s) = text(sub, "schema") {
        config.tables.schema = Some(s);
    }
    if let Some(v) = text(sub, "version-table") {
        config.tables.version_table = v;
    }
    if let Some(s) = number(sub, "lock-wait") {
        config.lock_wait = Duration::from_secs(s);
    }
    config.lock_timeout = number(sub, "lock-timeout").map(Duration::from_millis);
    config.statement_timeout = number(sub, "statement-timeout").map(Duration::from_millis);
    config.reply_timeout = Some(number(sub, "reply-timeout").map_or(super::DEFAULT_REPLY_TIMEOUT, Duration::from_secs));
    if on(sub, "single-transaction") {
        config.transaction_mode = TransactionMode::Whole;
    }
    config.allow_unknown_revisions = on(sub, "allow-unknown");
    if on(sub, "ignore-drift") {
        config.drift = DriftPolicy::Warn;
    }
    let mut positional = Vec::new();
    for id in ["target", "rev", "revs", "path"] {
        positional.extend(texts(sub, id));
    }
    let resolution = [("retry", Resolution::Retry), ("skip", Resolution::Skip), ("abandon", Resolution::Abandon)]
        .into_iter()
        .find(|(id, _)| on(sub, id))
        .map(|(_, r)| r);
    Args {
        command: command.to_string(),
        positional,
        database_url: text(sub, "database-url").or_else(|| std::env::var("DATABASE_URL").ok().filter(|s| !s.is_empty())),
        dir: text(sub, "dir"),
        json: text(sub, "format").as_deref() == Some("json"),
        sql: on(sub, "sql"),
        purge: on(sub, "purge"),
        verbose: on(sub, "verbose"),
        quiet: on(sub, "quiet"),
        indicate_current: on(sub, "indicate-current"),
        resolve_dependencies: on(sub, "resolve-dependencies"),
        range: text(sub, "rev-range"),
        message: text(sub, "message"),
        head: text(sub, "head"),
        branch_label: text(sub, "branch-label"),
        depends_on: texts(sub, "depends-on"),
        rev_id: text(sub, "rev-id"),
        splice: on(sub, "splice"),
        non_transactional: on(sub, "non-transactional"),
        autogenerate: on(sub, "autogenerate"),
        renames: texts(sub, "rename"),
        deny_warnings: on(sub, "deny-warnings"),
        all: on(sub, "all"),
        out: text(sub, "out"),
        python: text(sub, "python"),
        scratch_url: text(sub, "scratch-url"),
        resolution,
        connect_timeout: number(sub, "connect-timeout").map(Duration::from_secs),
        config,
    }
}
