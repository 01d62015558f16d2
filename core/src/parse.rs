//! The revision file format.
//!
//! A revision is one file, `<revision>_<slug>.sql`. It starts with a header
//! of SQL comments that mirrors Alembic's script docstring, then an upgrade
//! section and a downgrade section behind explicit markers:
//!
//! ```sql
//! -- Create teams table
//! --
//! -- Revision ID: 7fbe65eaef1b
//! -- Revises: 1975ea83b712
//! -- Create Date: 2026-11-27 10:00:00.000000
//!
//! -- kiln:upgrade
//! CREATE TABLE teams (id VARCHAR(26) PRIMARY KEY);
//!
//! -- kiln:downgrade
//! DROP TABLE teams;
//! ```
//!
//! The exact grammar is in the README. Parsing is strict and reports every
//! problem it finds in a file, each with the byte range it concerns.

use std::ops::Range;

use crate::diagnostic::{Diagnostic, FileId};

/// A value with the byte range it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is in the file's text.
    pub span: Range<usize>,
}

/// Header keys, in the order kiln writes them.
pub const HEADER_KEYS: [&str; 7] =
    ["Revision ID", "Revises", "Create Date", "Branch Labels", "Depends On", "Transactional", "Irreversible"];

/// Longest revision id: Alembic's `version_num` column is `VARCHAR(32)`.
pub const MAX_ID_LEN: usize = 32;

/// The section markers.
pub const UPGRADE_MARKER: &str = "-- kiln:upgrade";
/// See [`UPGRADE_MARKER`].
pub const DOWNGRADE_MARKER: &str = "-- kiln:downgrade";

/// A parsed revision file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RevisionFile {
    /// The message (first header line).
    pub message: String,
    /// `Revision ID`.
    pub id: Spanned<String>,
    /// `Revises`: empty for a base, several for a merge.
    pub revises: Vec<Spanned<String>>,
    /// Span of the whole `Revises` line, for diagnostics about the parents.
    pub revises_line: Range<usize>,
    /// `Create Date`, as written.
    pub create_date: String,
    /// `Branch Labels`.
    pub branch_labels: Vec<Spanned<String>>,
    /// `Depends On`: revision ids or branch labels.
    pub depends_on: Vec<Spanned<String>>,
    /// False when `Transactional: false`: the revision runs outside a transaction.
    pub transactional: bool,
    /// True when `Irreversible: true`: there is no downgrade section.
    pub irreversible: bool,
    /// Byte range of the upgrade SQL.
    pub upgrade: Range<usize>,
    /// Byte range of the downgrade SQL, unless irreversible.
    pub downgrade: Option<Range<usize>>,
    /// The header's other paragraphs, after the message and apart from the
    /// `Key: value` lines (Alembic's docstring paragraphs), without their
    /// `-- `; paragraphs separated by a blank line. Empty when there is none.
    pub description: String,
    /// What is still to write: an empty upgrade or downgrade section, as
    /// `kiln revision` leaves them. Errors for a build or a run; warnings
    /// for the commands that only read the graph (`Config::allow_unfinished`).
    pub unfinished: Vec<Diagnostic>,
}

/// True for `[0-9A-Za-z_.]{1,32}`: Alembic's ids are free text without
/// `@`, `-` or `+`, and real histories use dots (Optuna's `v2.4.0.a`).
pub fn is_valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID_LEN && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
}

/// True for a file-name slug: `[a-z0-9_]+`.
pub fn is_valid_slug(slug: &str) -> bool {
    !slug.is_empty() && slug.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Turns a message into a file-name slug as Alembic does: lowercase words joined by `_`.
pub fn slugify(message: &str) -> String {
    let words: Vec<String> =
        message.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()).map(|w| w.to_ascii_lowercase()).collect();
    let mut slug = String::new();
    for w in words {
        if slug.len() + w.len() + 1 > 40 {
            break;
        }
        if !slug.is_empty() {
            slug.push('_');
        }
        slug.push_str(&w);
    }
    if slug.is_empty() {
        slug.push_str("revision");
    }
    slug
}

/// The docstring Alembic would hold for this revision file: its header's
/// comment lines without `-- ` (trailing spaces kept, as in a docstring),
/// blank `--` lines as empty lines, less the
/// keys Alembic keeps in module variables (`Branch Labels`, `Depends On`)
/// and kiln's own (`Transactional`, `Irreversible`), trimmed. What `show`
/// and `history -v` print, indented, as Alembic prints `longdoc`.
///
/// ```
/// let text = "-- Add teams\n--\n-- Revision ID: aaaa\n-- Revises: \n-- Create Date: 2026-01-21\n-- Branch Labels: core\n--\n-- Why: teams.\n\n-- kiln:upgrade\nSELECT 1;\n";
/// assert_eq!(kiln_core::parse::docstring(text), "Add teams\n\nRevision ID: aaaa\nRevises: \nCreate Date: 2026-01-21\n\nWhy: teams.");
/// ```
pub fn docstring(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let (Some(body), None) = (comment_body(line), marker(line)) else { break };
        let key = body.split_once(':').map(|(k, _)| k.trim());
        if matches!(key, Some("Branch Labels" | "Depends On" | "Transactional" | "Irreversible")) {
            continue;
        }
        out.push(body.strip_prefix(' ').unwrap_or(body));
    }
    out.join("\n").trim().to_string()
}

struct Line<'a> {
    start: usize,
    /// The line without its line ending.
    text: &'a str,
}

fn lines(text: &str) -> Vec<Line<'_>> {
    let mut out = Vec::new();
    let mut start = 0;
    for raw in text.split_inclusive('\n') {
        out.push(Line { start, text: raw.trim_end_matches(['\n', '\r']) });
        start += raw.len();
    }
    out
}

/// The comment text of a `--` line, or `None` for another line.
fn comment_body(line: &str) -> Option<&str> {
    line.strip_prefix("--")
}

/// The name of a section marker line (`-- kiln:upgrade`). Lint directives
/// (`-- kiln:allow(rule)`) are comments inside a section, not markers.
fn marker(line: &str) -> Option<&str> {
    let body = comment_body(line.trim_end())?.trim_start();
    body.strip_prefix("kiln:").filter(|name| !name.starts_with("allow("))
}

fn is_blank_sql(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with("--")
    })
}

/// Splits a comma-separated header value into spanned items.
fn list(value: &str, value_start: usize) -> Vec<Spanned<String>> {
    let mut out = Vec::new();
    let mut offset = 0;
    for part in value.split(',') {
        let lead = part.len() - part.trim_start().len();
        let item = part.trim();
        if !item.is_empty() {
            let start = value_start + offset + lead;
            out.push(Spanned { value: item.to_string(), span: start..start + item.len() });
        }
        offset += part.len() + 1;
    }
    out
}

/// What Alembic writes in `Create Date` and accepts (it never parses it): a
/// date, optionally a time (`HH:MM`, `HH:MM:SS`, a fraction), then an
/// optional offset (`Z`, `+01:00`, `+0100`, `+01`), with a space or `T`
/// between date and time.
fn is_valid_date(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let date = b.len() >= 10 && digits(0..4) && b[4] == b'-' && digits(5..7) && b[7] == b'-' && digits(8..10);
    let month: u32 = s.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(0);
    let day: u32 = s.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(0);
    if !date || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return false;
    }
    let mut rest = &s[10..];
    if let Some(time) = rest.strip_prefix(' ').or_else(|| rest.strip_prefix('T')) {
        let t = time.as_bytes();
        let two = |i: usize| t.get(i..i + 2).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
        if !(two(0) && t.get(2) == Some(&b':') && two(3)) {
            return false;
        }
        rest = &time[5..];
        if let Some(sec) = rest.strip_prefix(':') {
            if !sec.as_bytes().get(..2).is_some_and(|d| d.iter().all(u8::is_ascii_digit)) {
                return false;
            }
            rest = &sec[2..];
            if let Some(frac) = rest.strip_prefix('.') {
                let n = frac.bytes().take_while(u8::is_ascii_digit).count();
                if n == 0 {
                    return false;
                }
                rest = &frac[n..];
            }
        }
    }
    let offset = rest.trim_start();
    let digits_only = |x: &str| !x.is_empty() && x.bytes().all(|c| c.is_ascii_digit());
    match offset.strip_prefix(['+', '-']) {
        _ if offset.is_empty() || offset == "Z" => true,
        Some(o) => match o.split_once(':') {
            Some((h, m)) => h.len() == 2 && m.len() == 2 && digits_only(h) && digits_only(m),
            None => (o.len() == 2 || o.len() == 4) && digits_only(o),
        },
        None => false,
    }
}

/// Parses one revision file. `text` has its BOM already removed.
pub fn parse_revision(text: &str, file: FileId) -> Result<RevisionFile, Vec<Diagnostic>> {
    let mut errors: Vec<Diagnostic> = Vec::new();
    let lines = lines(text);
    let Some(first) = lines.first() else {
        return Err(vec![Diagnostic::error("text-before-header", "revision file is empty").at(file, 0..0).with_help(
            "start the file with the header: a `-- <message>` line, then `-- Revision ID: ...`, `-- Revises: ...`, `-- Create Date: ...`",
        )]);
    };
    if comment_body(first.text).is_none() || marker(first.text).is_some() {
        return Err(vec![Diagnostic::error("text-before-header", "revision file must start with its header comment")
            .at(file, first.start..first.start + first.text.len())
            .with_help("move this text below `-- kiln:upgrade`, and start the file with `-- <message>`")]);
    }

    // The header: `--` lines up to the first other line or section marker.
    let header_end = lines.iter().position(|l| comment_body(l.text).is_none() || marker(l.text).is_some()).unwrap_or(lines.len());
    let message_body = comment_body(first.text).unwrap_or("").trim();
    let message_is_key = message_body.split_once(':').is_some_and(|(k, _)| HEADER_KEYS.contains(&k.trim()));
    if message_body.is_empty() || message_is_key {
        errors.push(
            Diagnostic::error("malformed-header", "the header must start with a one-line message")
                .at(file, first.start..first.start + first.text.len())
                .with_help("add a first line such as `-- Create teams table`, then `--`, then the `Key: value` lines"),
        );
    }
    let mut values: Vec<Option<Spanned<String>>> = vec![None; HEADER_KEYS.len()];
    let mut line_spans: Vec<Range<usize>> = vec![0..0; HEADER_KEYS.len()];
    let key_lines = if message_is_key { &lines[..header_end] } else { &lines[1..header_end] };
    // The header's paragraphs (runs of `--` lines between blank `--` lines):
    // the one with `Revision ID:` holds the keys; the others are the
    // description, Alembic's docstring paragraphs, where a line is a key
    // only when it names one of kiln's keys.
    let paragraphs: Vec<&[Line<'_>]> =
        key_lines.split(|l| comment_body(l.text).unwrap_or("").trim().is_empty()).filter(|p| !p.is_empty()).collect();
    let key_of = |l: &Line<'_>| comment_body(l.text).unwrap_or("").split_once(':').map(|(k, _)| k.trim().to_string());
    let keys_at = paragraphs.iter().position(|p| p.iter().any(|l| key_of(l).as_deref() == Some("Revision ID")));
    let mut description: Vec<String> = Vec::new();
    for (i, paragraph) in paragraphs.iter().enumerate() {
        if keys_at.is_some_and(|k| k != i) {
            let text: Vec<&str> = paragraph
                .iter()
                .filter(|l| !key_of(l).is_some_and(|k| HEADER_KEYS.contains(&k.as_str())))
                .map(|l| {
                    let body = comment_body(l.text).unwrap_or("");
                    body.strip_prefix(' ').unwrap_or(body).trim_end()
                })
                .collect();
            if !text.is_empty() {
                description.push(text.join("\n"));
            }
        }
    }
    let in_description = |l: &Line<'_>| {
        keys_at.is_some_and(|k| {
            let i = paragraphs.iter().position(|p| p.iter().any(|x| std::ptr::eq(x, l)));
            i.is_some_and(|i| i != k) && !key_of(l).is_some_and(|key| HEADER_KEYS.contains(&key.as_str()))
        })
    };
    for line in key_lines {
        let body = comment_body(line.text).unwrap_or("");
        if body.trim().is_empty() || in_description(line) {
            continue;
        }
        let line_span = line.start..line.start + line.text.len();
        let Some((key, value)) = body.split_once(':') else {
            errors.push(
                Diagnostic::error("malformed-header", "header line is not `-- Key: value`")
                    .at(file, line_span)
                    .with_help("the message is a single line; put other text in the SQL sections as comments"),
            );
            continue;
        };
        let key = key.trim();
        let key_start = line.start + 2 + (body.len() - body.trim_start().len());
        let Some(k) = HEADER_KEYS.iter().position(|&h| h == key) else {
            errors.push(
                Diagnostic::error("unknown-header-key", format!("unknown header key `{key}`"))
                    .at(file, key_start..key_start + key.len())
                    .with_help(format!("known keys: {}", HEADER_KEYS.map(|k| format!("`{k}`")).join(", "))),
            );
            continue;
        };
        if let Some(previous) = &values[k] {
            let first_line = line_spans[k].clone();
            errors.push(
                Diagnostic::error("duplicate-header-key", format!("header key `{key}` is given twice"))
                    .at(file, key_start..key_start + key.len())
                    .with_label(file, first_line, "first given here")
                    .with_help("keep one of them")
                    .with_note(format!("first value: `{}`", previous.value)),
            );
            continue;
        }
        let value_start = line.start + 2 + key.len() + 1 + (body.len() - body.trim_start().len());
        let lead = value.len() - value.trim_start().len();
        let v = value.trim();
        values[k] = Some(Spanned { value: v.to_string(), span: value_start + lead..value_start + lead + v.len() });
        line_spans[k] = line_span;
    }
    let header_span = first.start..lines[header_end.saturating_sub(1)].start;
    for (k, key) in HEADER_KEYS.iter().enumerate().take(3) {
        if values[k].is_none() {
            let example = match k {
                0 => "-- Revision ID: 7fbe65eaef1b",
                1 => "-- Revises: <parent id>   (empty for the first revision)",
                _ => "-- Create Date: 2026-11-27 10:00:00.000000",
            };
            errors.push(
                Diagnostic::error("missing-header-key", format!("header has no `{key}`"))
                    .at(file, header_span.start..header_span.start + first.text.len())
                    .with_help(format!("add `{example}` to the header")),
            );
        }
    }

    let id = values[0].clone().unwrap_or(Spanned { value: String::new(), span: 0..0 });
    if values[0].is_some() && !is_valid_id(&id.value) {
        errors.push(bad_id(file, &id, "revision id"));
    }
    let revises = values[1].as_ref().map(|v| list(&v.value, v.span.start)).unwrap_or_default();
    let branch_labels = values[3].as_ref().map(|v| list(&v.value, v.span.start)).unwrap_or_default();
    let depends_on = values[4].as_ref().map(|v| list(&v.value, v.span.start)).unwrap_or_default();
    for item in revises.iter().chain(&depends_on) {
        if !is_valid_id(&item.value) {
            errors.push(bad_id(file, item, "revision id"));
        }
    }
    for item in &branch_labels {
        if !is_valid_id(&item.value) {
            errors.push(bad_id(file, item, "branch label"));
        }
    }
    if let Some(date) = &values[2] {
        if !is_valid_date(&date.value) {
            errors.push(
                Diagnostic::error("malformed-header", format!("`Create Date` is not a date: `{}`", date.value))
                    .at(file, date.span.clone())
                    .with_help("write it as `YYYY-MM-DD HH:MM:SS[.ffffff]`, as Alembic does"),
            );
        }
    }
    let flag = |k: usize, default: bool, errors: &mut Vec<Diagnostic>| match &values[k] {
        None => default,
        Some(v) => match v.value.as_str() {
            "true" => true,
            "false" => false,
            other => {
                errors.push(
                    Diagnostic::error("malformed-header", format!("`{}` must be `true` or `false`, not `{other}`", HEADER_KEYS[k]))
                        .at(file, v.span.clone()),
                );
                default
            }
        },
    };
    let transactional = flag(5, true, &mut errors);
    let irreversible = flag(6, false, &mut errors);

    // Between the header and the first marker only blank lines may stand.
    let mut i = header_end;
    while i < lines.len() && marker(lines[i].text).is_none() {
        if !lines[i].text.trim().is_empty() {
            errors.push(
                Diagnostic::error("stray-text", "text between the header and `-- kiln:upgrade`")
                    .at(file, lines[i].start..lines[i].start + lines[i].text.len())
                    .with_help("move it below `-- kiln:upgrade`; the header ends at its first line that is not a comment"),
            );
            break;
        }
        i += 1;
    }

    // Sections.
    let mut upgrade: Option<(Range<usize>, Range<usize>)> = None;
    let mut downgrade: Option<(Range<usize>, Range<usize>)> = None;
    let markers: Vec<usize> = (i..lines.len()).filter(|&j| marker(lines[j].text).is_some()).collect();
    for (n, &j) in markers.iter().enumerate() {
        let line = &lines[j];
        let line_span = line.start..line.start + line.text.len();
        let body_start = lines.get(j + 1).map_or(text.len(), |l| l.start);
        let body_end = markers.get(n + 1).map_or(text.len(), |&next| lines[next].start);
        let name = marker(line.text).unwrap_or("").trim();
        let slot = match name {
            "upgrade" => &mut upgrade,
            "downgrade" => &mut downgrade,
            other => {
                errors.push(
                    Diagnostic::error("unknown-marker", format!("unknown section marker `kiln:{other}`"))
                        .at(file, line_span)
                        .with_help("the sections are `-- kiln:upgrade` and `-- kiln:downgrade`"),
                );
                continue;
            }
        };
        if let Some((first_marker, _)) = slot {
            errors.push(
                Diagnostic::error("duplicate-section", format!("`-- kiln:{name}` appears twice"))
                    .at(file, line_span)
                    .with_label(file, first_marker.clone(), "first here")
                    .with_help("merge the two sections into one"),
            );
            continue;
        }
        *slot = Some((line_span, body_start..body_end.max(body_start)));
    }
    if let (Some((up, _)), Some((down, _))) = (&upgrade, &downgrade) {
        if down.start < up.start {
            errors.push(
                Diagnostic::error("section-order", "the downgrade section comes before the upgrade section")
                    .at(file, down.clone())
                    .with_label(file, up.clone(), "upgrade starts here")
                    .with_help("put `-- kiln:upgrade` and its SQL first"),
            );
        }
    }
    let end_span = text.len()..text.len();
    // A merge revision usually has no SQL of its own, as in Alembic.
    let is_merge = revises.len() > 1;
    let mut unfinished = Vec::new();
    let upgrade_range = match &upgrade {
        None => {
            errors.push(
                Diagnostic::error("missing-upgrade", "revision has no `-- kiln:upgrade` section")
                    .at(file, downgrade.as_ref().map_or(end_span.clone(), |d| d.0.clone()))
                    .with_help("add a line `-- kiln:upgrade` followed by the revision's SQL"),
            );
            0..0
        }
        Some((marker_span, body)) => {
            if !is_merge && is_blank_sql(&text[body.clone()]) {
                unfinished.push(
                    Diagnostic::error("missing-upgrade", "the upgrade section is empty")
                        .at(file, marker_span.clone())
                        .with_help("write the revision's SQL below `-- kiln:upgrade`"),
                );
            }
            body.clone()
        }
    };
    let downgrade_range = match (&downgrade, irreversible) {
        (None, false) => {
            errors.push(
                Diagnostic::error("missing-downgrade", "revision has no `-- kiln:downgrade` section")
                    .at(file, upgrade.as_ref().map_or(end_span.clone(), |u| u.0.clone()))
                    .with_help(
                        "add `-- kiln:downgrade` with SQL that undoes the upgrade, or declare `-- Irreversible: true` in the header",
                    ),
            );
            None
        }
        (None, true) => None,
        (Some((marker_span, _)), true) => {
            errors.push(
                Diagnostic::error("irreversible-with-downgrade", "revision is declared irreversible but has a downgrade section")
                    .at(file, marker_span.clone())
                    .with_label(file, values[6].as_ref().map_or(0..0, |v| v.span.clone()), "declared irreversible here")
                    .with_help("remove `Irreversible: true`, or remove the downgrade section"),
            );
            None
        }
        (Some((marker_span, body)), false) => {
            if !is_merge && is_blank_sql(&text[body.clone()]) {
                unfinished.push(
                    Diagnostic::error("missing-downgrade", "the downgrade section is empty")
                        .at(file, marker_span.clone())
                        .with_help("write SQL that undoes the upgrade, or declare `-- Irreversible: true` and drop the section"),
                );
            }
            Some(body.clone())
        }
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(RevisionFile {
        message: message_body.to_string(),
        id,
        revises,
        revises_line: line_spans[1].clone(),
        create_date: values[2].as_ref().map(|v| v.value.clone()).unwrap_or_default(),
        branch_labels,
        depends_on,
        transactional,
        irreversible,
        upgrade: upgrade_range,
        downgrade: downgrade_range,
        unfinished,
        description: description.join("\n\n"),
    })
}

fn bad_id(file: FileId, item: &Spanned<String>, what: &str) -> Diagnostic {
    let problem = if item.value.len() > MAX_ID_LEN {
        format!("{what} `{}` is longer than {MAX_ID_LEN} characters", item.value)
    } else {
        format!("{what} `{}` has characters other than letters, digits and `_`", item.value)
    };
    Diagnostic::error("bad-revision-id", problem).at(file, item.span.clone()).with_help(
        "revision ids and branch labels match `[0-9A-Za-z_.]{1,32}` (Alembic stores them in a VARCHAR(32)); separate several with commas",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "-- Create teams\n--\n-- Revision ID: 7fbe65eaef1b\n-- Revises: 1975ea83b712, a1b2c3d4e5f6\n-- Create Date: 2026-11-27 10:00:00.000000\n-- Branch Labels: core\n\n-- kiln:upgrade\nCREATE TABLE teams (id int);\n\n-- kiln:downgrade\nDROP TABLE teams;\n";

    fn codes(text: &str) -> Vec<&'static str> {
        parse_revision(text, 0).unwrap_err().into_iter().map(|d| d.code).collect()
    }

    #[test]
    fn create_date_takes_what_alembic_writes() {
        for ok in [
            "2026-01-21",
            "2026-01-21 10:00",
            "2026-01-21 10:00:00",
            "2026-01-21 10:00:00.123456",
            "2026-01-21T10:00:00Z",
            "2026-01-21 10:00:00.123456+00:00",
            "2026-01-21 10:00:00-0500",
            "2026-01-21 10:00:00 +01",
        ] {
            assert!(is_valid_date(ok), "{ok}");
            assert!(parse_revision(&GOOD.replace("2026-11-27 10:00:00.000000", ok), 0).is_ok(), "{ok}");
        }
        for bad in ["", "yesterday", "2026-13-01", "2026-01-32", "2026-1-21", "2026-01-21 10", "2026-01-21 10:00:00.", "2026-01-21 +1:00"] {
            assert!(!is_valid_date(bad), "{bad}");
        }
    }

    #[test]
    fn docstring_paragraphs_are_the_description_and_colons_in_them_are_text() {
        let text = GOOD.replace(
            "-- Branch Labels: core\n",
            "-- Branch Labels: core\n--\n-- Adds teams. Note: owners come later.\n--   indented line\n--\n-- Second paragraph.\n",
        );
        let r = parse_revision(&text, 0).unwrap();
        assert_eq!(r.description, "Adds teams. Note: owners come later.\n  indented line\n\nSecond paragraph.");
        assert_eq!(r.branch_labels[0].value, "core");
        // A paragraph between the message and the keys, as Alembic users write them.
        let before = GOOD.replace("-- Create teams\n--\n", "-- Create teams\n--\n-- Why: a team owns workspaces.\n--\n");
        assert_eq!(parse_revision(&before, 0).unwrap().description, "Why: a team owns workspaces.");
        // One of kiln's keys in a later paragraph is still a key.
        let key_later = GOOD.replace("-- Branch Labels: core\n", "--\n-- Some words.\n-- Branch Labels: core\n");
        let r = parse_revision(&key_later, 0).unwrap();
        assert_eq!((r.description.as_str(), r.branch_labels[0].value.as_str()), ("Some words.", "core"));
        // Without a description the keys are checked as before.
        assert_eq!(parse_revision(GOOD, 0).unwrap().description, "");
        assert_eq!(codes(&GOOD.replace("-- Branch Labels: core", "-- Brnach Labels: core")), ["unknown-header-key"]);
    }

    #[test]
    fn parses_a_full_revision() {
        let r = parse_revision(GOOD, 0).unwrap();
        assert_eq!(r.message, "Create teams");
        assert_eq!(r.id.value, "7fbe65eaef1b");
        assert_eq!(&GOOD[r.id.span.clone()], "7fbe65eaef1b");
        let parents: Vec<&str> = r.revises.iter().map(|s| s.value.as_str()).collect();
        assert_eq!(parents, ["1975ea83b712", "a1b2c3d4e5f6"]);
        assert_eq!(&GOOD[r.revises[1].span.clone()], "a1b2c3d4e5f6");
        assert_eq!(r.branch_labels[0].value, "core");
        assert!(r.transactional && !r.irreversible);
        assert_eq!(&GOOD[r.upgrade.clone()], "CREATE TABLE teams (id int);\n\n");
        assert_eq!(&GOOD[r.downgrade.clone().unwrap()], "DROP TABLE teams;\n");
    }

    #[test]
    fn crlf_is_accepted() {
        let crlf = GOOD.replace('\n', "\r\n");
        let r = parse_revision(&crlf, 0).unwrap();
        assert_eq!(r.id.value, "7fbe65eaef1b");
        assert_eq!(&crlf[r.downgrade.unwrap()], "DROP TABLE teams;\r\n");
    }

    #[test]
    fn strictness_reports_every_problem() {
        assert_eq!(codes("SELECT 1;\n"), ["text-before-header"]);
        let t = GOOD.replace("-- Branch Labels: core", "-- Branch Labels: core\n-- Author: me\n-- Revises: x");
        assert_eq!(codes(&t), ["unknown-header-key", "duplicate-header-key"]);
        let t = GOOD.replace("\n-- kiln:downgrade\nDROP TABLE teams;\n", "");
        assert_eq!(codes(&t), ["missing-downgrade"]);
        let t = GOOD.replace("-- kiln:downgrade", "-- kiln:upgrade");
        assert_eq!(codes(&t), ["duplicate-section", "missing-downgrade"]);
        let t = GOOD.replace("\n-- kiln:upgrade", "SELECT 1;\n-- kiln:upgrade");
        assert_eq!(codes(&t), ["stray-text"]);
        let t = GOOD.replace("7fbe65eaef1b", "7fbe-65");
        assert_eq!(codes(&t), ["bad-revision-id"]);
        let t = GOOD.replace("-- Create Date: 2026-11-27 10:00:00.000000\n", "");
        assert_eq!(codes(&t), ["missing-header-key"]);
    }

    #[test]
    fn irreversible_needs_no_downgrade_but_forbids_one() {
        let t = GOOD.replace("-- Branch Labels: core", "-- Irreversible: true");
        assert_eq!(codes(&t), ["irreversible-with-downgrade"]);
        let t = t.replace("\n-- kiln:downgrade\nDROP TABLE teams;\n", "");
        let r = parse_revision(&t, 0).unwrap();
        assert!(r.irreversible && r.downgrade.is_none());
    }

    #[test]
    fn slugify_follows_alembic() {
        assert_eq!(slugify("Add user email index!"), "add_user_email_index");
        assert_eq!(slugify("  "), "revision");
    }
}
