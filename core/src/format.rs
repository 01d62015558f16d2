//! The one formatter of revision listings, in Alembic's exact text: what
//! `history`, `heads`, `branches`, `current` and `show` print, so that a
//! script written against `alembic history` reads `kiln history`.
//!
//! A port of `Script._head_only` and `Script.log_entry` from Alembic's
//! `alembic/script/base.py`, checked against answers recorded from Alembic
//! 1.20.1 (`tests/data/alembic-output.json`). One difference on purpose:
//! Alembic prints sets (a branch point's children, branch labels) in
//! Python's hash order, which changes between runs; kiln sorts them.

use crate::embedded::Revision;
use crate::graph::{Graph, RevIdx};

/// What a one-line entry shows, as Alembic's `cmd_format` arguments.
#[derive(Clone, Copy, Debug, Default)]
pub struct Line {
    /// ` (label)` after the id.
    pub branches: bool,
    /// `, message` at the end.
    pub doc: bool,
    /// `parents -> ` before the id (with ` (dependencies)`).
    pub parents: bool,
    /// ` (branchpoint)` and ` (mergepoint)`.
    pub tree: bool,
    /// ` (head)`, ` (effective head)`.
    pub heads: bool,
    /// ` (current)`.
    pub current: bool,
}

/// `history`'s line: parents, branches, marks, message.
pub const HISTORY: Line = Line { branches: true, doc: true, parents: true, tree: true, heads: true, current: false };
/// `heads`' line: the id, its branch and ` (head)`.
pub const HEADS: Line = Line { branches: true, doc: false, parents: false, tree: false, heads: true, current: false };
/// `current`'s and `branches`' line: the id and its marks.
pub const PLAIN: Line = Line { branches: false, doc: false, parents: false, tree: true, heads: true, current: false };

fn comma<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    items.into_iter().map(|s| s.as_ref().to_string()).collect::<Vec<_>>().join(", ")
}

fn down(rev: &Revision) -> String {
    if rev.down_revisions.is_empty() {
        "<base>".into()
    } else {
        comma(rev.down_revisions)
    }
}

fn labels(graph: &Graph, r: RevIdx) -> Vec<&str> {
    let mut labels: Vec<&str> = graph.branch_labels(r).collect();
    labels.sort_unstable();
    labels
}

/// A revision on one line (Alembic's `_head_only`).
///
/// ```
/// # let set = kiln_core::validate::check_files(vec![kiln_core::validate::InputFile {
/// #     name: "aaaa00000001_first.sql".into(), path: None, is_dir: false,
/// #     bytes: b"-- First\n--\n-- Revision ID: aaaa00000001\n-- Revises: \n-- Create Date: 2026-12-02\n\n-- kiln:upgrade\nSELECT 1;\n\n-- kiln:downgrade\nSELECT 2;\n".to_vec() }], "m").unwrap();
/// # let migrations = set.leak();
/// use kiln_core::format::{line, HISTORY};
/// assert_eq!(line(&migrations.graph(), 0, migrations.at(0), HISTORY), "<base> -> aaaa00000001 (head), First");
/// ```
pub fn line(graph: &Graph, r: RevIdx, rev: &Revision, how: Line) -> String {
    let mut text = rev.id.to_string();
    if how.parents {
        text = if rev.depends_on.is_empty() {
            format!("{} -> {text}", down(rev))
        } else {
            format!("{} ({}) -> {text}", down(rev), comma(rev.depends_on))
        };
    }
    let labels = labels(graph, r);
    if how.branches && !labels.is_empty() {
        text += &format!(" ({})", comma(labels));
    }
    let is_head = graph.children(r).is_empty();
    let is_real_head = graph.real_heads().contains(&r);
    if how.heads || how.tree {
        if is_real_head {
            text += " (head)";
        }
        if is_head && !is_real_head {
            text += " (effective head)";
        }
        if how.current {
            text += " (current)";
        }
    }
    if how.tree {
        if graph.is_branch_point(r) {
            text += " (branchpoint)";
        }
        if graph.is_merge_point(r) {
            text += " (mergepoint)";
        }
    }
    if how.doc {
        text += &format!(", {}", rev.message);
    }
    text
}

/// A revision's verbose entry (Alembic's `log_entry`; printed with a
/// newline after it, so entries are a blank line apart): `Rev:`, `Parent:` or `Merges:`, `Also depends on:`, `Branches
/// into:`, `Branch names:`, `Path:`, then the docstring indented by four.
pub fn entry(graph: &Graph, r: RevIdx, rev: &Revision, path: &str, current: bool) -> String {
    let mut out = format!(
        "Rev: {}{}{}{}{}\n",
        rev.id,
        if graph.children(r).is_empty() { " (head)" } else { "" },
        if graph.is_branch_point(r) { " (branchpoint)" } else { "" },
        if graph.is_merge_point(r) { " (mergepoint)" } else { "" },
        if current { " (current)" } else { "" },
    );
    if graph.is_merge_point(r) {
        out += &format!("Merges: {}\n", down(rev));
    } else {
        out += &format!("Parent: {}\n", down(rev));
    }
    if !rev.depends_on.is_empty() {
        out += &format!("Also depends on: {}\n", comma(rev.depends_on));
    }
    if graph.is_branch_point(r) {
        let mut children: Vec<&str> = graph.children(r).iter().map(|&c| graph.id(c)).collect();
        children.sort_unstable();
        out += &format!("Branches into: {}\n", comma(children));
    }
    let labels = labels(graph, r);
    if !labels.is_empty() {
        out += &format!("Branch names: {}\n", comma(labels));
    }
    out += &format!("Path: {path}\n");
    let doc: Vec<String> = rev.docstring().lines().map(|para| format!("    {para}")).collect();
    out += &format!("\n{}\n", doc.join("\n"));
    out
}

/// `branches`' block for a branch point: its line (or entry), then each
/// child under it (sorted: Alembic's order is a set's), indented by the
/// id's width (printed with a newline
/// after it, so blocks are a blank line apart).
pub fn branch_point(graph: &Graph, r: RevIdx, revs: &[Revision], path: &str, verbose: bool) -> String {
    let rev = &revs[r];
    let head = if verbose { entry(graph, r, rev, path, false) } else { line(graph, r, rev, Line { branches: true, ..PLAIN }) };
    let mut children = graph.children(r).to_vec();
    children.sort_unstable_by_key(|&c| graph.id(c));
    let children: Vec<String> = children
        .iter()
        .map(|&c| format!("{} -> {}", " ".repeat(rev.id.len()), line(graph, c, &revs[c], Line { branches: true, doc: verbose, ..PLAIN })))
        .collect();
    format!("{head}\n{}\n", children.join("\n"))
}
