//! Commands that read the revision graph: history, heads, branches, show.

use std::fmt::Write as _;

use crate::cli::args::Args;
use crate::cli::output::{describe, entry};
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
                let path = format!("{}/{}", migrator.migrations().source_dir(), migrator.migrations().at(r).file_name);
                println!("{}", kiln_core::format::branch_point(g, r, migrator.migrations().revisions(), &path, args.verbose));
            }
        }
    }
    0
}

pub(crate) fn show(migrator: &Migrator, args: &Args, ident: &str) -> Result<i32, String> {
    let g = migrator.graph();
    let revs = match relative_down(g, ident) {
        Some(walked) => walked?,
        None => g.resolve(ident).map_err(|e| e.to_string())?,
    };
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
    let upper = match end.as_str() {
        "" => "heads".to_string(),
        "current" => match current.as_slice() {
            [one] => one.clone(),
            // Several rows: walk to all of them, as Alembic's tuple does.
            _ => current.join(" "),
        },
        other => other.to_string(),
    };
    let order: Vec<usize> = if upper.contains(' ') {
        let tops: Vec<usize> = current.iter().filter_map(|c| g.index_of(c)).collect();
        let below = g.applied_with(&tops);
        let from = if lower == "base" { None } else { Some(g.history_range(lower, "heads", None).map_err(|e| e.to_string())?) };
        g.history_order().into_iter().filter(|&r| below[r] && from.as_ref().is_none_or(|f| f.contains(&r))).collect()
    } else {
        let rows = (lower == "current").then_some(current.as_slice());
        g.history_range(lower, &upper, rows).map_err(|e| e.to_string())?
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

/// `show -N` and `show label@-N`, as Alembic's `get_revisions` reads them:
/// from each head (of the label's branch), in load order, N steps down
/// through `Revises`; a merge on the way is ambiguous, and walking below a
/// base leaves nothing to show (Alembic crashes there). `None` for any
/// other identifier.
fn relative_down(g: &kiln_core::Graph, ident: &str) -> Option<Result<Vec<usize>, String>> {
    let (label, steps) = match ident.rsplit_once('@') {
        Some((label, n)) => (Some(label), n),
        None => (None, ident),
    };
    let steps: i64 = steps.parse().ok().filter(|n: &i64| *n < 0)?;
    let heads = g.real_heads().iter().copied().filter(|&h| label.is_none_or(|l| g.branch_labels(h).any(|b| b == l)));
    let mut out = Vec::new();
    for head in heads {
        let mut at = head;
        for _ in 0..steps.unsigned_abs() {
            match g.parents(at) {
                [] => {
                    return Some(Err(format!(
                        "`{ident}` walks from head `{}` below its base `{}`: there is no revision to show",
                        g.id(head),
                        g.id(at)
                    )))
                }
                [one] => at = *one,
                _ => {
                    return Some(Err(format!(
                        "`{ident}` from head `{}` meets the merge `{}`, which has several parents: name the revision instead",
                        g.id(head),
                        g.id(at)
                    )))
                }
            }
        }
        out.push(at);
    }
    Some(Ok(out))
}
