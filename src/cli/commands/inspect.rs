//! Commands that read the revision graph: history, heads, branches, show.

use std::fmt::Write as _;

use crate::cli::args::Args;
use crate::cli::output::{describe, entry, path_of};
use crate::cli::session::connect_with;
use crate::migrator::Migrator;
use crate::offline::{json_list, json_string};
use kiln_core::format::{HEADS, HISTORY};

pub(crate) enum Listing {
    Heads,
    Branches,
}

pub(crate) fn print_listing(migrator: &Migrator, args: &Args, which: Listing) -> i32 {
    let g = migrator.graph();
    let revs: Vec<usize> = match which {
        Listing::Heads if args.resolve_dependencies => {
            // A head another revision depends on is not a head once
            // dependencies count as parents.
            let depended: Vec<usize> = migrator
                .migrations()
                .revisions()
                .iter()
                .flat_map(|r| r.depends_on.iter())
                .filter_map(|d| g.resolve(d).ok())
                .flatten()
                .collect();
            g.heads().iter().copied().filter(|h| !depended.contains(h)).collect()
        }
        Listing::Heads => g.heads().to_vec(),
        // In history order (heads first), as Alembic walks them.
        Listing::Branches => migrator.migrations().history().filter_map(|r| g.index_of(r.id)).filter(|&r| g.is_branch_point(r)).collect(),
    };
    if args.json {
        let ids: Vec<&str> = revs.iter().map(|&r| g.id(r)).collect();
        println!("{}", json_list(&ids));
        return 0;
    }
    for r in revs {
        match which {
            Listing::Heads if args.verbose => println!("{}", entry(migrator, r, false)),
            Listing::Heads => println!("{}", describe(migrator, g.id(r), HEADS)),
            Listing::Branches => {
                println!(
                    "{}",
                    kiln_core::format::branch_point(g, r, migrator.migrations().revisions(), &path_of(migrator, r), args.verbose)
                );
            }
        }
    }
    0
}

pub(crate) fn show(migrator: &Migrator, args: &Args, ident: &str) -> Result<i32, String> {
    let g = migrator.graph();
    let revs = g.get_revisions(ident).map_err(|e| e.to_string())?;
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
        println!("{}", entry(migrator, r, false));
        if args.verbose {
            let mut out = String::new();
            let _ = writeln!(out, "-- upgrade\n{}", rev.upgrade_sql().trim());
            match rev.downgrade_sql() {
                Some(d) => {
                    let _ = writeln!(out, "-- downgrade\n{}", d.trim());
                }
                None => {
                    let _ = writeln!(out, "-- irreversible: no downgrade");
                }
            }
            println!("{out}");
        }
    }
    Ok(0)
}

pub(crate) fn history(migrator: &Migrator, args: &Args) -> Result<i32, String> {
    let g = migrator.graph();
    let mentions_current = args.range.as_deref().is_some_and(|r| r.split(':').any(|s| s == "current"));
    let current: Vec<String> = if args.indicate_current || mentions_current {
        let url = args.database_url.clone().ok_or("--indicate-current and `current` in -r need DATABASE_URL or --database-url")?;
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
    let lower = if start.is_empty() { "base" } else { start.as_str() };
    let rows_lower = (lower == "current").then_some(current.as_slice());
    let range = |upper: &str| g.history_range(lower, upper, rows_lower).map_err(|e| e.to_string());
    let order: Vec<usize> = match (end.as_str(), current.as_slice()) {
        ("", _) => range("heads")?,
        ("current", [one]) => range(one)?,
        // Up to several (or no) current rows, as Alembic walks to a tuple of them.
        ("current", rows) => {
            let tops: Vec<usize> = rows.iter().filter_map(|c| g.index_of(c)).collect();
            let below = g.applied_with(&tops);
            let from = if lower == "base" { None } else { Some(range("heads")?) };
            g.history_order().into_iter().filter(|&r| below[r] && from.as_ref().is_none_or(|f| f.contains(&r))).collect()
        }
        (upper, _) => range(upper)?,
    };
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
        // `-r current:` reads the current rows; only --indicate-current marks them.
        let current = args.indicate_current && current.iter().any(|c| c == g.id(r));
        if args.verbose {
            println!("{}", entry(migrator, r, current));
        } else {
            println!("{}", kiln_core::format::line(g, r, migrator.migrations().at(r), kiln_core::format::Line { current, ..HISTORY }));
        }
    }
    Ok(0)
}
