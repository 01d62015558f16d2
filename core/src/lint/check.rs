//! The lint pass over a validated revision set: parse every section, replay
//! the revisions in graph order into the schema model, run the rules on
//! each statement against the schema before it, and check that each
//! downgrade undoes its upgrade.

use std::collections::HashMap;
use std::ops::Range;

use super::cache::Cache;
use super::model::{self, Model, PREEXISTING};
use super::names;
use super::sql::{self, Action, ColumnDef, ConstraintDef, ConstraintKind, Op, Parsed, Stmt};
use super::{allow_comments, Level};
use crate::config::Config;
use crate::diagnostic::Diagnostic;
use crate::graph::{Graph, RevIdx};
use crate::validate::LoadedRevision;

/// One rule violation before levels and allow comments are applied.
struct Finding {
    rule: &'static str,
    /// Byte range in the section text.
    span: Range<usize>,
    message: String,
    help: Option<String>,
    notes: Vec<String>,
    /// Secondary place in the section text, with its label.
    label: Option<(Range<usize>, String)>,
}

impl Finding {
    fn new(rule: &'static str, span: Range<usize>, message: String) -> Finding {
        Finding { rule, span, message, help: None, notes: Vec::new(), label: None }
    }

    fn help(mut self, help: impl Into<String>) -> Finding {
        self.help = Some(help.into());
        self
    }

    fn note(mut self, note: impl Into<String>) -> Finding {
        self.notes.push(note.into());
        self
    }
}

/// A parsed section: where it starts in the file (BOM-less text) and its statements.
pub(super) struct Section {
    pub(super) start: usize,
    pub(super) parsed: Parsed,
}

/// One revision's sections, parsed.
pub(crate) struct Parsedrev {
    pub(super) upgrade: Section,
    pub(super) downgrade: Option<Section>,
    /// The [`cache`](super::cache) key of the text it was parsed from, when computed.
    pub(super) key: Option<super::cache::Key>,
}

impl Parsedrev {
    /// The upgrade's and the downgrade's statements, with ranges in the
    /// file's BOM-less text.
    pub(crate) fn statements(&self, text: &str) -> crate::validate::SectionStatements {
        let of = |s: &Section| {
            crate::sql::of_parsed(&s.parsed, &text[s.start..])
                .into_iter()
                .map(|st| crate::sql::Statement { start: st.start + s.start, end: st.end + s.start, kind: st.kind })
                .collect()
        };
        (of(&self.upgrade), self.downgrade.as_ref().map(of).unwrap_or_default())
    }
}

fn text_of(r: &LoadedRevision) -> &str {
    &r.source[r.bom_len..]
}

fn parse_sections(text: &str, upgrade: &Range<usize>, downgrade: Option<&Range<usize>>) -> Parsedrev {
    let section = |range: &Range<usize>| Section { start: range.start, parsed: sql::parse(&text[range.clone()]) };
    Parsedrev { upgrade: section(upgrade), downgrade: downgrade.map(section), key: None }
}

fn parse_revision(r: &LoadedRevision) -> Parsedrev {
    parse_sections(text_of(r), &r.parsed.upgrade, r.parsed.downgrade.as_ref())
}

/// One file to parse: its name and bytes.
type Job = (String, Vec<u8>);

fn next_job(queue: &std::sync::Mutex<std::sync::mpsc::Receiver<Job>>) -> Option<Job> {
    let queue = queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    queue.recv().ok()
}

/// Parses a file's header (the same parser validation uses) to find its
/// sections, then their SQL; `None` for what is not a revision file
/// (validation reports it).
/// With a cache, a file whose text it holds is not parsed again.
fn run_job((name, bytes): Job, cache: Option<&Cache>) -> Option<(String, Parsedrev)> {
    if !name.ends_with(".sql") {
        return None;
    }
    let text = std::str::from_utf8(&bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let key = cache.map(|_| super::cache::key(text));
    if let Some(found) = cache.zip(key.as_ref()).and_then(|(c, k)| c.get(k)) {
        return Some((name, found));
    }
    let rev = crate::parse::parse_revision(text, 0).ok()?;
    Some((name, Parsedrev { key, ..parse_sections(text, &rev.upgrade, rev.downgrade.as_ref()) }))
}

/// Parses revisions' SQL on a second thread while validation reads the
/// files, parses their headers and checks the graph; then the validating
/// thread helps with what is left. The build machine's other core does most
/// of the parsing.
pub(crate) struct Pipeline<'scope> {
    cache: Option<&'scope Cache>,
    jobs: Option<std::sync::mpsc::Sender<Job>>,
    queue: std::sync::Arc<std::sync::Mutex<std::sync::mpsc::Receiver<Job>>>,
    worker: Option<std::thread::ScopedJoinHandle<'scope, Vec<(String, Parsedrev)>>>,
}

impl<'scope> Pipeline<'scope> {
    /// Starts the worker (none when `on` is false), which takes what
    /// `cache` holds instead of parsing it.
    pub(crate) fn start<'env>(scope: &'scope std::thread::Scope<'scope, 'env>, on: bool, cache: Option<&'scope Cache>) -> Pipeline<'scope> {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(rx));
        if !on {
            return Pipeline { cache, jobs: None, queue, worker: None };
        }
        let q = queue.clone();
        let worker = scope.spawn(move || std::iter::from_fn(|| next_job(&q)).filter_map(|job| run_job(job, cache)).collect());
        Pipeline { cache, jobs: Some(tx), queue, worker: Some(worker) }
    }

    /// Queues a file of the directory, as read.
    pub(crate) fn send_file(&self, name: &str, bytes: &[u8]) {
        if let Some(jobs) = &self.jobs {
            // Sending only fails once the worker is gone, and it only
            // stops when the sender is dropped.
            let _ = jobs.send((name.to_string(), bytes.to_vec()));
        }
    }

    /// Parses what is still queued on this thread too, waits for the
    /// worker, and returns the parsed SQL of `revs` in their order (parsing
    /// here whatever the worker did not); `None` when the pipeline was off.
    pub(crate) fn finish(mut self, revs: &[LoadedRevision]) -> Option<Vec<Parsedrev>> {
        drop(self.jobs.take());
        let worker = self.worker.take()?;
        let mut done: std::collections::HashMap<String, Parsedrev> =
            std::iter::from_fn(|| next_job(&self.queue)).filter_map(|job| run_job(job, self.cache)).collect();
        done.extend(worker.join().expect("the SQL parser does not panic"));
        Some(revs.iter().map(|r| done.remove(&r.file_name).unwrap_or_else(|| parse_revision(r))).collect())
    }
}

/// Parses every revision, on several threads when there are many.
pub(crate) fn parse_all(revs: &[LoadedRevision]) -> Vec<Parsedrev> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if revs.len() < 64 || threads < 2 {
        return revs.iter().map(parse_revision).collect();
    }
    let chunk = revs.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = revs.chunks(chunk).map(|c| s.spawn(move || c.iter().map(parse_revision).collect::<Vec<_>>())).collect();
        handles.into_iter().flat_map(|h| h.join().expect("the parser does not panic")).collect()
    })
}

/// Parents and dependencies first; ties in file order.
fn graph_order(graph: &Graph, n: usize) -> (Vec<RevIdx>, Vec<Vec<RevIdx>>) {
    let deps: Vec<Vec<RevIdx>> = (0..n)
        .map(|r| {
            let mut d = graph.parents(r).to_vec();
            d.extend(graph.dependencies(r).iter().filter(|x| !graph.parents(r).contains(x)));
            d
        })
        .collect();
    let mut waiting: Vec<usize> = deps.iter().map(Vec::len).collect();
    let mut children: Vec<Vec<RevIdx>> = vec![Vec::new(); n];
    for (r, d) in deps.iter().enumerate() {
        for &p in d {
            children[p].push(r);
        }
    }
    let mut ready: std::collections::BTreeSet<RevIdx> = (0..n).filter(|&r| waiting[r] == 0).collect();
    let mut order = Vec::with_capacity(n);
    while let Some(r) = ready.pop_first() {
        order.push(r);
        for &c in &children[r] {
            waiting[c] -= 1;
            if waiting[c] == 0 {
                ready.insert(c);
            }
        }
    }
    (order, deps)
}

/// Runs the lint pass over revisions parsed by [`parse_all`], adding
/// diagnostics to `report`.
pub(crate) fn lint(
    revs: &[LoadedRevision],
    parsed: &[Parsedrev],
    graph: &Graph,
    config: &Config,
    cache: Option<&Cache>,
    out: &mut Vec<Diagnostic>,
) {
    // The declared schema is parsed on a thread of its own while the
    // revisions are replayed here.
    std::thread::scope(|scope| {
        let declared = config
            .declared
            .as_ref()
            .filter(|_| config.level(super::declared::RULE) != Level::Allow)
            .map(|d| (d, scope.spawn(move || super::declared::parse_cached(&d.text, cache))));
        lint_with(revs, parsed, graph, config, declared, false, out);
    });
}

/// The merged model of every head, replayed as the lint pass does (its
/// findings dropped), and the revisions in replay order: what
/// `kiln revision --autogenerate` starts from.
pub(crate) fn head_model(revs: &[LoadedRevision], parsed: &[Parsedrev], graph: &Graph, config: &Config) -> (Model, Vec<RevIdx>) {
    let head = lint_with(revs, parsed, graph, config, None, true, &mut Vec::new()).unwrap_or_default();
    (head, graph_order(graph, revs.len()).0)
}

type DeclaredParse<'s> = (&'s crate::config::DeclaredSchema, std::thread::ScopedJoinHandle<'s, super::declared::Parse>);

fn lint_with(
    revs: &[LoadedRevision],
    parsed: &[Parsedrev],
    graph: &Graph,
    config: &Config,
    declared: Option<DeclaredParse<'_>>,
    want_head: bool,
    out: &mut Vec<Diagnostic>,
) -> Option<Model> {
    let (order, deps) = graph_order(graph, revs.len());
    let mut uses: Vec<usize> = vec![0; revs.len()];
    for d in &deps {
        for &p in d {
            uses[p] += 1;
        }
    }
    let mut models: Vec<Option<Model>> = vec![None; revs.len()];
    // Deployed history: the baseline and everything it needs.
    let baselined = graph.applied_with(&config.baseline.iter().filter_map(|b| graph.index_of(b)).collect::<Vec<_>>());
    let mut emitter = Emitter { config, first_of_rule: Vec::new(), baselined: &baselined };
    let mut head: Option<Model> = None;
    for (ordinal, &r) in order.iter().enumerate() {
        let mut model = Model::default();
        for (i, &p) in deps[r].iter().enumerate() {
            uses[p] -= 1;
            let last_use = uses[p] == 0;
            match (i, last_use) {
                (0, true) => model = models[p].take().unwrap_or_default(),
                (0, false) => model = models[p].clone().unwrap_or_default(),
                (_, _) => {
                    if let Some(m) = &models[p] {
                        model.merge_from(m);
                    }
                    if last_use {
                        models[p] = None;
                    }
                }
            }
        }
        let findings = lint_revision(&revs[r], &parsed[r], &mut model, ordinal as u32, &config.naming);
        emitter.emit(r, &revs[r], findings, out);
        if uses[r] > 0 {
            models[r] = Some(model);
        } else if declared.is_some() || want_head {
            // A head: what the declared schema is compared with.
            match &mut head {
                None => head = Some(model),
                Some(h) => h.merge_from(&model),
            }
        }
    }
    if let (Some((_, parsing)), Some(head)) = (declared, &head) {
        let Ok(parse) = parsing.join() else { return None };
        let mut found = Vec::new();
        super::declared::compare(config, parse, head, revs, parsed, &order, &mut found);
        let warn = config.level(super::declared::RULE) == Level::Warn;
        for mut d in found {
            if warn {
                d.severity = crate::diagnostic::Severity::Warning;
            }
            out.push(d);
        }
    }
    head
}

/// Turns findings into diagnostics: levels, allow comments, and the
/// "how to configure this" note on the first finding of each rule.
struct Emitter<'a> {
    config: &'a Config,
    first_of_rule: Vec<&'static str>,
    /// By revision: in the baseline (kiln.toml's `baseline` or one of its ancestors).
    baselined: &'a [bool],
}

impl Emitter<'_> {
    fn emit(&mut self, r: RevIdx, rev: &LoadedRevision, findings: Vec<(Option<Range<usize>>, Finding)>, out: &mut Vec<Diagnostic>) {
        let text = text_of(rev);
        let allows = allow_comments(text);
        if self.baselined[r] {
            // History already deployed: findings never fail; `check --all` lists them.
            if self.config.report_baselined {
                for (_, f) in findings {
                    let mut d = Diagnostic::warning(f.rule, f.message).at(rev.file, f.span).with_note(format!(
                        "{} (`baseline = {}` in kiln.toml): history already deployed, listed by `kiln check --all` only",
                        super::BASELINE_NOTE,
                        match &self.config.baseline[..] {
                            [one] => format!("\"{one}\""),
                            many => format!("[{}]", many.iter().map(|b| format!("\"{b}\"")).collect::<Vec<_>>().join(", ")),
                        }
                    ));
                    if let Some(h) = f.help {
                        d = d.with_help(h);
                    }
                    out.push(d);
                }
            }
            return;
        }
        for (scope, f) in findings {
            let scope_kind = scope.is_some();
            let fixed = super::FIXED.contains(&f.rule);
            let level = if fixed { Level::Error } else { self.config.level(f.rule) };
            if level == Level::Allow {
                continue;
            }
            // Statement findings are allowed by a comment in the statement's
            // scope; revision-wide ones by a comment anywhere in the file.
            let allowed = !fixed
                && allows
                    .iter()
                    .any(|(at, names)| names.contains(&f.rule) && scope.as_ref().is_none_or(|s| at.start >= s.start && at.start < s.end));
            if allowed {
                continue;
            }
            let mut d = match level {
                Level::Error => Diagnostic::error(f.rule, f.message),
                _ => Diagnostic::warning(f.rule, f.message),
            }
            .at(rev.file, f.span);
            if let Some((span, label)) = f.label {
                d = d.with_label(rev.file, span, label);
            }
            for n in f.notes {
                d = d.with_note(n);
            }
            if let Some(h) = f.help {
                d = d.with_help(h);
            }
            if fixed && !self.first_of_rule.contains(&f.rule) {
                self.first_of_rule.push(f.rule);
                d = d.with_note(format!("`{}` is always an error: neither kiln.toml nor `-- kiln:allow` lowers it", f.rule));
            } else if !self.first_of_rule.contains(&f.rule) {
                self.first_of_rule.push(f.rule);
                let default = super::rule(f.rule).map_or(Level::Error, |r| r.default);
                let how = if default == level {
                    format!("`{}` is {} by default", f.rule, level_word(level))
                } else {
                    format!("kiln.toml sets `{}` to {}", f.rule, level.as_str())
                };
                let allow = if scope_kind { "allow one statement with" } else { "allow it for one revision with" };
                d = d.with_note(format!("{how}; change its level under `[lints]` in kiln.toml, or {allow} `-- kiln:allow({})`", f.rule));
            }
            out.push(d);
        }
        for (at, names) in &allows {
            for name in names {
                if super::rule(name).is_none() {
                    let known: Vec<&str> = super::RULES.iter().map(|r| r.name).collect();
                    out.push(
                        Diagnostic::warning("unknown-lint", format!("`kiln:allow` names `{name}`, which is not a kiln rule"))
                            .at(rev.file, at.clone())
                            .with_help(format!("known rules: {}", known.join(", "))),
                    );
                }
            }
        }
    }
}

fn level_word(level: Level) -> &'static str {
    match level {
        Level::Error => "an error",
        Level::Warn => "a warning",
        Level::Allow => "allowed",
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Dir {
    Up,
    Down,
}

/// What the rules know while checking one section.
struct Ctx<'a> {
    rev: u32,
    dir: Dir,
    transactional: bool,
    /// A statement earlier in this revision may have changed anything.
    opaque_here: bool,
    /// Findings, with the file range an allow comment must fall in (None: anywhere).
    out: &'a mut Vec<(Option<Range<usize>>, Finding)>,
    /// Where the current statement's allow comments may be (file offsets).
    scope: Range<usize>,
    /// Section offset in the file.
    base: usize,
    /// The file's BOM-less text.
    file_text: &'a str,
    /// The names the naming rules expect (kiln.toml's `[naming_convention]`).
    naming: &'a crate::config::NamingConvention,
}

impl Ctx<'_> {
    /// Live-database safety rules look at upgrades only: a downgrade's
    /// statements mostly undo what its upgrade did, and flagging them
    /// again would only repeat each warning.
    fn safety(&self) -> bool {
        self.dir == Dir::Up
    }

    /// The text at a span of the current section.
    fn text(&self, span: &Range<usize>) -> &str {
        self.file_text.get(span.start + self.base..span.end + self.base).unwrap_or("")
    }

    fn push(&mut self, mut f: Finding) {
        f.span = f.span.start + self.base..f.span.end + self.base;
        if let Some((s, _)) = &mut f.label {
            *s = s.start + self.base..s.end + self.base;
        }
        self.out.push((Some(self.scope.clone()), f));
    }

    /// True when `key` existed before this revision (or is unknown and no
    /// statement of this revision could have created it); `None` when a
    /// statement kiln could not follow may have created it.
    fn existing(&self, model: &Model, key: &str) -> Option<bool> {
        match model.table(key) {
            Some(t) => Some(t.created_in != self.rev),
            None if self.opaque_here => None,
            None => Some(true),
        }
    }

    /// [`Ctx::existing`] for the live-database safety rules, which look at
    /// upgrades only: always `Some(false)` in a downgrade.
    fn live(&self, model: &Model, key: &str) -> Option<bool> {
        if self.safety() {
            self.existing(model, key)
        } else {
            Some(false)
        }
    }
}

fn lint_revision(
    rev: &LoadedRevision,
    parsed: &Parsedrev,
    model: &mut Model,
    ordinal: u32,
    naming: &crate::config::NamingConvention,
) -> Vec<(Option<Range<usize>>, Finding)> {
    let mut out = Vec::new();
    let sections: Vec<&Section> = std::iter::once(&parsed.upgrade).chain(parsed.downgrade.as_ref()).collect();
    let mut broken = false;
    for s in &sections {
        if let Some((message, span)) = &s.parsed.too_complex {
            broken = true;
            let f = Finding::new(
                "sql-too-complex",
                span.start + s.start..span.end + s.start,
                format!("SQL nests deeper than kiln's parser goes: {message}"),
            )
            .help(
                "split it: a long `a OR b OR ...` chain into `IN (...)` or `= ANY (...)`, a deep nesting into a CTE or several statements",
            );
            out.push((None, f));
        }
        for (message, span) in &s.parsed.errors {
            broken = true;
            let f = Finding::new("sql-syntax", span.start + s.start..span.end + s.start, format!("SQL syntax error: {message}"))
                .help("fix the statement; if it is valid PostgreSQL that kiln's parser rejects, add `-- kiln:allow(sql-syntax)` above it and report it");
            let scope = statement_scope(s, span.start);
            out.push((Some(scope), f));
        }
    }
    if broken {
        // The statements are not reliable; the model becomes uncertain.
        model.opaque = true;
        return out;
    }

    // The tables this revision can change, so that the reversibility check
    // compares only them (snapshots stay small however large the schema).
    let mut created_index_owner: HashMap<String, String> = HashMap::new();
    for s in &sections {
        for st in &s.parsed.stmts {
            if let Op::CreateIndex(ci) = &st.op {
                if let Some(n) = &ci.name {
                    let key = ci.table.key();
                    created_index_owner.insert(model::sibling_key(&key, &n.value), key);
                }
            }
        }
    }
    let mut touched = Vec::new();
    for s in &sections {
        for st in &s.parsed.stmts {
            model.touched(&st.op, &created_index_owner, &mut touched);
        }
    }
    touched.sort();
    touched.dedup();
    let opaque = sections.iter().any(|s| s.parsed.stmts.iter().any(|st| matches!(st.op, Op::Opaque(_))));
    let before = model.snapshot(&touched);
    let objects_before = model.objects();
    let transactional = rev.parsed.transactional;
    let mut ctx = Ctx {
        rev: ordinal,
        dir: Dir::Up,
        transactional,
        opaque_here: false,
        out: &mut out,
        scope: 0..0,
        base: parsed.upgrade.start,
        file_text: text_of(rev),
        naming,
    };
    check_section(&parsed.upgrade, model, &mut ctx);
    if let Some(down) = &parsed.downgrade {
        let after = model.snapshot(&touched);
        let objects_after = model.objects();
        let opaque_after = model.opaque;
        ctx.dir = Dir::Down;
        ctx.base = down.start;
        ctx.opaque_here = false;
        check_section(down, model, &mut ctx);
        if !opaque {
            let mut diffs = model::differences(&before, &model.snapshot(&touched));
            diffs.extend(model::object_differences(&objects_before, &model.objects()));
            if !diffs.is_empty() {
                out.push((None, reversibility_finding(rev, down.start, diffs)));
            }
        }
        model.restore(after);
        model.restore_objects(objects_after);
        model.opaque = opaque_after;
    }
    out
}

fn reversibility_finding(rev: &LoadedRevision, down_start: usize, diffs: Vec<model::Difference>) -> Finding {
    let text = text_of(rev);
    let marker = text[..down_start].rfind("-- kiln:downgrade").map_or(down_start..down_start, |i| i..i + "-- kiln:downgrade".len());
    let fixes: Vec<String> = diffs.iter().filter_map(|d| d.fix.clone()).collect();
    let mut f = Finding::new(
        "reversible",
        marker,
        format!("the downgrade of `{}` does not give back the schema its upgrade started from", rev.parsed.id.value),
    );
    for d in &diffs {
        f = f.note(d.what.clone());
    }
    let help = if fixes.len() == diffs.len() {
        format!("add to the downgrade: {}", fixes.join(" "))
    } else {
        "make the downgrade undo each change of the upgrade, in reverse order".into()
    };
    f.help(help)
}

/// Where an allow comment for the statement containing `at` may be: from
/// the end of the previous statement to the end of this one (file offsets).
fn statement_scope(s: &Section, at: usize) -> Range<usize> {
    let mut prev_end = 0;
    for st in &s.parsed.stmts {
        if st.span.end >= at {
            return s.start + prev_end..s.start + st.span.end.max(at + 1);
        }
        prev_end = st.span.end;
    }
    s.start + prev_end..s.start + at + 1
}

fn check_section(s: &Section, model: &mut Model, ctx: &mut Ctx<'_>) {
    let mut prev_end = 0;
    let mut first_schema: Option<Range<usize>> = None;
    let mut first_data: Option<(Range<usize>, &'static str, Range<usize>)> = None;
    for st in &s.parsed.stmts {
        ctx.scope = s.start + prev_end..s.start + st.span.end;
        prev_end = st.span.end;
        match &st.op {
            Op::Data(kind) => {
                if first_data.is_none() {
                    first_data = Some((st.span.clone(), kind, ctx.scope.clone()));
                }
            }
            Op::Neutral => {}
            _ => {
                first_schema.get_or_insert(st.span.clone());
            }
        }
        check_statement(st, model, ctx);
        model.apply(&st.op, ctx.rev);
        if matches!(st.op, Op::Opaque(_)) {
            ctx.opaque_here = true;
        }
    }
    if let (Some(schema), Some((data, kind, scope))) = (first_schema, first_data) {
        let mut f = Finding::new(
            "mixed-data-schema",
            data,
            format!(
                "this {} revision section changes data ({kind}) and the schema",
                if ctx.dir == Dir::Up { "upgrade" } else { "downgrade" }
            ),
        )
        .help("move the data change to a revision of its own: it can then be re-run, timed and rolled back apart from the DDL");
        f.label = Some((schema, "schema change here".into()));
        ctx.scope = scope;
        ctx.push(f);
    }
}

/// Names over PostgreSQL's 63 bytes that a statement gives (tables,
/// columns, constraints, indexes, renames).
fn long_names(st: &Stmt, ctx: &mut Ctx<'_>) {
    let mut names: Vec<(&str, &str, Range<usize>)> = Vec::new();
    fn constraint(c: &ConstraintDef) -> Option<(&'static str, &str, Range<usize>)> {
        c.name.as_ref().map(|n| ("constraint", n.value.as_str(), n.span.clone()))
    }
    match &st.op {
        Op::CreateTable(ct) => {
            names.push(("table", &ct.table.name, ct.table.span.clone()));
            for c in &ct.columns {
                names.push(("column", &c.name.value, c.name.span.clone()));
                names.extend(c.constraints.iter().filter_map(constraint));
            }
            names.extend(ct.constraints.iter().filter_map(constraint));
        }
        Op::AlterTable { actions, .. } => {
            for (_, a) in actions {
                match a {
                    Action::AddColumn(c) => {
                        names.push(("column", &c.name.value, c.name.span.clone()));
                        names.extend(c.constraints.iter().filter_map(constraint));
                    }
                    Action::AddConstraint(c) => names.extend(constraint(c)),
                    Action::RenameColumn(_, to) => names.push(("column", &to.value, to.span.clone())),
                    Action::RenameConstraint(_, to) => names.push(("constraint", &to.value, to.span.clone())),
                    Action::RenameTable(to) => names.push(("table", &to.value, to.span.clone())),
                    _ => {}
                }
            }
        }
        Op::CreateIndex(ci) => names.extend(ci.name.as_ref().map(|n| ("index", n.value.as_str(), n.span.clone()))),
        Op::RenameIndex(_, to) => names.push(("index", &to.value, to.span.clone())),
        _ => {}
    }
    for (what, name, span) in names.into_iter().filter(|(_, n, _)| n.len() > names::MAX_IDENT) {
        let mut end = names::MAX_IDENT;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        ctx.push(
            Finding::new("identifier-too-long", span, format!("{what} name `{name}` is {} bytes; PostgreSQL keeps only the first 63", name.len()))
                .note(format!(
                    "it is created as `{}`: two names alike in their first 63 bytes become one, and what compares names (models, reports) sees another",
                    &name[..end]
                ))
                .help("give it a name of at most 63 bytes (for convention names, kiln suggests SQLAlchemy's shortened form)"),
        );
    }
}

fn check_statement(st: &Stmt, model: &Model, ctx: &mut Ctx<'_>) {
    if ctx.transactional {
        transaction_rules(st, ctx);
    }
    if ctx.safety() {
        long_names(st, ctx);
    }
    match &st.op {
        Op::CreateTable(ct) => {
            table_name(&ct.table.name, ct.table.span.clone(), ctx);
            let key = ct.table.key();
            let table = model::bare(&key).to_string();
            for c in &ct.columns {
                column_type(&table, c, ctx);
            }
            let pk: Option<&[String]> = ct.columns.iter().flat_map(|c| &c.constraints).chain(&ct.constraints).find_map(|c| match &c.kind {
                ConstraintKind::PrimaryKey(cols) => Some(cols.as_slice()),
                _ => None,
            });
            if pk == Some(&["id".to_string()][..]) {
                if let Some(id) = ct.columns.iter().find(|c| c.name.value == "id") {
                    ulid(&table, id.ty.as_ref().map(|t| (t.canonical.as_str(), t.span.clone())), id.span.clone(), ctx);
                }
            }
            for c in ct.columns.iter().flat_map(|c| &c.constraints).chain(&ct.constraints) {
                constraint_rules(&key, c, Some(&ct.columns), model, ctx, false);
            }
        }
        Op::CreateTableAs(q) => table_name(&q.name, q.span.clone(), ctx),
        Op::AlterTable { table, actions, .. } => {
            let key = table.key();
            let bare = model::bare(&key).to_string();
            let existing = ctx.existing(model, &key);
            let live = ctx.live(model, &key);
            let t = model.table(&key);
            for (span, a) in actions {
                match a {
                    Action::AddColumn(c) => {
                        column_type(&bare, c, ctx);
                        if existing == Some(true) {
                            let serial = c.ty.as_ref().is_some_and(|t| t.serial);
                            if c.not_null && c.default.is_none() && c.generated.is_none() && !serial {
                                ctx.push(
                                    Finding::new(
                                        "not-null-default",
                                        c.span.clone(),
                                        format!("column `{bare}.{}` is added NOT NULL without a default to a table an earlier revision created", c.name.value),
                                    )
                                    .help("give it a server default (`DEFAULT ...`); or add it nullable, backfill it, and `SET NOT NULL` in a later revision")
                                    .note("PostgreSQL refuses to add it as soon as the table has a row"),
                                );
                            }
                        }
                        if live == Some(true) {
                            let volatile = c.default.as_ref().and_then(|d| d.volatile.clone().map(|v| (v, d.span.clone())));
                            let volatile = volatile.or_else(|| {
                                c.ty.as_ref().filter(|t| t.serial).map(|t| (format!("nextval() of `{}`", t.written), t.span.clone()))
                            });
                            let volatile = volatile.or_else(|| c.generated.as_ref().map(|_| ("an identity or stored generated value".to_string(), c.span.clone())));
                            if let Some((func, span)) = volatile {
                                ctx.push(
                                    Finding::new(
                                        "volatile-default",
                                        span,
                                        format!("column `{bare}.{}` is added with a volatile default ({func}): PostgreSQL rewrites the whole table", c.name.value),
                                    )
                                    .help("add the column without a default (or with a constant one), backfill it in batches, then set the default"),
                                );
                            }
                        }
                        if c.name.value == "id" && c.constraints.iter().any(|k| matches!(k.kind, ConstraintKind::PrimaryKey(_))) {
                            ulid(&bare, c.ty.as_ref().map(|t| (t.canonical.as_str(), t.span.clone())), c.span.clone(), ctx);
                        }
                        for k in &c.constraints {
                            constraint_rules(&key, k, Some(std::slice::from_ref(c)), model, ctx, false);
                        }
                    }
                    Action::AddConstraint(k) => {
                        constraint_rules(&key, k, None, model, ctx, live == Some(true));
                        let using_index = ctx.text(&k.span).to_ascii_lowercase().contains("using index");
                        if live == Some(true) && !using_index {
                            let what = match &k.kind {
                                ConstraintKind::PrimaryKey(_) => Some("PRIMARY KEY"),
                                ConstraintKind::Unique(_) => Some("UNIQUE"),
                                ConstraintKind::Exclude => Some("EXCLUDE"),
                                _ => None,
                            };
                            if let Some(what) = what {
                                let help = if what == "EXCLUDE" {
                                    "an exclusion constraint cannot be built concurrently: add it in a quiet window, or allow this for a small table".to_string()
                                } else {
                                    format!(
                                        "build the index first with `CREATE UNIQUE INDEX CONCURRENTLY` (a revision with `Transactional: false`), \
                                         then `ALTER TABLE {bare} ADD CONSTRAINT <name> {what} USING INDEX <index>`"
                                    )
                                };
                                ctx.push(
                                    Finding::new(
                                        "unique-constraint-lock",
                                        k.span.clone(),
                                        format!("adding a {what} constraint to existing table `{bare}` builds its index while blocking writes to it"),
                                    )
                                    .help(help),
                                );
                            }
                        }
                        if let ConstraintKind::PrimaryKey(cols) = &k.kind {
                            if cols == &["id"] {
                                if let Some(ty) = t.and_then(|t| t.column("id")).and_then(|c| c.ty.clone()) {
                                    ulid(&bare, Some((&ty, k.span.clone())), k.span.clone(), ctx);
                                }
                            }
                        }
                    }
                    Action::SetType(c, ty) => {
                        timestamp(&bare, &c.value, ty, ctx);
                        json(&bare, &c.value, ty, ctx);
                        let old = t.and_then(|t| t.column(&c.value)).and_then(|c| c.ty.clone());
                        let is_pk_id = c.value == "id"
                            && t.is_some_and(|t| t.constraints.iter().any(|k| matches!(&k.kind, model::Kind::PrimaryKey(cols) if cols == &["id"])));
                        if is_pk_id {
                            ulid(&bare, Some((&ty.canonical, ty.span.clone())), span.clone(), ctx);
                        }
                        let using = ctx.text(span).to_ascii_lowercase().contains(" using ");
                        let free = !using && old.as_deref().is_some_and(|old| no_rewrite(old, &ty.canonical));
                        if live == Some(true) && !added_here(t, &c.value, ctx.rev) && !free {
                            ctx.push(
                                Finding::new(
                                    "alter-column-type",
                                    span.clone(),
                                    format!("changing the type of `{bare}.{}` rewrites the table and its indexes under an ACCESS EXCLUSIVE lock", c.value),
                                )
                                .help("add a column of the new type, backfill it, move readers over, then drop the old one; or allow this for a small table"),
                            );
                        }
                    }
                    Action::SetNotNull(c) if live == Some(true) && !added_here(t, &c.value, ctx.rev) => ctx.push(
                        Finding::new(
                            "set-not-null",
                            span.clone(),
                            format!("`SET NOT NULL` on `{bare}.{}` scans the whole table under an ACCESS EXCLUSIVE lock", c.value),
                        )
                        .help(format!(
                            "add `CONSTRAINT ck_{bare}_{col}_not_null CHECK ({col} IS NOT NULL) NOT VALID`, `VALIDATE CONSTRAINT` it in a later \
                             revision, then `SET NOT NULL` (PostgreSQL 12+ skips the scan) and drop the check",
                            col = c.value
                        )),
                    ),
                    Action::DropColumn(c) if live == Some(true) && !added_here(t, &c.value, ctx.rev) => ctx.push(
                        Finding::new(
                            "drop-column-or-table",
                            span.clone(),
                            format!("dropping column `{bare}.{}` breaks code that still reads it, and its data is gone", c.value),
                        )
                        .help("stop using the column in code and deploy that first; then drop it in a later revision"),
                    ),
                    Action::RenameColumn(from, to) if live == Some(true) && !added_here(t, &from.value, ctx.rev) => ctx.push(
                        Finding::new(
                            "rename-column-or-table",
                            span.clone(),
                            format!("renaming column `{bare}.{}` to `{}` breaks running code that uses the old name", from.value, to.value),
                        )
                        .help("expand and contract: add the new column, write both, move readers over, then drop the old one"),
                    ),
                    Action::RenameTable(to) => {
                        table_name(&to.value, to.span.clone(), ctx);
                        if live == Some(true) {
                            ctx.push(
                                Finding::new("rename-column-or-table", span.clone(), format!("renaming table `{bare}` to `{}` breaks running code that uses the old name", to.value))
                                    .help("create the new name as a view first (or rename in a release of its own, with code that handles both names)"),
                            );
                        }
                    }
                    _ => {}
                }
            }
        }
        Op::CreateIndex(ci) => {
            let key = ci.table.key();
            let bare = model::bare(&key);
            let cols: Vec<String> = ci.columns.iter().map(|c| c.clone().unwrap_or_default()).collect();
            let exprs = ci.columns.iter().any(Option::is_none);
            let naming = ctx.naming;
            let templates: Vec<&str> = if ci.unique { vec![&naming.ix, &naming.uq] } else { vec![&naming.ix] };
            let expected = names::render(&naming.ix, bare, &cols, None, None);
            // An expression has no column name: the part of the name before it must match.
            let before_columns = |tpl: &str| {
                let marked = names::render(tpl, bare, &["\u{1}".to_string()], None, None);
                marked.split('\u{1}').next().unwrap_or_default().to_string()
            };
            let ok = ci.name.as_ref().is_some_and(|n| {
                templates.iter().any(|tpl| {
                    if exprs {
                        n.value.starts_with(&before_columns(tpl))
                    } else {
                        names::matches(&n.value, &names::render(tpl, bare, &cols, None, None))
                    }
                })
            });
            if !ok {
                let shown = if exprs { format!("{}<what it indexes>", before_columns(&naming.ix)) } else { expected.clone() };
                let (span, message) = match &ci.name {
                    Some(n) => (n.span.clone(), format!("index `{}` on `{bare}` should be named `{shown}`", n.value)),
                    None => (st.span.clone(), format!("index on `{bare}` has no name; it should be named `{shown}`")),
                };
                let also = if ci.unique && !exprs {
                    format!(" (or `{}`)", names::render(&naming.uq, bare, &cols, None, None))
                } else {
                    String::new()
                };
                ctx.push(
                    Finding::new("index-name", span, message)
                        .help(format!("name it `{shown}`{also}: `{}`", names::describe_template(&naming.ix))),
                );
            }
            if ctx.safety() && !ci.unique && ci.columns.len() > 3 {
                ctx.push(
                    Finding::new("wide-index", st.span.clone(), format!("index on `{bare}` covers {} columns", ci.columns.len()))
                        .help("an index over more than three columns rarely beats one over its first few, and every write pays for it; index the leading columns, or allow this with a reason"),
                );
            }
            match &ci.concurrently {
                None if ctx.live(model, &key) == Some(true) => ctx.push(
                    Finding::new(
                        "index-concurrently",
                        st.span.clone(),
                        format!(
                            "`CREATE INDEX` on existing table `{bare}` without `CONCURRENTLY` blocks writes to it while the index builds"
                        ),
                    )
                    .help("use `CREATE INDEX CONCURRENTLY`, in a revision of its own with `-- Transactional: false` in its header"),
                ),
                _ => {}
            }
        }
        Op::DropIndex { indexes, concurrently: None } => {
            for ix in indexes {
                let owner = model.index_owner(&ix.key()).map(str::to_string);
                if let Some(owner) = owner.filter(|o| ctx.live(model, o) == Some(true)) {
                    ctx.push(
                        Finding::new(
                            "drop-index-concurrently",
                            ix.span.clone(),
                            format!(
                                "`DROP INDEX {}` without `CONCURRENTLY` blocks reads and writes to `{}` until it is done",
                                ix.name,
                                model::bare(&owner)
                            ),
                        )
                        .help("use `DROP INDEX CONCURRENTLY`, in a revision of its own with `-- Transactional: false` in its header"),
                    );
                }
            }
        }
        Op::DropTable(tables) => {
            for t in tables {
                if ctx.live(model, &t.key()) == Some(true) {
                    ctx.push(
                        Finding::new(
                            "drop-column-or-table",
                            t.span.clone(),
                            format!("dropping table `{}` breaks code that still uses it, and its data is gone", t.key()),
                        )
                        .help("stop using the table in code and deploy that first; then drop it in a later revision"),
                    );
                }
            }
        }
        Op::Opaque(what) => ctx.push(
            Finding::new(
                "unchecked-statement",
                st.span.clone(),
                format!("kiln cannot tell what this `{what}` statement changes, so it is not checked"),
            )
            .note("tables it may touch are unknown to later checks, and this revision's downgrade is not checked for reversibility")
            .help("write the change as plain DDL if you can; or allow this warning for the statement"),
        ),
        _ => {}
    }
}

fn added_here(t: Option<&model::Table>, column: &str, rev: u32) -> bool {
    t.and_then(|t| t.column(column)).is_some_and(|c| c.added_in == rev && c.added_in != PREEXISTING)
}

/// A transactional revision runs in one transaction that kiln opens and
/// commits with its bookkeeping: a statement that ends it would commit or
/// lose work behind kiln's back, and one PostgreSQL refuses in a
/// transaction block fails at run time. Neither rule can be allowed.
fn transaction_rules(st: &Stmt, ctx: &mut Ctx<'_>) {
    match &st.tx {
        sql::Tx::Plain => {}
        sql::Tx::Control(what) => ctx.push(
            Finding::new(
                "transaction-control",
                st.span.clone(),
                format!("`{what}` ends or opens a transaction inside a revision that kiln runs in one transaction"),
            )
            .note("kiln commits the revision together with its version-table row; a `COMMIT` or `ROLLBACK` here would commit part of it, or lose it, while kiln records it as applied")
            .help("remove it: the revision already runs in a transaction; to run statements one by one outside a transaction, put `-- Transactional: false` in the header"),
        ),
        sql::Tx::Outside { what, concurrently, .. } => {
            let (rule, span) = match concurrently {
                Some(c) => ("concurrently-in-transaction", c.clone()),
                None => ("no-transaction-block", st.span.clone()),
            };
            ctx.push(
                Finding::new(rule, span, format!("`{what}` cannot run inside a transaction, and this revision runs in one"))
                    .help("move it to a revision of its own with `-- Transactional: false` in the header"),
            );
        }
    }
}

fn table_name(name: &str, span: Range<usize>, ctx: &mut Ctx<'_>) {
    if names::is_snake_case(name) && names::is_plural(name) {
        return;
    }
    let want = names::table_suggestion(name);
    let why = if names::is_snake_case(name) { "is not plural" } else { "is not snake_case" };
    ctx.push(
        Finding::new("table-name", span, format!("table name `{name}` {why}"))
            .help(format!("name it `{want}`: tables are plural snake_case")),
    );
}

fn column_type(table: &str, c: &ColumnDef, ctx: &mut Ctx<'_>) {
    if let Some(ty) = &c.ty {
        timestamp(table, &c.name.value, ty, ctx);
        json(table, &c.name.value, ty, ctx);
    }
}

fn json(table: &str, column: &str, ty: &sql::TypeRef, ctx: &mut Ctx<'_>) {
    // A downgrade that re-adds the column restores what was deployed: not reported again.
    if ctx.safety() && (ty.canonical == "json" || ty.canonical.starts_with("json[")) {
        ctx.push(
            Finding::new("json-type", ty.span.clone(), format!("column `{table}.{column}` is `json`, which has no equality operator"))
                .help("use `jsonb`: it compares, indexes (GIN) and deduplicates; `json` only keeps the text as written")
                .note("`SELECT DISTINCT`, `GROUP BY`, `UNION` and unique indexes fail on a `json` column"),
        );
    }
}

/// True when changing a column from `old` to `new` (canonical types) needs
/// no rewrite: PostgreSQL's binary-coercible changes, which only take a
/// brief ACCESS EXCLUSIVE lock to update the catalog (varchar widening or
/// unlimited, varchar to text and back to an unlimited varchar, numeric
/// precision up at the same scale or unconstrained, cidr to inet).
pub(super) fn no_rewrite(old: &str, new: &str) -> bool {
    let squash = |t: &str| t.replace(' ', "");
    let (old, new) = (squash(old), squash(new));
    if old == new {
        return true;
    }
    let args = |t: &str, base: &str| -> Option<Vec<u32>> {
        let rest = t.strip_prefix(base)?;
        if rest.is_empty() {
            return Some(Vec::new());
        }
        rest.strip_prefix('(')?.strip_suffix(')')?.split(',').map(|n| n.parse().ok()).collect()
    };
    let unlimited_text = |t: &str| t == "text" || t == "varchar";
    if let (Some(a), Some(b)) = (args(&old, "varchar"), args(&new, "varchar")) {
        return b.is_empty() || (!a.is_empty() && b[0] >= a[0]);
    }
    if args(&old, "varchar").is_some() && new == "text" {
        return true;
    }
    if old == "text" && unlimited_text(&new) {
        return true;
    }
    if let (Some(a), Some(b)) = (args(&old, "numeric"), args(&new, "numeric")) {
        let scale = |v: &[u32]| v.get(1).copied().unwrap_or(0);
        return b.is_empty() || (!a.is_empty() && b[0] >= a[0] && scale(&a) == scale(&b));
    }
    old == "cidr" && new == "inet"
}

fn timestamp(table: &str, column: &str, ty: &sql::TypeRef, ctx: &mut Ctx<'_>) {
    if ty.canonical.starts_with("timestamp") && !ty.canonical.starts_with("timestamptz") {
        ctx.push(
            Finding::new(
                "timestamptz",
                ty.span.clone(),
                format!("column `{table}.{column}` is `{}`, a timestamp without time zone", ty.written),
            )
            .help(format!(
                "use `{}`: it stores an instant, whatever the session's time zone",
                ty.canonical.replacen("timestamp", "TIMESTAMPTZ", 1)
            )),
        );
    }
}

fn ulid(table: &str, ty: Option<(&str, Range<usize>)>, span: Range<usize>, ctx: &mut Ctx<'_>) {
    let (canonical, span) = match ty {
        Some((t, s)) => (t, s),
        None => ("no type", span),
    };
    if canonical == "varchar(26)" || canonical == "char(26)" {
        return;
    }
    ctx.push(
        Finding::new(
            "ulid-primary-key",
            span,
            format!("primary key `{table}.id` is `{canonical}`; ids are ULIDs, stored as `VARCHAR(26)`"),
        )
        .help("declare it `id VARCHAR(26) NOT NULL` and generate ULIDs in the application"),
    );
}

/// Naming and type rules for one constraint on table `key`. `columns` are
/// the statement's own column definitions (CREATE TABLE, ADD COLUMN), which
/// the model does not hold yet. `existing` is true for `ADD CONSTRAINT` on a
/// table that existed before this revision.
fn constraint_rules(key: &str, c: &ConstraintDef, columns: Option<&[ColumnDef]>, model: &Model, ctx: &mut Ctx<'_>, existing: bool) {
    let table = model::bare(key);
    match &c.kind {
        ConstraintKind::ForeignKey { columns: cols, table: ref_table, ref_columns, .. } => {
            let ref_key = ref_table.key();
            let referred = Some((model::bare(&ref_key), ref_columns.as_slice()));
            let expected = names::render(&ctx.naming.fk, table, cols, referred, c.name.as_ref().map(|n| n.value.as_str()));
            name_rule("foreign-key-name", "foreign key", &expected, table, c, ctx);
            // Types: each referencing column against the column it references.
            let ref_cols: Vec<String> = if ref_columns.is_empty() {
                let pk = if ref_key == key {
                    columns.and_then(|cs| {
                        cs.iter()
                            .find(|d| d.constraints.iter().any(|k| matches!(k.kind, ConstraintKind::PrimaryKey(_))))
                            .map(|d| vec![d.name.value.clone()])
                    })
                } else {
                    None
                };
                pk.or_else(|| model.table(&ref_key).and_then(|t| t.primary_key()).map(<[String]>::to_vec)).unwrap_or_default()
            } else {
                ref_columns.clone()
            };
            let type_of = |tkey: &str, col: &str| -> Option<String> {
                let own = if tkey == key {
                    columns.and_then(|cs| cs.iter().find(|d| d.name.value == col)).and_then(|d| d.ty.as_ref()).map(|t| t.canonical.clone())
                } else {
                    None
                };
                own.or_else(|| {
                    model
                        .table(tkey)
                        .filter(|t| !t.uncertain || t.column(col).is_some())
                        .and_then(|t| t.column(col))
                        .and_then(|c| c.ty.clone())
                })
            };
            for (from, to) in cols.iter().zip(&ref_cols) {
                let (Some(a), Some(b)) = (type_of(key, from), type_of(&ref_key, to)) else { continue };
                if a == b {
                    continue;
                }
                ctx.push(
                    Finding::new(
                        "foreign-key-type",
                        c.span.clone(),
                        format!(
                            "foreign-key column `{table}.{from}` is `{a}` but references `{}.{to}`, which is `{b}`",
                            model::bare(&ref_key)
                        ),
                    )
                    .help(format!("declare `{from}` as `{b}`, the type of the column it references")),
                );
            }
            if existing && !c.not_valid {
                not_valid(table, "foreign key", c, ctx);
            }
        }
        // `UNIQUE USING INDEX <index>` takes its columns from the index, and its
        // name from the index's: checked when the index was created.
        ConstraintKind::Unique(cols) if cols.is_empty() => {}
        ConstraintKind::Unique(cols) => {
            let expected = names::render(&ctx.naming.uq, table, cols, None, c.name.as_ref().map(|n| n.value.as_str()));
            name_rule("unique-name", "unique constraint", &expected, table, c, ctx);
        }
        ConstraintKind::PrimaryKey(cols) => {
            if let Some(template) = &ctx.naming.pk {
                let expected = names::render(template, table, cols, None, None);
                name_rule("primary-key-name", "primary key", &expected, table, c, ctx);
            }
        }
        ConstraintKind::Check(cols) => {
            if let Some(template) = ctx.naming.ck.clone() {
                check_name(&template, table, cols, c, ctx);
            }
            if existing && !c.not_valid {
                not_valid(table, "check constraint", c, ctx);
            }
        }
        _ => {}
    }
}

/// The `ck` template for a check constraint. SQLAlchemy's usual template
/// holds `%(constraint_name)s`, the part the author chooses: any name with
/// the template's text around it fits.
fn check_name(template: &str, table: &str, cols: &[String], c: &ConstraintDef, ctx: &mut Ctx<'_>) {
    const CHOSEN: &str = "\u{1}";
    let rendered = names::render(template, table, cols, None, Some(CHOSEN));
    let fits = |name: &str| match rendered.split_once(CHOSEN) {
        Some((before, after)) => name.len() > before.len() + after.len() && name.starts_with(before) && name.ends_with(after),
        None => names::matches(name, &rendered),
    };
    let shown = rendered.replace(CHOSEN, "<what it checks>");
    match &c.name {
        Some(n) if fits(&n.value) => {}
        Some(n) => ctx.push(
            Finding::new("check-name", n.span.clone(), format!("check constraint `{}` on `{table}` should be named `{shown}`", n.value))
                .help(format!("rename it to fit `{}`", names::describe_template(template))),
        ),
        None => ctx.push(
            Finding::new(
                "check-name",
                c.span.clone(),
                format!("check constraint on `{table}` has no name; PostgreSQL would call it `{}`", model::generated_name(table, &c.kind)),
            )
            .help(format!("name it: `CONSTRAINT {shown} CHECK (...)`")),
        ),
    }
}

fn not_valid(table: &str, what: &str, c: &ConstraintDef, ctx: &mut Ctx<'_>) {
    let name = c.name.as_ref().map_or("...".to_string(), |n| n.value.clone());
    ctx.push(
        Finding::new(
            "constraint-not-valid",
            c.span.clone(),
            format!("adding a {what} to existing table `{table}` checks every row while holding a lock that blocks writes"),
        )
        .help(format!("add it with `NOT VALID`, then run `ALTER TABLE {table} VALIDATE CONSTRAINT {name};` in a later revision")),
    );
}

fn name_rule(rule: &'static str, what: &str, expected: &str, table: &str, c: &ConstraintDef, ctx: &mut Ctx<'_>) {
    match &c.name {
        Some(n) if names::matches(&n.value, expected) => {}
        Some(n) => ctx.push(
            Finding::new(rule, n.span.clone(), format!("{what} `{}` on `{table}` should be named `{expected}`", n.value))
                .help(format!("rename it: `CONSTRAINT {expected}`")),
        ),
        None => ctx.push(
            Finding::new(
                rule,
                c.span.clone(),
                format!("{what} on `{table}` has no name; PostgreSQL would call it `{}`", model::generated_name(table, &c.kind)),
            )
            .help(format!("name it: `CONSTRAINT {expected} ...`")),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::no_rewrite;

    #[test]
    fn binary_coercible_type_changes_need_no_rewrite() {
        for (old, new) in [
            ("varchar(26)", "varchar(255)"),
            ("varchar(26)", "varchar"),
            ("varchar(26)", "text"),
            ("varchar", "text"),
            ("text", "varchar"),
            ("numeric(10,2)", "numeric(12, 2)"),
            ("numeric(10,2)", "numeric"),
            ("cidr", "inet"),
            ("integer", "integer"),
        ] {
            assert!(no_rewrite(old, new), "{old} -> {new}");
        }
        for (old, new) in [
            ("varchar(255)", "varchar(26)"),
            ("text", "varchar(26)"),
            ("integer", "bigint"),
            ("numeric(10,2)", "numeric(12,3)"),
            ("numeric", "numeric(10,2)"),
            ("char(26)", "varchar(26)"),
            ("timestamp", "timestamptz"),
            ("varchar(26)", "integer"),
        ] {
            assert!(!no_rewrite(old, new), "{old} -> {new}");
        }
    }
}
