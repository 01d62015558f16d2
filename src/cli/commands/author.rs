//! Commands that write files: revision, merge, init.

use std::fmt::Write as _;

use crate::cli::args::Args;

/// `kiln init [<dir>]`: a new migrations directory with a commented `kiln.toml`.
pub(crate) fn init(args: &Args) -> Result<i32, String> {
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

pub(crate) const INIT_CONFIG: &str = "\
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

/// A new 12-hex-digit revision id, Alembic's form.
pub fn new_revision_id() -> String {
    format!("{:012x}", crate::tables::random_bits() as u64 & 0xffff_ffff_ffff)
}

/// A fresh id: Alembic's form when the project's `revision_id_pattern`
/// accepts it (or there is none), else one drawn from the pattern.
fn new_id(pattern: Option<&kiln_core::config::IdPattern>, taken: impl Fn(&str) -> bool) -> Result<String, String> {
    for _ in 0..64 {
        let id = match pattern {
            Some(p) if !p.matches(&new_revision_id()) => p.sample(|| crate::tables::random_bits() as u64),
            _ => Some(new_revision_id()),
        };
        match id {
            Some(id) if !taken(&id) && kiln_core::parse::is_valid_id(&id) => return Ok(id),
            Some(_) => continue,
            None => break,
        }
    }
    Err(format!(
        "cannot make an id that `revision_id_pattern = \"{}\"` accepts: give one with --rev-id",
        pattern.map_or("", |p| p.as_str())
    ))
}

pub(crate) fn new_revision(command: &str, args: &Args) -> Result<i32, String> {
    let dir = args.dir.clone().unwrap_or_else(|| "migrations".into());
    let message = args.message.clone().ok_or("`-m <message>` is required")?;
    // Several heads are what `merge` is for, and `revision --head` may start a branch.
    let bases_allowed = std::cell::Cell::new(false);
    let set = kiln_core::validate::load_dir_with(std::path::Path::new(&dir), &dir, |c| {
        bases_allowed.set(c.allow_multiple_bases);
        c.allow_multiple_heads = true;
        c.allow_multiple_bases = true;
        c.lint = false;
        c.allow_unfinished = true;
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
        if head == "base" {
            // A new root: a second base is only valid with a branch label.
            if !g.is_empty() && args.branch_label.is_none() {
                return Err("a revision on `base` starts a second root: give it a name with --branch-label <label>".into());
            }
            let unlabelled: Vec<&str> =
                (0..g.len()).filter(|&r| g.parents(r).is_empty() && g.branch_labels(r).next().is_none()).map(|r| g.id(r)).collect();
            if !bases_allowed.get() && !unlabelled.is_empty() {
                return Err(format!(
                    "the build accepts several roots only when each has a branch label, and {} has none: \
                     add `-- Branch Labels: <label>` to its header, or set `allow_multiple_bases = true` in kiln.toml",
                    unlabelled.iter().map(|r| format!("`{r}`")).collect::<Vec<_>>().join(", ")
                ));
            }
            Vec::new()
        } else {
            let parents: Vec<usize> = g.resolve(&head).map_err(|e| e.to_string())?;
            if let Some(&p) = parents.iter().find(|p| !g.heads().contains(p)) {
                if !args.splice {
                    return Err(format!(
                        "revision `{}` is not a head: pass --splice to start a new branch from it (give the branch a name with --branch-label)",
                        g.id(p)
                    ));
                }
            }
            parents.iter().map(|&r| g.id(r).to_string()).collect()
        }
    };
    let pattern = set.config.revision_id_pattern.as_ref();
    let id = match &args.rev_id {
        Some(id) => {
            if !kiln_core::parse::is_valid_id(id) {
                return Err(format!("--rev-id `{id}` is not a revision id: 1 to 32 letters, digits or `_`"));
            }
            if let Some(p) = pattern.filter(|p| !p.matches(id)) {
                return Err(format!("--rev-id `{id}` does not match `revision_id_pattern = \"{}\"` in kiln.toml", p.as_str()));
            }
            if g.index_of(id).is_some() {
                return Err(format!("--rev-id `{id}`: a revision with this id already exists"));
            }
            id.clone()
        }
        None => new_id(pattern, |id| g.index_of(id).is_some())?,
    };
    if args.autogenerate {
        return autogenerate(args, &dir, &message, id, parents);
    }
    let body = if command == "merge" {
        ("".to_string(), "".to_string())
    } else {
        ("-- TODO: the upgrade SQL\n".to_string(), "-- TODO: SQL that undoes the upgrade\n".to_string())
    };
    let header = Header { message: &message, parents: &parents, branch_label: args.branch_label.as_deref(), depends_on: &args.depends_on };
    write_revision(&dir, &id, &header, !args.non_transactional, &body.0, &body.1)?;
    Ok(0)
}

/// What a new revision file says about itself.
struct Header<'a> {
    message: &'a str,
    parents: &'a [String],
    branch_label: Option<&'a str>,
    depends_on: &'a [String],
}

/// Writes `<dir>/<id>_<slug>.sql` and says so.
fn write_revision(
    dir: &str,
    id: &str,
    h: &Header<'_>,
    transactional: bool,
    upgrade: &str,
    downgrade: &str,
) -> Result<std::path::PathBuf, String> {
    let slug = kiln_core::parse::slugify(h.message);
    let now = chrono::Utc::now().format("%Y-%m-%d %H:%M:%S%.6f");
    let mut text = format!("-- {}\n--\n-- Revision ID: {id}\n-- Revises: {}\n-- Create Date: {now}\n", h.message, h.parents.join(", "));
    if let Some(l) = h.branch_label {
        let _ = writeln!(text, "-- Branch Labels: {l}");
    }
    if !h.depends_on.is_empty() {
        let _ = writeln!(text, "-- Depends On: {}", h.depends_on.join(", "));
    }
    if !transactional {
        text.push_str("-- Transactional: false\n");
    }
    let gap = |s: &str| if s.is_empty() { String::new() } else { format!("{}\n", s.trim_end()) };
    let _ = write!(text, "\n-- kiln:upgrade\n{}\n-- kiln:downgrade\n{}", gap(upgrade), gap(downgrade));
    let path = std::path::Path::new(dir).join(format!("{id}_{slug}.sql"));
    std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    println!("Generating {} ... done", path.display());
    Ok(path)
}

/// `kiln revision --autogenerate`: the revision(s) from the head to the
/// declared schema, checked by the lint pass once written.
fn autogenerate(args: &Args, dir: &str, message: &str, id: String, parents: Vec<String>) -> Result<i32, String> {
    if parents.len() > 1 {
        return Err("the migrations have several heads: merge them first (`kiln merge heads -m \"...\"`), then autogenerate".into());
    }
    if args.head.is_some() || args.splice || args.non_transactional {
        return Err("--autogenerate writes from the head: it does not take --head, --splice or --non-transactional".into());
    }
    let renames: Vec<kiln_core::lint::ColumnRename> = args.renames.iter().map(|r| r.parse()).collect::<Result<_, _>>()?;
    // The set as the build sees it, less the rule whose difference is the point.
    let full = kiln_core::validate::load_dir_with(std::path::Path::new(dir), dir, |c| {
        c.set_level("declared-schema", kiln_core::lint::Level::Allow)
    })
    .map_err(|r| format!("{dir} is not valid:\n\n{}", r.render()))?;
    let generated = kiln_core::lint::autogenerate(&full, &kiln_core::lint::Autogenerate { renames }).map_err(|r| r.render())?;
    if generated.is_empty() {
        for n in &generated.notes {
            eprintln!("note: {n}");
        }
        println!("No changes: the migrations already give the declared schema; nothing written");
        return Ok(0);
    }
    let pattern = full.config.revision_id_pattern.as_ref();
    let mut ids = vec![id];
    let mut written = Vec::new();
    let mut parents = parents;
    for (i, part) in generated.parts.iter().enumerate() {
        if i > 0 {
            let next = new_id(pattern, |x| full.graph.index_of(x).is_some() || ids.iter().any(|i| i == x))?;
            ids.push(next);
        }
        let message = if part.label.is_empty() { message.to_string() } else { format!("{message} ({})", part.label) };
        let (branch_label, depends_on): (Option<&str>, &[String]) =
            if i == 0 { (args.branch_label.as_deref(), &args.depends_on) } else { (None, &[]) };
        let header = Header { message: &message, parents: &parents, branch_label, depends_on };
        written.push(write_revision(dir, &ids[i], &header, part.transactional, &part.upgrade, &part.downgrade)?);
        parents = vec![ids[i].clone()];
    }
    for n in &generated.notes {
        eprintln!("note: {n}");
    }
    // What the build will say about them.
    match kiln_core::validate::load_dir(std::path::Path::new(dir), dir) {
        Ok(set) => {
            let warnings = set.report.render();
            if !warnings.trim().is_empty() {
                eprintln!("{warnings}");
            }
            println!("Review the generated SQL before it runs: kiln writes it from the schema model, not from a database");
            Ok(0)
        }
        Err(report) => Err(format!(
            "the generated revisions do not pass the build yet; fix them (or the declared schema) before building:\n\n{}",
            report.render()
        )),
    }
}
