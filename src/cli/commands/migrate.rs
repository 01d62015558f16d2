//! Commands that read or change a database: upgrade, downgrade, stamp,
//! accept-checksum, resolve-interrupted, current and check.

use crate::cli::args::Args;
use crate::cli::output::{describe, print_outcome, Streaming};
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
            } else if heads.is_empty() {
                println!("(base: the version table is empty)");
            } else {
                for h in &heads {
                    match migrator.graph().index_of(h).filter(|_| args.verbose) {
                        Some(r) => print!("{}", crate::cli::commands::inspect::details(migrator, r)),
                        None => println!("{}", describe(migrator, h, true)),
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
