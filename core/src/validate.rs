//! Validation of a whole migrations directory: file names, each file's
//! format, ids, and the revision graph. Every problem is collected; nothing
//! stops at the first error.

use std::fs;
use std::path::{Path, PathBuf};

use crate::checksum::checksum;
use crate::config::{Config, CONFIG_FILE};
use crate::diagnostic::{Diagnostic, FileId, Report, SourceFile};
use crate::embedded::{Migrations, Revision};
use crate::graph::{Graph, GraphError, NodeSpec, RevIdx};
use crate::parse::{is_valid_slug, parse_revision, RevisionFile};
use crate::sql::Statement;

/// One input file: its name in the directory, its bytes and its path on disk.
#[derive(Clone, Debug)]
pub struct InputFile {
    /// File name, such as `7fbe65eaef1b_create_teams.sql`.
    pub name: String,
    /// Raw content.
    pub bytes: Vec<u8>,
    /// Absolute path, when the file is on disk (needed to embed it).
    pub path: Option<PathBuf>,
    /// True for a subdirectory (always an error).
    pub is_dir: bool,
}

/// A revision file that passed validation.
#[derive(Clone, Debug)]
pub struct LoadedRevision {
    /// Its file in the report's sources.
    pub file: FileId,
    /// File name.
    pub file_name: String,
    /// Absolute path on disk, when it came from disk.
    pub path: Option<PathBuf>,
    /// The slug part of the file name.
    pub slug: String,
    /// The parsed header and section ranges (in the BOM-less text).
    pub parsed: RevisionFile,
    /// 3 when the file starts with a UTF-8 BOM, else 0.
    pub bom_len: usize,
    /// The upgrade's and the downgrade's statements (ranges in the BOM-less
    /// text), from the SQL parser; `None` when the lint pass was off.
    pub statements: Option<SectionStatements>,
    /// Pinned checksum of the file's text.
    pub checksum: String,
    /// [`crate::checksum::executable`] of its statements, when the lint
    /// pass found them.
    pub checksum_v2: Option<String>,
    /// The file's text as on disk (BOM included).
    pub source: String,
}

/// A validated migrations directory.
#[derive(Clone, Debug)]
pub struct RevisionSet {
    /// The directory as the caller named it (used in messages and generated code).
    pub display_dir: String,
    /// The configuration in force.
    pub config: Config,
    /// Revisions in load order (file names sorted); index = [`RevIdx`].
    pub revisions: Vec<LoadedRevision>,
    /// The revision graph.
    pub graph: Graph,
    /// History order (heads first), precomputed for embedding.
    pub history: Vec<RevIdx>,
    /// Warnings, and the sources they point into.
    pub report: Report,
}

impl RevisionSet {
    /// [`crate::checksum::fingerprint`] of every revision with its
    /// effective checksum: the executable one where the build has it, else
    /// the file's (what the runner fingerprints from the history rows).
    pub fn fingerprint(&self) -> String {
        crate::checksum::fingerprint(
            self.revisions.iter().map(|r| (r.parsed.id.value.as_str(), r.checksum_v2.as_deref().unwrap_or(&r.checksum))),
        )
    }

    /// Turns the set into the embedded form, leaking its text: for a process
    /// (the CLI's `--dir`) that loads a directory once and keeps it.
    pub fn leak(self) -> Migrations {
        fn s(x: &str) -> &'static str {
            Box::leak(x.to_string().into_boxed_str())
        }
        fn statements(xs: &[Statement<String>]) -> &'static [Statement] {
            Box::leak(
                xs.iter()
                    .map(|x| Statement { start: x.start, end: x.end, kind: x.kind.clone().map(|n| s(&n)) })
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            )
        }
        fn list(xs: Vec<&str>) -> &'static [&'static str] {
            Box::leak(xs.into_iter().map(s).collect::<Vec<_>>().into_boxed_slice())
        }
        let revisions: Vec<Revision> = self
            .revisions
            .iter()
            .map(|r| {
                let p = &r.parsed;
                let off = r.bom_len;
                let (up_statements, down_statements) = r.embedded_statements();
                Revision {
                    id: s(&p.id.value),
                    message: s(&p.message),
                    file_name: s(&r.file_name),
                    down_revisions: list(p.revises.iter().map(|x| x.value.as_str()).collect()),
                    depends_on: list(p.depends_on.iter().map(|x| x.value.as_str()).collect()),
                    branch_labels: list(p.branch_labels.iter().map(|x| x.value.as_str()).collect()),
                    create_date: s(&p.create_date),
                    transactional: p.transactional,
                    source: s(&r.source),
                    upgrade: (p.upgrade.start + off, p.upgrade.end + off),
                    downgrade: p.downgrade.as_ref().map(|d| (d.start + off, d.end + off)),
                    upgrade_statements: statements(&up_statements),
                    downgrade_statements: statements(&down_statements),
                    checksum: s(&r.checksum),
                    checksum_v2: r.checksum_v2.as_deref().map(s),
                }
            })
            .collect();
        let history: Vec<u32> = self.history.iter().map(|&i| i as u32).collect();
        let fingerprint = s(&self.fingerprint());
        Migrations::__new(Box::leak(revisions.into_boxed_slice()), Box::leak(history.into_boxed_slice()), s(&self.display_dir), fingerprint)
    }
}

impl LoadedRevision {
    /// The upgrade's and the downgrade's statements with ranges in the
    /// embedded text (BOM included): the lint pass's, or parsed now when it
    /// was off. Without the `lint` feature (no parser) and no lint pass,
    /// empty: such a set can run transactional revisions only.
    pub fn embedded_statements(&self) -> SectionStatements {
        let shift = |list: &[Statement<String>]| {
            list.iter()
                .map(|s| Statement { start: s.start + self.bom_len, end: s.end + self.bom_len, kind: s.kind.clone() })
                .collect::<Vec<_>>()
        };
        if let Some((up, down)) = &self.statements {
            return (shift(up), shift(down));
        }
        #[cfg(feature = "lint")]
        {
            let text = &self.source[self.bom_len..];
            let section = |r: &std::ops::Range<usize>| {
                crate::sql::statements(&text[r.clone()])
                    .into_iter()
                    .map(|s| Statement { start: s.start + r.start, end: s.end + r.start, kind: s.kind })
                    .collect::<Vec<_>>()
            };
            let up = section(&self.parsed.upgrade);
            let down = self.parsed.downgrade.as_ref().map(section).unwrap_or_default();
            (shift(&up), shift(&down))
        }
        #[cfg(not(feature = "lint"))]
        (Vec::new(), Vec::new())
    }
}

/// A revision's upgrade and downgrade statements, with owned names.
pub type SectionStatements = (Vec<Statement<String>>, Vec<Statement<String>>);

/// Reads and validates a migrations directory.
///
/// `display_dir` is how paths appear in diagnostics (`migrations`), while
/// `dir` is where to read. On failure the report holds every error found.
pub fn load_dir(dir: &Path, display_dir: &str) -> Result<RevisionSet, Report> {
    load_dir_with(dir, display_dir, |_| {})
}

/// [`load_dir`], with the configuration adjusted after `kiln.toml` is read:
/// `kiln merge` loads a directory with several heads on purpose.
pub fn load_dir_with(dir: &Path, display_dir: &str, adjust: impl Fn(&mut Config)) -> Result<RevisionSet, Report> {
    load(dir, display_dir, adjust, false, None).map(|(set, _)| set)
}

/// [`load_dir_with`], but the lint pass's replay is left to the caller:
/// the SQL is parsed, and [`Deferred::finish`] runs the rules, so that a
/// build can generate code on one thread while the rules run on another.
/// With a `cache_file` (a build script's `OUT_DIR`), files parsed by an
/// earlier run are not parsed again, and [`Deferred::finish`] writes the
/// cache for the next run.
pub(crate) fn load_dir_deferred(
    dir: &Path,
    display_dir: &str,
    adjust: impl Fn(&mut Config),
    cache_file: Option<&Path>,
) -> Result<(RevisionSet, Deferred), Report> {
    load(dir, display_dir, adjust, true, cache_file)
}

fn load(
    dir: &Path,
    display_dir: &str,
    adjust: impl Fn(&mut Config),
    defer: bool,
    cache_file: Option<&Path>,
) -> Result<(RevisionSet, Deferred), Report> {
    let lint = lint_wanted(&adjust);
    let cache = cache_file.filter(|_| lint).map(crate::lint::Cache::open);
    // A second thread parses the SQL of each file as it is read.
    let loaded = std::thread::scope(|scope| {
        let sql = crate::lint::Pipeline::start(scope, lint, cache.as_ref());
        read_and_check(dir, display_dir, adjust, defer, sql)
    });
    #[cfg(feature = "lint")]
    return loaded.map(|(set, deferred)| (set, Deferred { cache, ..deferred }));
    #[cfg(not(feature = "lint"))]
    {
        let _ = cache;
        loaded
    }
}

/// Whether the caller leaves the lint pass on (`kiln.toml` cannot turn it off).
fn lint_wanted(adjust: &impl Fn(&mut Config)) -> bool {
    let mut probe = Config::default();
    adjust(&mut probe);
    probe.lint
}

fn read_and_check(
    dir: &Path,
    display_dir: &str,
    adjust: impl Fn(&mut Config),
    defer: bool,
    sql: crate::lint::Pipeline<'_>,
) -> Result<(RevisionSet, Deferred), Report> {
    let mut report = Report::default();
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            report.diagnostics.push(
                Diagnostic::error("io", format!("cannot read migrations directory `{}`: {e}", dir.display()))
                    .with_help("create the directory, or point kiln at the right one (paths are relative to the crate's Cargo.toml)"),
            );
            return Err(report);
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                report.diagnostics.push(Diagnostic::error("io", format!("cannot list `{}`: {e}", dir.display())));
                continue;
            }
        };
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let is_dir = path.is_dir();
        let bytes = if is_dir {
            Vec::new()
        } else {
            match fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    report.diagnostics.push(Diagnostic::error("io", format!("cannot read `{display_dir}/{name}`: {e}")));
                    continue;
                }
            }
        };
        let path = path.canonicalize().unwrap_or(path);
        if !is_dir {
            sql.send_file(&name, &bytes);
        }
        files.push(InputFile { name, bytes, path: Some(path), is_dir });
    }
    match check_with(files, display_dir, adjust, defer, sql) {
        Ok(done) if !report.has_errors() => Ok(done),
        Ok((set, _)) => {
            report.diagnostics.extend(set.report.diagnostics);
            Err(report)
        }
        Err(mut r) => {
            r.diagnostics.splice(0..0, report.diagnostics);
            Err(r)
        }
    }
}

/// Reads the declared schema kiln.toml names (`schema = "..."`): a file of
/// the directory, or a path relative to it.
fn read_declared_schema(files: &[InputFile], display: &dyn Fn(&str) -> String, config: &mut Config, report: &mut Report) {
    let Some(name) = config.schema.clone() else { return };
    let (bytes, path) = match files.iter().find(|f| f.name == name && !f.is_dir) {
        Some(f) => (Ok(f.bytes.clone()), f.path.clone()),
        None => {
            let dir =
                files.iter().find(|f| f.name == CONFIG_FILE).and_then(|f| f.path.as_ref()).and_then(|p| p.parent().map(Path::to_path_buf));
            match dir {
                Some(dir) => {
                    let path = dir.join(&name);
                    (fs::read(&path).map_err(|e| e.to_string()), Some(path.canonicalize().unwrap_or(path)))
                }
                None => (Err("the directory is not on disk".to_string()), None),
            }
        }
    };
    match bytes {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes).trim_start_matches('\u{feff}').to_string();
            let file = report.sources.add(SourceFile::new(display(&name), path.clone(), text.clone()));
            config.declared = Some(crate::config::DeclaredSchema { file, text, path });
        }
        Err(e) => {
            let mut d = Diagnostic::error("config", format!("cannot read the declared schema `{}`: {e}", display(&name)))
                .with_help("`schema` in kiln.toml names a file relative to the migrations directory");
            if let Some(at) = &config.schema_at {
                d = d.at(at.file, at.span.clone());
            }
            report.diagnostics.push(d);
        }
    }
}

/// Files that are not revisions and are skipped on purpose: the config file
/// and hidden files (`.gitkeep`, editor state).
fn is_ignored(name: &str) -> bool {
    name.starts_with('.')
}

/// Validates a directory's files given in memory (what [`load_dir`] reads).
pub fn check_files(files: Vec<InputFile>, display_dir: &str) -> Result<RevisionSet, Report> {
    check_files_with(files, display_dir, |_| {})
}

/// [`check_files`] with the configuration adjusted after `kiln.toml` is read.
pub fn check_files_with(files: Vec<InputFile>, display_dir: &str, adjust: impl Fn(&mut Config)) -> Result<RevisionSet, Report> {
    let lint = lint_wanted(&adjust);
    std::thread::scope(|scope| {
        let sql = crate::lint::Pipeline::start(scope, lint, None);
        for f in files.iter().filter(|f| !f.is_dir) {
            sql.send_file(&f.name, &f.bytes);
        }
        check_with(files, display_dir, adjust, false, sql).map(|(set, _)| set)
    })
}

fn check_with(
    mut files: Vec<InputFile>,
    display_dir: &str,
    adjust: impl Fn(&mut Config),
    defer: bool,
    sql: crate::lint::Pipeline<'_>,
) -> Result<(RevisionSet, Deferred), Report> {
    let mut report = Report::default();
    // Alembic's load order: file names sorted.
    files.sort_by(|a, b| a.name.cmp(&b.name));
    let display = |name: &str| if display_dir.is_empty() { name.to_string() } else { format!("{display_dir}/{name}") };

    let mut config = Config::default();
    if let Some(cfg) = files.iter().find(|f| f.name == CONFIG_FILE && !f.is_dir) {
        let text = String::from_utf8_lossy(&cfg.bytes).into_owned();
        let id = report.sources.add(SourceFile::new(display(&cfg.name), cfg.path.clone(), text.clone()));
        match Config::parse(&text, id) {
            Ok(c) => config = c,
            Err(errors) => report.diagnostics.extend(errors),
        }
    }
    adjust(&mut config);
    read_declared_schema(&files, &display, &mut config, &mut report);

    let mut parsed: Vec<LoadedRevision> = Vec::new();
    // Meanwhile the pipeline's thread parses the files' SQL (`lint::Pipeline`).
    let (graph, history, sql) = {
        // Ids of files that failed to parse, recovered as well as possible, so
        // that revisions naming them are not also reported as missing a parent.
        let mut unparsed_ids: Vec<String> = Vec::new();
        let mut parse_failed = false;
        for f in &files {
            if is_ignored(&f.name) || (f.name == CONFIG_FILE && !f.is_dir) || config.schema.as_deref() == Some(f.name.as_str()) {
                continue;
            }
            if f.is_dir {
                report.diagnostics.push(
                    Diagnostic::error("bad-file-name", format!("unexpected directory `{}`", display(&f.name)))
                        .with_help("kiln reads revisions from the migrations directory itself; move them up, or move this directory out"),
                );
                continue;
            }
            let Some(stem) = f.name.strip_suffix(".sql") else {
                report.diagnostics.push(
                    Diagnostic::error("bad-file-name", format!("unexpected file `{}` in the migrations directory", display(&f.name)))
                        .with_help("revision files are named `<revision>_<slug>.sql`; rename it, or move it out (hidden files and kiln.toml are allowed)"),
                );
                continue;
            };
            let (text, bom_len) = match std::str::from_utf8(&f.bytes) {
                Ok(t) => match t.strip_prefix('\u{feff}') {
                    Some(rest) => (rest.to_string(), 3),
                    None => (t.to_string(), 0),
                },
                Err(e) => {
                    report.diagnostics.push(
                        Diagnostic::error(
                            "not-utf8",
                            format!("`{}` is not valid UTF-8 (first bad byte at offset {})", display(&f.name), e.valid_up_to()),
                        )
                        .with_help("save the file as UTF-8"),
                    );
                    parse_failed = true;
                    unparsed_ids.push(stem.split('_').next().unwrap_or(stem).to_string());
                    continue;
                }
            };
            let file = report.sources.add(SourceFile::new(display(&f.name), f.path.clone(), text.clone()));
            if let Some(at) = text.find('\0') {
                // PostgreSQL's protocol cannot carry it: the revision would fail when it runs.
                report.diagnostics.push(
                    Diagnostic::error(
                        "nul-byte",
                        format!("`{}` contains a NUL byte, which PostgreSQL cannot receive in a query", display(&f.name)),
                    )
                    .at(file, at..at + 1)
                    .with_help("remove it: PostgreSQL text cannot hold NUL; for binary data write a bytea escape such as `'\\x00'::bytea`"),
                );
                parse_failed = true;
                unparsed_ids.push(stem.split('_').next().unwrap_or(stem).to_string());
                continue;
            }
            let name_ok = stem.contains('_') && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
            if !name_ok {
                report.diagnostics.push(
                    Diagnostic::error("bad-file-name", format!("file name `{}` is not `<revision>_<slug>.sql`", f.name))
                        .at(file, 0..0)
                        .with_help("name it after its `Revision ID` and message, such as `7fbe65eaef1b_create_teams_table.sql` (slug: lowercase letters, digits, `_`)"),
                );
            }
            match parse_revision(&text, file) {
                Ok(mut rev) => {
                    for mut d in std::mem::take(&mut rev.unfinished) {
                        if config.allow_unfinished {
                            d.severity = crate::diagnostic::Severity::Warning;
                        }
                        report.diagnostics.push(d);
                    }
                    let id = &rev.id.value;
                    let slug = stem.strip_prefix(id.as_str()).and_then(|s| s.strip_prefix('_'));
                    match slug {
                        Some(slug) if is_valid_slug(slug) => {}
                        Some(slug) if name_ok => report.diagnostics.push(
                            Diagnostic::error("bad-file-name", format!("slug `{slug}` in `{}` is not lowercase snake_case", f.name))
                                .at(file, 0..0)
                                .with_help(format!("rename the file to `{id}_{}.sql`", crate::parse::slugify(slug))),
                        ),
                        Some(_) => {}
                        None => {
                            let file_id = stem.split('_').next().unwrap_or(stem);
                            report.diagnostics.push(
                                Diagnostic::error("id-mismatch", format!("file name says revision `{file_id}` but the header says `{id}`"))
                                    .at(file, rev.id.span.clone())
                                    .with_help(format!(
                                        "rename the file to `{id}_{}.sql`, or fix `Revision ID`",
                                        crate::parse::slugify(&rev.message)
                                    )),
                            );
                        }
                    }
                    if let Some(pattern) = &config.revision_id_pattern {
                        if !pattern.matches(id) {
                            report.diagnostics.push(
                                Diagnostic::error("id-pattern", format!("revision id `{id}` does not match `{}`", pattern.as_str()))
                                    .at(file, rev.id.span.clone())
                                    .with_help("kiln.toml sets `revision_id_pattern`; give the revision an id of that form"),
                            );
                        }
                    }
                    parsed.push(LoadedRevision {
                        file,
                        file_name: f.name.clone(),
                        path: f.path.clone(),
                        slug: slug.unwrap_or("").to_string(),
                        checksum: checksum(&text),
                        checksum_v2: None,
                        source: if bom_len > 0 { format!("\u{feff}{text}") } else { text },
                        parsed: rev,
                        bom_len,
                        statements: None,
                    });
                }
                Err(errors) => {
                    report.diagnostics.extend(errors);
                    parse_failed = true;
                    unparsed_ids.push(recover_id(&text).unwrap_or_else(|| stem.split('_').next().unwrap_or(stem).to_string()));
                }
            }
        }

        let graph = check_graph(&parsed, &config, parse_failed.then_some(&unparsed_ids[..]), &mut report);
        let unknown = config.baseline.iter().filter(|b| graph.as_ref().is_some_and(|g| g.index_of(b).is_none()));
        for baseline in unknown {
            {
                let mut d = Diagnostic::error("config", format!("`baseline` names `{baseline}`, which is no revision of this directory"))
                    .with_help(
                        "give the full id of the newest revision already deployed (`kiln heads` or `kiln current` on production tells it)",
                    );
                if let Some(at) = &config.baseline_at {
                    d = d.at(at.file, at.span.clone());
                }
                report.diagnostics.push(d);
            }
        }
        let history = graph.as_ref().filter(|_| !report.has_errors()).map(Graph::history_order);
        #[cfg(feature = "lint")]
        let sql = sql.finish(&parsed);
        #[cfg(feature = "lint")]
        if let Some(sql) = &sql {
            for (r, p) in parsed.iter_mut().zip(sql) {
                let text = &r.source[r.bom_len..];
                let statements = p.statements(text);
                let of = |list: &[crate::sql::Statement<String>]| list.iter().map(|st| &text[st.start..st.end]).collect::<Vec<_>>();
                let downgrade = r.parsed.downgrade.as_ref().map(|_| of(&statements.1));
                r.checksum_v2 = Some(crate::checksum::executable(r.parsed.transactional, &of(&statements.0), downgrade.as_deref()));
                r.statements = Some(statements);
            }
        }
        #[cfg(not(feature = "lint"))]
        let sql = {
            let _ = sql;
        };
        (graph, history, sql)
    };
    #[cfg(feature = "lint")]
    let deferred = match (graph.as_ref().filter(|_| !report.has_errors()), sql) {
        (Some(_), Some(sql)) if defer => Deferred { sql: Some(sql), cache: None },
        (Some(graph), Some(sql)) => {
            crate::lint::lint(&parsed, &sql, graph, &config, None, &mut report.diagnostics);
            Deferred { sql: None, cache: None }
        }
        _ => Deferred { sql: None, cache: None },
    };
    #[cfg(not(feature = "lint"))]
    let deferred = {
        let () = sql;
        let _ = defer;
        Deferred {}
    };
    match (graph, history) {
        (Some(graph), Some(history)) if !report.has_errors() => {
            Ok((RevisionSet { display_dir: display_dir.to_string(), config, revisions: parsed, graph, history, report }, deferred))
        }
        _ => Err(report),
    }
}

/// The lint pass of a set loaded by [`load_dir_deferred`]: its SQL parsed,
/// its rules not yet run.
pub(crate) struct Deferred {
    #[cfg(feature = "lint")]
    sql: Option<Vec<crate::lint::Parsedrev>>,
    #[cfg(feature = "lint")]
    cache: Option<crate::lint::Cache>,
}

impl Deferred {
    /// Runs the rules over `set` (the set this came with) and returns their
    /// findings, which render against `set.report.sources`.
    pub(crate) fn finish(self, set: &RevisionSet) -> Vec<Diagnostic> {
        #[allow(unused_mut)] // without the `lint` feature nothing is added
        let mut out = Vec::new();
        #[cfg(feature = "lint")]
        if let Some(sql) = &self.sql {
            crate::lint::lint(&set.revisions, sql, &set.graph, &set.config, self.cache.as_ref(), &mut out);
            if let Some(cache) = &self.cache {
                let texts: Vec<&str> = set.revisions.iter().map(|r| &r.source[r.bom_len..]).collect();
                cache.save(&texts, sql);
            }
        }
        #[cfg(not(feature = "lint"))]
        let _ = set;
        out
    }

    /// How many files the cache gave and how many were parsed, when a
    /// cache was used.
    pub(crate) fn cache_stats(&self) -> Option<(usize, usize)> {
        #[cfg(feature = "lint")]
        return self.cache.as_ref().map(crate::lint::Cache::stats);
        #[cfg(not(feature = "lint"))]
        None
    }
}

/// The `Revision ID` of a file that did not parse, if a line names it.
fn recover_id(text: &str) -> Option<String> {
    text.lines().find_map(|l| l.strip_prefix("-- Revision ID:")).map(|v| v.trim().to_string())
}

/// Builds the graph and checks heads and bases. When some files did not
/// parse (`unparsed` holds their ids), references to those ids are not
/// reported as missing, and heads and bases are not checked: a broken file
/// would make those reports misleading.
fn check_graph(revs: &[LoadedRevision], config: &Config, unparsed: Option<&[String]>, report: &mut Report) -> Option<Graph> {
    let parse_failed = unparsed.is_some();
    let specs: Vec<NodeSpec> = revs
        .iter()
        .map(|r| NodeSpec {
            id: r.parsed.id.value.clone(),
            down_revisions: r.parsed.revises.iter().map(|s| s.value.clone()).collect(),
            depends_on: r.parsed.depends_on.iter().map(|s| s.value.clone()).collect(),
            branch_labels: r.parsed.branch_labels.iter().map(|s| s.value.clone()).collect(),
        })
        .collect();
    let graph = match Graph::build(&specs) {
        Ok(g) => g,
        Err(errors) => {
            for e in errors {
                if let (Some(ids), GraphError::MissingRevision { missing, .. }) = (unparsed, &e) {
                    if ids.contains(missing) {
                        continue;
                    }
                }
                report.diagnostics.push(graph_diagnostic(revs, &e));
            }
            return None;
        }
    };
    if parse_failed {
        return None;
    }
    let name = |r: RevIdx| format!("`{}` ({})", graph.id(r), revs[r].file_name);
    if graph.heads().len() > 1 && !config.allow_multiple_heads {
        let unnamed = unnamed_by_label(&graph, graph.heads());
        if !unnamed.is_empty() {
            let heads = graph.heads();
            let last = *unnamed.last().expect("not empty");
            let r = &revs[last];
            let mut d = Diagnostic::error(
                "multiple-heads",
                format!("the revision graph has {} heads: {}", heads.len(), heads.iter().map(|&h| name(h)).collect::<Vec<_>>().join(", ")),
            )
            .at(r.file, r.parsed.revises_line.clone());
            for &h in heads.iter().filter(|&&h| h != last) {
                d = d.with_label(revs[h].file, revs[h].parsed.revises_line.clone(), format!("`{}` is also a head", graph.id(h)));
            }
            let parents: Vec<&[RevIdx]> = heads.iter().map(|&h| graph.parents(h)).collect();
            if parents.windows(2).all(|w| w[0] == w[1]) && !parents[0].is_empty() {
                d = d.with_note(format!(
                    "they all revise `{}`: two branches each added a revision on the same parent",
                    graph.id(parents[0][0])
                ));
            }
            let ids: Vec<&str> = heads.iter().map(|&h| graph.id(h)).collect();
            d = d.with_help(format!(
                "add a merge revision with `-- Revises: {}` (its sections may be empty); or give each head its own branch label, or set `allow_multiple_heads = true` in kiln.toml",
                ids.join(", ")
            ));
            report.diagnostics.push(d);
        }
    }
    if graph.bases().len() > 1 && !config.allow_multiple_bases {
        let unnamed = unnamed_by_label(&graph, graph.bases());
        if !unnamed.is_empty() {
            let bases = graph.bases();
            let last = *unnamed.last().expect("not empty");
            let r = &revs[last];
            let mut d = Diagnostic::error(
                "multiple-bases",
                format!("the revision graph has {} bases: {}", bases.len(), bases.iter().map(|&b| name(b)).collect::<Vec<_>>().join(", ")),
            )
            .at(r.file, r.parsed.revises_line.clone());
            for &b in bases.iter().filter(|&&b| b != last) {
                d = d.with_label(revs[b].file, revs[b].parsed.revises_line.clone(), format!("`{}` is also a base", graph.id(b)));
            }
            d = d.with_help(format!(
                "set `Revises` of `{}` to the revision it follows; or give each base its own `Branch Labels`, or set `allow_multiple_bases = true` in kiln.toml",
                graph.id(last)
            ));
            report.diagnostics.push(d);
        }
    }
    Some(graph)
}

/// The revisions among `revs` that no branch label names alone (so that
/// `label@head` or `label@base` could not select them).
fn unnamed_by_label(graph: &Graph, revs: &[RevIdx]) -> Vec<RevIdx> {
    revs.iter()
        .copied()
        .filter(|&r| !graph.branch_labels(r).any(|label| revs.iter().filter(|&&o| graph.branch_labels(o).any(|l| l == label)).count() == 1))
        .collect()
}

fn graph_diagnostic(revs: &[LoadedRevision], e: &GraphError) -> Diagnostic {
    match e {
        GraphError::DuplicateId { id, first, second } => {
            let (a, b) = (&revs[*first], &revs[*second]);
            Diagnostic::error("duplicate-revision", format!("revision id `{id}` is used by two files"))
                .at(b.file, b.parsed.id.span.clone())
                .with_label(a.file, a.parsed.id.span.clone(), format!("first used by {}", a.file_name))
                .with_help("give one of them a new id (and rename its file); revisions that revise it must follow")
        }
        GraphError::MissingRevision { revision, missing, dependency } => {
            let r = &revs[*revision];
            let items = if *dependency { &r.parsed.depends_on } else { &r.parsed.revises };
            let span = items.iter().find(|s| &s.value == missing).map_or(r.parsed.revises_line.clone(), |s| s.span.clone());
            let known: Vec<&str> = revs.iter().map(|o| o.parsed.id.value.as_str()).filter(|id| id.starts_with(missing.as_str())).collect();
            let (code, key) = if *dependency { ("missing-dependency", "Depends On") } else { ("missing-parent", "Revises") };
            let mut d = Diagnostic::error(
                code,
                format!(
                    "revision `{}` {} `{missing}`, which does not exist",
                    r.parsed.id.value,
                    if *dependency { "depends on" } else { "revises" }
                ),
            )
            .at(r.file, span);
            if let [one] = known.as_slice() {
                d = d.with_help(format!("write the full id: `{one}`"));
            } else {
                d = d.with_help(format!("fix the id in `{key}`, or restore the missing revision file"));
            }
            d
        }
        GraphError::SelfLoop { revision, dependency } => {
            let r = &revs[*revision];
            let items = if *dependency { &r.parsed.depends_on } else { &r.parsed.revises };
            let span = items.iter().find(|s| s.value == r.parsed.id.value).map_or(r.parsed.id.span.clone(), |s| s.span.clone());
            Diagnostic::error(
                "cycle",
                format!("revision `{}` {} itself", r.parsed.id.value, if *dependency { "depends on" } else { "revises" }),
            )
            .at(r.file, span)
            .with_help("a revision's parents are the revisions it follows; name another revision")
        }
        GraphError::Cycle { revisions } => {
            let first = &revs[revisions[0]];
            let ids: Vec<&str> = revisions.iter().map(|&r| revs[r].parsed.id.value.as_str()).collect();
            let mut d = Diagnostic::error("cycle", format!("revisions form a cycle: {}", ids.join(", ")))
                .at(first.file, first.parsed.revises_line.clone());
            for &r in &revisions[1..] {
                d = d.with_label(revs[r].file, revs[r].parsed.revises_line.clone(), "part of the cycle");
            }
            d.with_help("one of these revisions must revise an older revision instead")
        }
        GraphError::DuplicateLabel { label, revision, existing } => {
            let (r, o) = (&revs[*revision], &revs[*existing]);
            let span = r.parsed.branch_labels.iter().find(|s| &s.value == label).map_or(0..0, |s| s.span.clone());
            Diagnostic::error("duplicate-label", format!("branch label `{label}` is already used by revision `{}`", o.parsed.id.value))
                .at(r.file, span)
                .with_label(o.file, o.parsed.id.span.clone(), "already uses the name")
                .with_help("choose another label; labels and revision ids share one namespace")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(id: &str, revises: &str, slug: &str) -> InputFile {
        let text = format!(
            "-- {slug}\n--\n-- Revision ID: {id}\n-- Revises: {revises}\n-- Create Date: 2026-11-27 10:00:00\n\n-- kiln:upgrade\nSELECT 1;\n\n-- kiln:downgrade\nSELECT 2;\n"
        );
        InputFile { name: format!("{id}_{slug}.sql"), bytes: text.into_bytes(), path: None, is_dir: false }
    }

    fn codes(files: Vec<InputFile>) -> Vec<&'static str> {
        check_files(files, "migrations").unwrap_err().diagnostics.iter().map(|d| d.code).collect()
    }

    #[test]
    fn a_valid_chain_loads_in_order() {
        let set = check_files(vec![file("bbbb", "aaaa", "two"), file("aaaa", "", "one")], "migrations").unwrap();
        let ids: Vec<&str> = set.revisions.iter().map(|r| r.parsed.id.value.as_str()).collect();
        assert_eq!(ids, ["aaaa", "bbbb"]);
        assert_eq!(set.history, vec![1, 0]);
    }

    #[test]
    fn two_heads_on_one_parent_is_the_git_accident() {
        let report = check_files(vec![file("aaaa", "", "one"), file("bbbb", "aaaa", "two"), file("cccc", "aaaa", "three")], "migrations")
            .unwrap_err();
        assert_eq!(report.diagnostics.len(), 1);
        let text = report.render();
        assert!(
            text.contains("error[kiln::multiple-heads]: the revision graph has 2 heads: `bbbb` (bbbb_two.sql), `cccc` (cccc_three.sql)"),
            "{text}"
        );
        assert!(text.contains("they all revise `aaaa`"), "{text}");
        assert!(text.contains("-- Revises: bbbb, cccc"), "{text}");
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let mut bad = file("dddd", "aaaa", "four");
        bad.name = "dddd_Four.sql".into();
        let got = codes(vec![
            file("aaaa", "", "one"),
            file("bbbb", "zzzz", "two"),
            file("cccc", "", "three"),
            bad,
            InputFile { name: "notes.txt".into(), bytes: vec![], path: None, is_dir: false },
        ]);
        assert_eq!(got, ["bad-file-name", "bad-file-name", "missing-parent"]);
    }

    #[test]
    fn kiln_toml_allows_heads_and_enforces_an_id_pattern() {
        let config = |text: &str| InputFile { name: "kiln.toml".into(), bytes: text.as_bytes().to_vec(), path: None, is_dir: false };
        let two_heads = || vec![file("aaaa", "", "one"), file("bbbb", "aaaa", "two"), file("cccc", "aaaa", "three")];
        let mut files = two_heads();
        files.push(config("allow_multiple_heads = true\n"));
        assert!(check_files(files, "m").is_ok());
        let mut files = two_heads();
        files.push(config("allow_multiple_heads = true\nrevision_id_pattern = \"[a-c]{4}\"\n"));
        assert!(check_files(files, "m").is_ok());
        let mut files = two_heads();
        files.push(config("allow_multiple_heads = true\nrevision_id_pattern = \"[0-9a-f]{12}\"\n"));
        let report = check_files(files, "m").unwrap_err();
        assert_eq!(report.diagnostics.iter().filter(|d| d.code == "id-pattern").count(), 3);
        let mut files = two_heads();
        files.push(config("allow_many_heads = yes\n"));
        let report = check_files(files, "m").unwrap_err();
        assert!(report.render().contains("--> m/kiln.toml:1:1"), "{}", report.render());
    }

    #[test]
    fn heads_are_allowed_when_labels_name_them() {
        let mut a = file("aaaa", "", "one");
        let mut c = file("cccc", "", "three");
        a.bytes = String::from_utf8(a.bytes).unwrap().replace("-- Create Date", "-- Branch Labels: core\n-- Create Date").into_bytes();
        c.bytes = String::from_utf8(c.bytes).unwrap().replace("-- Create Date", "-- Branch Labels: billing\n-- Create Date").into_bytes();
        assert!(check_files(vec![a, file("bbbb", "aaaa", "two"), c], "m").is_ok());
        assert_eq!(codes(vec![file("aaaa", "", "one"), file("cccc", "", "three")]), ["multiple-heads", "multiple-bases"]);
    }

    #[test]
    fn dotted_ids_as_alembic_allows_them() {
        // Optuna's history names its revisions `v0.9.0.a`, `v1.2.0.a`, ...
        let graph = check_files(vec![file("v0.9.0.a", "", "one"), file("v1.2.0.a", "v0.9.0.a", "two")], "m").unwrap().graph;
        assert_eq!(graph.resolve("v1.2").unwrap(), graph.resolve("head").unwrap());
        assert_eq!(codes(vec![file("v0.9.0.a", "", "one"), file("v1-2", "v0.9.0.a", "two")]), ["bad-file-name", "bad-revision-id"]);
    }
}
