//! Configuration: the one place where a project tunes kiln's checks.
//!
//! It is read from `kiln.toml` in the migrations directory itself, so that
//! build.rs, `embed_migrations!`, and `kiln --dir` see exactly the same
//! settings. Every key is optional:
//!
//! ```toml
//! # migrations/kiln.toml
//! # Several heads are normally an accident (two branches each added a
//! # revision on the same parent). Allow them for good.
//! allow_multiple_heads = false
//! # Several bases are normally an accident too, unless each carries a branch label.
//! allow_multiple_bases = false
//! # A stricter pattern for new and existing revision ids (a small regex
//! # subset: literals, [classes], and {n}, {n,m}, ?, *, + quantifiers).
//! revision_id_pattern = "[0-9a-f]{12}"
//! # Only in a kiln.toml at a project's root: where the migrations are.
//! # migrations = "db/migrations"
//! # History already deployed: lint findings in this revision and its
//! # ancestors never fail a build or a command (`kiln check --all` lists
//! # them); every later revision meets every rule. A branched history
//! # deployed at several heads lists them: ["7fbe65eaef1b", "a3c9..."].
//! # baseline = "7fbe65eaef1b"
//!
//! # Lint levels ("allow", "warn" or "error"), by rule name; see
//! # `kiln_core::lint::RULES` for every rule and its default.
//! [lints]
//! drop-column-or-table = "error"
//! mixed-data-schema = "allow"
//!
//! # The names the naming rules expect, as SQLAlchemy's naming_convention
//! # (these are the defaults; see `NamingConvention`).
//! [naming_convention]
//! ix = "ix_%(table_name)s_%(column_0_N_name)s"
//! uq = "uq_%(table_name)s_%(column_0_N_name)s"
//! fk = "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s"
//! ```
//!
//! The file is parsed strictly (the TOML a kiln.toml needs: booleans, strings,
//! quoted and dotted keys, the `[lints]` and `[naming_convention]` tables or
//! their inline forms):
//! unknown keys, a key given twice, or a value of the wrong type are errors
//! reported like any other.

use crate::diagnostic::{Diagnostic, FileId};
use crate::lint::{self, Level};

/// File name of the configuration, inside the migrations directory.
pub const CONFIG_FILE: &str = "kiln.toml";

/// Settings for validating a migrations directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Accept several heads even without branch labels.
    pub allow_multiple_heads: bool,
    /// Accept several bases even without branch labels.
    pub allow_multiple_bases: bool,
    /// A pattern every revision id must match, on top of `[0-9A-Za-z_.]{1,32}`.
    pub revision_id_pattern: Option<IdPattern>,
    /// Lint levels set under `[lints]`, overriding each rule's default.
    pub lints: Vec<(&'static str, Level)>,
    /// `migrations = "db/migrations"`: where the migrations directory is,
    /// relative to this file, for a `kiln.toml` at a project's root (the
    /// `kiln` command looks for one from the current directory up, as
    /// Alembic finds `alembic.ini`). The settings stay in the directory's
    /// own `kiln.toml`, which the build reads.
    pub migrations: Option<String>,
    /// Run the SQL lint pass (true unless a caller turns it off: `kiln
    /// revision` and `kiln merge` only need the graph, and the benchmark
    /// measures validation without it). Not a `kiln.toml` key: a project
    /// sets rule levels, it does not switch its checks off.
    pub lint: bool,
    /// `baseline = "<revision>"`: the newest revision of history already
    /// deployed (or `["<rev>", "<rev>"]`, one per deployed head of a
    /// branched history). Lint findings in them and in everything they need
    /// are not reported (graph and file rules still are), unless
    /// [`Config::report_baselined`] asks for them as warnings.
    pub baseline: Vec<String>,
    /// Where `baseline` is written in kiln.toml, for a diagnostic when it
    /// names no revision.
    pub baseline_at: Option<crate::diagnostic::Location>,
    /// List the baseline's lint findings as warnings (`kiln check --all`).
    /// Not a `kiln.toml` key.
    pub report_baselined: bool,
    /// `[naming_convention]`: SQLAlchemy's templates for the names the
    /// naming rules expect; Kartograph's by default.
    pub naming: NamingConvention,
    /// Accept revisions still being written (an empty upgrade or downgrade
    /// section, as `kiln revision` leaves them), with a warning: for the
    /// commands that only read the graph (`heads`, `history`, `revision`...).
    /// Not a `kiln.toml` key: a build and a run always refuse them.
    pub allow_unfinished: bool,
    /// `schema = "schema.sql"`: the schema the application expects at
    /// head, as plain DDL (written by hand, or `pg_dump --schema-only`),
    /// relative to the migrations directory. The lint pass compares the
    /// migrations' head with it (rule `declared-schema`).
    pub schema: Option<String>,
    /// Where `schema` is written in kiln.toml.
    pub schema_at: Option<crate::diagnostic::Location>,
    /// The declared schema's text and its file, once read (by validation).
    pub declared: Option<DeclaredSchema>,
}

/// A declared schema read for comparison ([`Config::schema`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredSchema {
    /// Its file among the report's sources.
    pub file: crate::diagnostic::FileId,
    /// Its text.
    pub text: String,
    /// Its path on disk, for a build script's `rerun-if-changed`.
    pub path: Option<std::path::PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            allow_multiple_heads: false,
            allow_multiple_bases: false,
            revision_id_pattern: None,
            lints: Vec::new(),
            migrations: None,
            lint: true,
            allow_unfinished: false,
            baseline: Vec::new(),
            baseline_at: None,
            report_baselined: false,
            naming: NamingConvention::default(),
            schema: None,
            schema_at: None,
            declared: None,
        }
    }
}

/// The names kiln expects, as SQLAlchemy's `naming_convention` writes them:
/// a team pastes the dict from its models under `[naming_convention]`.
/// Tokens: `%(table_name)s`, `%(column_0_name)s`, `%(column_0_N_name)s`
/// (every column, joined by `_`), `%(column_0N_name)s` (joined with
/// nothing), the same with `label` (`<table>_<column>`) and `key`,
/// `%(referred_table_name)s`, `%(referred_column_0_name)s` (and `_N`, `N`
/// forms), `%(constraint_name)s`. Names over 63 characters are shortened
/// as SQLAlchemy shortens them.
///
/// ```
/// let c = kiln_core::config::Config::default();
/// assert_eq!(c.naming.ix, "ix_%(table_name)s_%(column_0_N_name)s");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamingConvention {
    /// Indexes (`index-name`; a unique index may follow `uq` instead).
    pub ix: String,
    /// Unique constraints (`unique-name`).
    pub uq: String,
    /// Foreign keys (`foreign-key-name`).
    pub fk: String,
    /// Primary keys (`primary-key-name`); none by default, and no rule then.
    pub pk: Option<String>,
    /// Check constraints (`check-name`); none by default, and no rule then.
    pub ck: Option<String>,
}

/// The tokens a naming template may use (SQLAlchemy's, less `column_X`
/// positions other than 0, which kiln does not render).
pub const TEMPLATE_TOKENS: &[&str] = &[
    "table_name",
    "column_0_name",
    "column_0_N_name",
    "column_0N_name",
    "column_0_label",
    "column_0_N_label",
    "column_0N_label",
    "column_0_key",
    "column_0_N_key",
    "column_0N_key",
    "referred_table_name",
    "referred_column_0_name",
    "referred_column_0_N_name",
    "referred_column_0N_name",
    "constraint_name",
];

const TEMPLATE_HELP: &str =
    "a template is text with SQLAlchemy's tokens, such as `fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s`";

/// Checks that every `%(token)s` of a template is one kiln renders.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(at) = rest.find("%(") {
        let after = &rest[at + 2..];
        let Some(end) = after.find(")s") else { return Err(format!("`%(` without a closing `)s` in `{template}`")) };
        let token = &after[..end];
        if !TEMPLATE_TOKENS.contains(&token) {
            return Err(format!("unknown token `%({token})s`; kiln knows {}", TEMPLATE_TOKENS.join(", ")));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

impl Default for NamingConvention {
    fn default() -> NamingConvention {
        NamingConvention {
            ix: "ix_%(table_name)s_%(column_0_N_name)s".into(),
            uq: "uq_%(table_name)s_%(column_0_N_name)s".into(),
            fk: "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s".into(),
            pk: None,
            ck: None,
        }
    }
}

impl Config {
    /// The level of the lint rule `name` (unknown names are allowed).
    pub fn level(&self, name: &str) -> Level {
        match self.lints.iter().find(|(n, _)| *n == name) {
            Some((_, level)) => *level,
            None => lint::rule(name).map_or(Level::Allow, |r| r.default),
        }
    }

    /// Sets the level of the lint rule `name`, over what `kiln.toml` says.
    ///
    /// ```
    /// use kiln_core::lint::Level;
    /// let mut config = kiln_core::config::Config::default();
    /// config.set_level("declared-schema", Level::Allow);
    /// assert_eq!(config.level("declared-schema"), Level::Allow);
    /// ```
    pub fn set_level(&mut self, name: &'static str, level: Level) {
        self.lints.retain(|(n, _)| *n != name);
        self.lints.push((name, level));
    }
}

impl Config {
    /// Parses `kiln.toml` text; problems are diagnostics against `file`.
    pub fn parse(text: &str, file: FileId) -> Result<Config, Vec<Diagnostic>> {
        let mut config = Config::default();
        let mut errors = Vec::new();
        let mut seen: Vec<String> = Vec::new();
        // The table a line is in: "" (the top level), "lints" or "naming_convention".
        let mut table: &str = "";
        let mut offset = 0;
        for raw in text.split_inclusive('\n') {
            let line_start = offset;
            offset += raw.len();
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let lead = raw.len() - raw.trim_start().len();
            let span = line_start + lead..line_start + lead + line.len();
            if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                table = match unquote_key(section.trim()).as_str() {
                    "lints" => "lints",
                    "naming_convention" => "naming_convention",
                    other => {
                        errors.push(
                            Diagnostic::error("config", format!("unknown section `[{other}]` in kiln.toml"))
                                .at(file, span)
                                .with_help("the sections are `[lints]` and `[naming_convention]`"),
                        );
                        "?"
                    }
                };
                continue;
            }
            let Some((key, value)) = line.split_once('=') else {
                errors.push(
                    Diagnostic::error("config", "expected `key = value`")
                        .at(file, span)
                        .with_help("kiln.toml accepts `allow_multiple_heads`, `allow_multiple_bases` and `revision_id_pattern`"),
                );
                continue;
            };
            let key = key.trim();
            let value = value.trim();
            let value_start = line_start + lead + line.len() - value.len();
            let value_span = value_start..value_start + value.len();
            // One line may carry several settings: `lints = { a = "warn", b = "allow" }`
            // (an inline table) or `lints.a = "warn"` (a dotted key).
            let mut entries: Vec<(&str, String, &str, std::ops::Range<usize>)> = Vec::new();
            let bare = unquote_key(key);
            let inline = ["lints", "naming_convention"].into_iter().find(|t| table.is_empty() && bare == *t);
            let dotted = ["lints", "naming_convention"].into_iter().find_map(|t| {
                bare.strip_prefix(t).and_then(|r| r.strip_prefix('.')).filter(|_| table.is_empty()).map(|r| (t, r.to_string()))
            });
            if table == "?" {
                continue;
            } else if let Some(t) = inline.filter(|_| value.starts_with('{') && value.ends_with('}')) {
                match inline_entries(&value[1..value.len() - 1]) {
                    Ok(items) => {
                        for (k, v, at) in items {
                            let start = value_start + 1 + at;
                            entries.push((t, unquote_key(k), v, start..start + v.len()));
                        }
                    }
                    Err(message) => {
                        errors.push(Diagnostic::error("config", format!("bad inline table for `{t}`: {message}")).at(file, value_span));
                        continue;
                    }
                }
            } else if let Some((t, rest)) = dotted {
                entries.push((t, unquote_key(&rest), value, value_span.clone()));
            } else {
                entries.push((table, bare, value, value_span.clone()));
            }
            for (table, key, value, value_span) in entries {
                let key = key.as_str();
                let seen_key = if table.is_empty() { key.to_string() } else { format!("{table}.{key}") };
                if seen.contains(&seen_key) {
                    errors.push(Diagnostic::error("config", format!("`{key}` is set twice")).at(file, span.clone()));
                    continue;
                }
                seen.push(seen_key);
                if table == "naming_convention" {
                    let parsed = parse_string(value).and_then(|t| check_template(&t).map(|()| t));
                    match (key, parsed) {
                        (_, Err(message)) => errors.push(
                            Diagnostic::error("config", format!("bad `naming_convention.{key}`: {message}"))
                                .at(file, value_span)
                                .with_help(TEMPLATE_HELP),
                        ),
                        ("ix", Ok(t)) => config.naming.ix = t,
                        ("uq", Ok(t)) => config.naming.uq = t,
                        ("fk", Ok(t)) => config.naming.fk = t,
                        ("pk", Ok(t)) => config.naming.pk = Some(t),
                        ("ck", Ok(t)) => config.naming.ck = Some(t),
                        (other, Ok(_)) => errors.push(
                            Diagnostic::error("config", format!("unknown `naming_convention` key `{other}`"))
                                .at(file, span.clone())
                                .with_help("SQLAlchemy's keys: `ix`, `uq`, `ck`, `fk`, `pk`"),
                        ),
                    }
                    continue;
                }
                if table == "lints" {
                    let Some(rule) = lint::rule(key) else {
                        let names: Vec<&str> = lint::RULES.iter().map(|r| r.name).collect();
                        errors.push(
                            Diagnostic::error("config", format!("unknown lint rule `{key}` in kiln.toml"))
                                .at(file, span.clone())
                                .with_help(format!("known rules: {}", names.join(", "))),
                        );
                        continue;
                    };
                    match parse_string(value).ok().and_then(|v| Level::parse(&v)) {
                        Some(level) if level != Level::Error && !rule.can_be_allowed() => errors.push(
                            Diagnostic::error(
                                "config",
                                format!("`{key}` cannot be lowered: such a revision would lose or double work, or fail when it runs"),
                            )
                            .at(file, value_span)
                            .with_help(
                                "remove the line, and fix the revisions it reports (usually with `-- Transactional: false` in the header)",
                            ),
                        ),
                        Some(level) => config.lints.push((rule.name, level)),
                        None => errors.push(
                            Diagnostic::error("config", format!("bad level for `{key}`: expected \"allow\", \"warn\" or \"error\""))
                                .at(file, value_span),
                        ),
                    }
                    continue;
                }
                let result = match key {
                    "allow_multiple_heads" => parse_bool(value).map(|b| config.allow_multiple_heads = b),
                    "allow_multiple_bases" => parse_bool(value).map(|b| config.allow_multiple_bases = b),
                    "revision_id_pattern" => {
                        parse_string(value).and_then(|s| IdPattern::new(&s)).map(|p| config.revision_id_pattern = Some(p))
                    }
                    "migrations" => parse_string(value).map(|s| config.migrations = Some(s)),
                    "schema" => parse_string(value).map(|s| {
                        config.schema = Some(s);
                        config.schema_at = Some(crate::diagnostic::Location { file, span: value_span.clone() });
                    }),
                    "baseline" => parse_strings(value).map(|s| {
                        config.baseline = s;
                        config.baseline_at = Some(crate::diagnostic::Location { file, span: value_span.clone() });
                    }),
                    _ => {
                        errors
                            .push(Diagnostic::error("config", format!("unknown key `{key}` in kiln.toml")).at(file, span.clone()).with_help(
                            "known keys: `allow_multiple_heads`, `allow_multiple_bases`, `revision_id_pattern`, `migrations`, `baseline`, `schema`",
                        ));
                        continue;
                    }
                };
                if let Err(message) = result {
                    errors.push(Diagnostic::error("config", format!("bad value for `{key}`: {message}")).at(file, value_span));
                }
            }
        }
        if errors.is_empty() {
            Ok(config)
        } else {
            Err(errors)
        }
    }
}

fn strip_comment(line: &str) -> &str {
    let mut in_string = false;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_string = !in_string,
            '#' if !in_string => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A key without TOML's quotes (`"drop-column-or-table"`, `'x'`).
fn unquote_key(key: &str) -> String {
    let key = key.trim();
    match (key.strip_prefix('"').and_then(|k| k.strip_suffix('"')), key.strip_prefix('\'').and_then(|k| k.strip_suffix('\''))) {
        (Some(k), _) | (None, Some(k)) => k.to_string(),
        _ => key.split('.').map(|part| unquote_key_part(part.trim())).collect::<Vec<_>>().join("."),
    }
}

fn unquote_key_part(part: &str) -> String {
    part.strip_prefix('"')
        .and_then(|k| k.strip_suffix('"'))
        .or_else(|| part.strip_prefix('\'').and_then(|k| k.strip_suffix('\'')))
        .unwrap_or(part)
        .to_string()
}

/// The `key = value` pairs of an inline table's inside, with each value's
/// byte offset in it; commas inside quoted values do not split.
fn inline_entries(inner: &str) -> Result<Vec<(&str, &str, usize)>, String> {
    let mut parts = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in inner.char_indices() {
        match (c, quote) {
            ('"' | '\'', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (',', None) => {
                parts.push((start, &inner[start..i]));
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push((start, &inner[start..]));
    let mut out = Vec::new();
    for (at, part) in parts {
        if part.trim().is_empty() {
            continue;
        }
        let (k, v) = part.split_once('=').ok_or_else(|| format!("expected `key = value`, found `{}`", part.trim()))?;
        let v_trim = v.trim();
        let offset = at + k.len() + 1 + (v.len() - v.trim_start().len());
        out.push((k.trim(), v_trim, offset));
    }
    Ok(out)
}

fn parse_bool(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err("expected `true` or `false`".into()),
    }
}

/// A quoted string, or an array of them on one line.
fn parse_strings(v: &str) -> Result<Vec<String>, String> {
    match v.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
        Some(items) => {
            let list = items.split(',').map(str::trim).filter(|s| !s.is_empty()).map(parse_string).collect::<Result<Vec<_>, _>>()?;
            if list.is_empty() {
                return Err("expected at least one quoted revision id".into());
            }
            Ok(list)
        }
        None => parse_string(v).map(|s| vec![s]),
    }
}

fn parse_string(v: &str) -> Result<String, String> {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .or_else(|| v.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        .ok_or_else(|| "expected a quoted string".to_string())?;
    Ok(inner.replace("\\\\", "\\"))
}

/// A revision-id pattern: a small, anchored regex subset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdPattern {
    source: String,
    atoms: Vec<(CharClass, usize, usize)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct CharClass {
    ranges: Vec<(char, char)>,
}

impl CharClass {
    fn matches(&self, c: char) -> bool {
        self.ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi)
    }
}

impl IdPattern {
    /// Compiles a pattern such as `[0-9a-f]{12}` or `[0-9A-HJKMNP-TV-Z]{26}`.
    pub fn new(source: &str) -> Result<IdPattern, String> {
        let chars: Vec<char> = source.chars().collect();
        let mut atoms = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let class = match chars[i] {
                '[' => {
                    let mut ranges = Vec::new();
                    i += 1;
                    while i < chars.len() && chars[i] != ']' {
                        let lo = chars[i];
                        if i + 2 < chars.len() && chars[i + 1] == '-' && chars[i + 2] != ']' {
                            ranges.push((lo, chars[i + 2]));
                            i += 3;
                        } else {
                            ranges.push((lo, lo));
                            i += 1;
                        }
                    }
                    if i == chars.len() {
                        return Err(format!("unclosed `[` in pattern `{source}`"));
                    }
                    i += 1;
                    CharClass { ranges }
                }
                c if c.is_ascii_alphanumeric() || c == '_' => {
                    i += 1;
                    CharClass { ranges: vec![(c, c)] }
                }
                c => return Err(format!("unsupported `{c}` in pattern `{source}`; use literals, [classes] and {{n}}, {{n,m}}, ?, *, +")),
            };
            let (min, max) = match chars.get(i) {
                Some('?') => (0, 1),
                Some('*') => (0, usize::MAX),
                Some('+') => (1, usize::MAX),
                Some('{') => {
                    let close = chars[i..].iter().position(|&c| c == '}').ok_or_else(|| format!("unclosed `{{` in pattern `{source}`"))?;
                    let body: String = chars[i + 1..i + close].iter().collect();
                    let parse =
                        |s: &str| s.trim().parse::<usize>().map_err(|_| format!("bad repetition `{{{body}}}` in pattern `{source}`"));
                    let r = match body.split_once(',') {
                        Some((a, b)) => (parse(a)?, parse(b)?),
                        None => (parse(&body)?, parse(&body)?),
                    };
                    i += close;
                    r
                }
                _ => {
                    atoms.push((class, 1, 1));
                    continue;
                }
            };
            i += 1;
            atoms.push((class, min, max));
        }
        Ok(IdPattern { source: source.to_string(), atoms })
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The shortest id the pattern accepts, each character drawn from its
    /// class by `random` (for `kiln revision` under a project's pattern);
    /// `None` when a class is empty.
    ///
    /// ```
    /// let p = kiln_core::config::IdPattern::new("r[0-9]{4}_[a-c]+").unwrap();
    /// let mut n = 0u64;
    /// let id = p.sample(|| { n += 7; n }).unwrap();
    /// assert!(p.matches(&id), "{id}");
    /// assert_eq!(id.len(), 7);
    /// ```
    pub fn sample(&self, mut random: impl FnMut() -> u64) -> Option<String> {
        let mut out = String::new();
        for (class, min, _) in &self.atoms {
            let sizes: Vec<u64> = class.ranges.iter().map(|&(lo, hi)| u64::from(hi).saturating_sub(u64::from(lo)) + 1).collect();
            let total: u64 = sizes.iter().sum();
            for _ in 0..*min {
                let mut pick = random().checked_rem(total)?;
                let (&(lo, _), size) = class.ranges.iter().zip(&sizes).find(|(_, &size)| {
                    let here = pick < size;
                    if !here {
                        pick -= size;
                    }
                    here
                })?;
                let _ = size;
                out.push(char::from_u32(u32::from(lo) + pick as u32)?);
            }
        }
        self.matches(&out).then_some(out)
    }

    /// True when the whole id matches.
    pub fn matches(&self, id: &str) -> bool {
        let chars: Vec<char> = id.chars().collect();
        fn go(atoms: &[(CharClass, usize, usize)], s: &[char]) -> bool {
            let Some(((class, min, max), rest)) = atoms.split_first() else { return s.is_empty() };
            let run = s.iter().take_while(|&&c| class.matches(c)).count().min(*max);
            (*min..=run).rev().any(|k| go(rest, &s[k..]))
        }
        go(&self.atoms, &chars)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_key_and_rejects_unknown_ones() {
        let c = Config::parse("# c\nallow_multiple_heads = true\nrevision_id_pattern = \"[0-9a-f]{12}\"\n", 0).unwrap();
        assert!(c.allow_multiple_heads);
        assert!(!c.allow_multiple_bases);
        assert!(c.revision_id_pattern.unwrap().matches("7fbe65eaef1b"));
        let e = Config::parse("allow_many = true\nallow_multiple_heads = maybe\n", 0).unwrap_err();
        assert_eq!(e.len(), 2);
        assert!(e[0].message.contains("unknown key `allow_many`"));
        assert!(e[1].message.contains("expected `true` or `false`"));
    }

    #[test]
    fn lint_levels_live_under_lints() {
        let c = Config::parse("allow_multiple_heads = true\n[lints]\ntable-name = \"warn\" # for now\nreversible = 'allow'\n", 0).unwrap();
        assert_eq!(c.level("table-name"), Level::Warn);
        assert_eq!(c.level("reversible"), Level::Allow);
        assert_eq!(c.level("index-name"), Level::Error);
        assert_eq!(c.level("drop-column-or-table"), Level::Warn);
        let e = Config::parse("[lints]\ntable-names = \"warn\"\nindex-name = \"deny\"\n[other]\n", 0).unwrap_err();
        let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(messages.len(), 3, "{messages:?}");
        assert!(
            messages[0].contains("unknown lint rule `table-names`") && messages[1].contains("bad level") && messages[2].contains("[other]")
        );
    }

    #[test]
    fn quoted_keys_dotted_keys_and_inline_tables_are_read_as_toml_means_them() {
        let c = Config::parse("\"allow_multiple_heads\" = true\n[lints]\n\"table-name\" = \"warn\"\n'reversible' = 'allow'\n", 0).unwrap();
        assert!(c.allow_multiple_heads);
        assert_eq!((c.level("table-name"), c.level("reversible")), (Level::Warn, Level::Allow));
        let c = Config::parse("lints.table-name = \"warn\"\nlints.\"index-name\" = \"allow\"\n", 0).unwrap();
        assert_eq!((c.level("table-name"), c.level("index-name")), (Level::Warn, Level::Allow));
        let text = "lints = { table-name = \"warn\", \"index-name\" = 'allow' } # inline\n";
        let c = Config::parse(text, 0).unwrap();
        assert_eq!((c.level("table-name"), c.level("index-name")), (Level::Warn, Level::Allow));
        // A bad level inside an inline table points at that value.
        let text = "lints = { table-name = \"warn\", index-name = \"deny\" }\n";
        let e = Config::parse(text, 0).unwrap_err();
        assert_eq!(e.len(), 1);
        let span = e[0].location.as_ref().unwrap().span.clone();
        assert_eq!(&text[span], "\"deny\"");
        // The same rule twice, however it is written, is an error.
        let e = Config::parse("lints.table-name = \"warn\"\n[lints]\n\"table-name\" = \"allow\"\n", 0).unwrap_err();
        assert!(e[0].message.contains("set twice"), "{e:?}");
        assert!(Config::parse("lints = { table-name }\n", 0).unwrap_err()[0].message.contains("inline table"));
    }

    #[test]
    fn id_pattern_is_anchored_and_counts() {
        let p = IdPattern::new("[0-9a-f]{12}").unwrap();
        assert!(p.matches("0123456789ab"));
        assert!(!p.matches("0123456789abc"));
        assert!(!p.matches("0123456789aB"));
        let p = IdPattern::new("v[0-9]+_?[a-z]*").unwrap();
        assert!(p.matches("v12_ab") && p.matches("v1") && !p.matches("v") && !p.matches("x1"));
        assert!(IdPattern::new("[0-9").is_err());
        assert!(IdPattern::new("a|b").is_err());
    }
}
