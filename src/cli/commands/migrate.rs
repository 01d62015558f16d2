//! Commands that read or change a database: upgrade, downgrade, stamp,
//! accept-checksum, resolve-interrupted, current and check.

use crate::cli::args::Args;
use crate::cli::output::{describe, entry, print_outcome, Streaming};
use crate::cli::session::Session;
use crate::cli::{Failure, EXIT_OK, EXIT_PENDING};
use crate::migrator::{Command, Migrator};
use crate::offline::json_list;

pub(crate) fn online(
    migrator: &Migrator,
    session: &Session,
    command: &str,
    args: &Args,
    pos: &dyn Fn(usize, &str) -> Result<String, String>,
) -> Result<i32, Failure> {
    let streaming = Streaming::new(args.json || args.quiet, args.quiet);
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
            } else {
                if heads.is_empty() && !args.quiet {
                    // Alembic prints nothing for an empty table; say it where scripts do not read.
                    eprintln!("(base: the version table is empty)");
                }
                if args.verbose {
                    println!("Current revision(s) for {}:", crate::redact::redact_url(args.database_url.as_deref().unwrap_or_default()));
                }
                for r in current_heads(migrator, &heads) {
                    match r {
                        Ok(r) if args.verbose => println!("{}", entry(migrator, r, false)),
                        Ok(r) => println!("{}", describe(migrator, migrator.graph().id(r), kiln_core::format::PLAIN)),
                        Err(unknown) => println!("{}", describe(migrator, unknown, kiln_core::format::PLAIN)),
                    }
                }
            }
            return Ok(EXIT_OK);
        }
        "check" => {
            let crate::Readiness { at_head, current: heads, pending, .. } = session.check(migrator)?;
            if args.json {
                println!("{{\"at_head\":{at_head},\"current\":{}}}", json_list(&heads));
            } else if at_head {
                println!("the database is at head ({})", heads.join(", "));
            } else {
                println!(
                    "the database is not at head: {pending} revision(s) pending (current: {})",
                    if heads.is_empty() { "base".into() } else { heads.join(", ") }
                );
            }
            return Ok(if at_head { EXIT_OK } else { EXIT_PENDING });
        }
        other => return Err(format!("unknown command `{other}`; see `kiln --help`").into()),
    };
    if !args.quiet || args.json {
        print_outcome(migrator, &outcome, args.json, !args.json);
    }
    Ok(EXIT_OK)
}

/// What Alembic's `current` lists for these version rows
/// (`get_all_current`): the rows and everything they need, narrowed to
/// the revisions no other of them revises, transitively; so a row that
/// depends on another branch lists that branch's revision too. Sorted by
/// id (Alembic's order there is a set's); unknown rows as they are.
fn current_heads<'a>(migrator: &Migrator, rows: &'a [String]) -> Vec<Result<usize, &'a str>> {
    let g = migrator.graph();
    let known: Vec<usize> = rows.iter().filter_map(|r| g.index_of(r)).collect();
    let applied = g.applied_with(&known);
    // The applied set holds every ancestor of what it holds, so a revision
    // with an applied descendant has an applied child: one pass over the edges.
    let mut out: Vec<Result<usize, &str>> =
        (0..g.len()).filter(|&r| applied[r] && !g.children(r).iter().any(|&c| applied[c])).map(Ok).collect();
    out.sort_by_key(|r| r.map(|r| g.id(r).to_string()).unwrap_or_default());
    out.extend(rows.iter().filter(|r| g.index_of(r).is_none()).map(|r| Err(r.as_str())));
    out
}
