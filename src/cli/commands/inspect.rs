//! Commands that read the revision graph: history, heads, branches, show.

use std::fmt::Write as _;

use crate::cli::args::Args;
use crate::cli::output::describe;
use crate::cli::session::connect_with;
use crate::migrator::Migrator;
use crate::offline::{json_list, json_string};

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

/// The header block `show`, `current -v` and `history -v` print for a revision.
pub(crate) fn details(migrator: &Migrator, r: usize) -> String {
    let g = migrator.graph();
    let rev = migrator.migrations().at(r);
    let mut out = String::new();
    let _ = writeln!(out, "Rev: {}{}", rev.id, if g.heads().contains(&r) { " (head)" } else { "" });
    let _ = writeln!(out, "Parent: {}", if rev.down_revisions.is_empty() { "<base>".into() } else { rev.down_revisions.join(", ") });
    if !rev.depends_on.is_empty() {
        let _ = writeln!(out, "Also depends on: {}", rev.depends_on.join(", "));
    }
    let children: Vec<&str> = g.children(r).iter().map(|&c| g.id(c)).collect();
    if children.len() > 1 {
        let _ = writeln!(out, "Branches into: {}", children.join(", "));
    }
    let labels: Vec<&str> = g.branch_labels(r).collect();
    if !labels.is_empty() {
        let _ = writeln!(out, "Branch names: {}", labels.join(", "));
    }
    let _ = writeln!(out, "Path: {}/{}", migrator.migrations().source_dir(), rev.file_name);
    let _ = writeln!(out, "Create Date: {}", rev.create_date);
    let _ = writeln!(out, "Transactional: {}\nChecksum: {}\n\n    {}\n", rev.transactional, rev.checksum, rev.message);
    out
}

pub(crate) fn show(migrator: &Migrator, args: &Args, ident: &str) -> Result<i32, String> {
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
        let mut out = details(migrator, r);
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

pub(crate) fn history(migrator: &Migrator, args: &Args) -> Result<i32, String> {
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
        if args.verbose {
            let marks = if current.iter().any(|c| c == id) { " (current)" } else { "" };
            print!("{}", details(migrator, r).replacen(&format!("Rev: {id}"), &format!("Rev: {id}{marks}"), 1));
        } else {
            println!("{line}");
        }
    }
    Ok(0)
}
