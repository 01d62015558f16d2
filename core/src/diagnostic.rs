//! Diagnostics are data: a stable code, a message, a primary location, notes
//! and a `help:` line. They are rendered at the edge (build.rs, the macro, the
//! CLI) in rustc's format:
//!
//! ```text
//! error[kiln::missing-parent]: revision `b2c3d4e5f6a1` revises `ffffffffffff`, which does not exist
//!  --> migrations/b2c3d4e5f6a1_add_users.sql:4:14
//!   |
//! 4 | -- Revises: ffffffffffff
//!   |             ^^^^^^^^^^^^
//!   |
//!   = help: fix the id in `Revises`, or restore the missing revision file
//! ```

use std::fmt::{self, Write as _};
use std::ops::Range;
use std::path::PathBuf;

/// How serious a [`Diagnostic`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// Reported, but the build goes on.
    Warning,
    /// Fails the build.
    Error,
}

/// Index of a file in a [`Sources`] table.
pub type FileId = usize;

/// A place in a source file: the file and a byte range in its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The file, in the [`Sources`] the diagnostic is rendered with.
    pub file: FileId,
    /// Byte range in the file's text (empty ranges point between two bytes).
    pub span: Range<usize>,
}

/// A secondary location with its own short message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Label {
    /// Where.
    pub location: Location,
    /// What is there, in a few words.
    pub message: String,
}

/// One problem found in a migrations directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Stable code such as `missing-parent`; rendered as `kiln::missing-parent`.
    pub code: &'static str,
    /// One line that makes sense alone: lowercase, no final period.
    pub message: String,
    /// The primary location, when the problem has one.
    pub location: Option<Location>,
    /// Other places involved (the other head, the first definition, ...).
    pub labels: Vec<Label>,
    /// Extra facts, rendered as `= note: ...`.
    pub notes: Vec<String>,
    /// What to do about it, rendered as `= help: ...`.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A new error with a code and a message.
    pub fn error(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, message)
    }

    /// A new warning with a code and a message.
    pub fn warning(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, message)
    }

    fn new(severity: Severity, code: &'static str, message: impl Into<String>) -> Self {
        Diagnostic { severity, code, message: message.into(), location: None, labels: Vec::new(), notes: Vec::new(), help: None }
    }

    /// Sets the primary location.
    pub fn at(mut self, file: FileId, span: Range<usize>) -> Self {
        self.location = Some(Location { file, span });
        self
    }

    /// Adds a secondary location.
    pub fn with_label(mut self, file: FileId, span: Range<usize>, message: impl Into<String>) -> Self {
        self.labels.push(Label { location: Location { file, span }, message: message.into() });
        self
    }

    /// Adds a note.
    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Sets the help line.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Renders this diagnostic in rustc's format, reading lines from `sources`.
    pub fn render(&self, sources: &Sources) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}[kiln::{}]: {}", self.code, self.message);
        let mut snippets: Vec<(&Location, &str)> = Vec::new();
        if let Some(loc) = &self.location {
            snippets.push((loc, ""));
        }
        for label in &self.labels {
            snippets.push((&label.location, &label.message));
        }
        let gutter = snippets
            .iter()
            .filter_map(|(loc, _)| sources.get(loc.file).map(|f| f.line_col(loc.span.start).0.to_string().len()))
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(gutter);
        for (i, (loc, label)) in snippets.iter().enumerate() {
            let Some(file) = sources.get(loc.file) else { continue };
            let (line, col) = file.line_col(loc.span.start);
            let arrow = if i == 0 && self.location.is_some() { "-->" } else { ":::" };
            let _ = writeln!(out, "{pad}{arrow} {}:{line}:{col}", file.display);
            if loc.span == (0..0) {
                // About the file as a whole: no line to show.
                continue;
            }
            let text = file.line_text(line);
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line:>gutter$} | {text}");
            let line_start = loc.span.start - (col - 1);
            let start_chars = file.text[line_start..loc.span.start].chars().count();
            let span_end = loc.span.end.min(line_start + text.len()).max(loc.span.start);
            let width = file.text[loc.span.start..span_end].chars().count().max(1);
            let marker = if i == 0 && self.location.is_some() { "^" } else { "-" };
            let _ = write!(out, "{pad} | {}{}", " ".repeat(start_chars), marker.repeat(width));
            if !label.is_empty() {
                let _ = write!(out, " {label}");
            }
            out.push('\n');
        }
        if !snippets.is_empty() && (self.help.is_some() || !self.notes.is_empty()) {
            let _ = writeln!(out, "{pad} |");
        }
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

impl fmt::Display for Diagnostic {
    /// The one-line form, without source context: `error[kiln::code]: message`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{kind}[kiln::{}]: {}", self.code, self.message)
    }
}

/// A source file as diagnostics see it.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path as shown to the user (`migrations/7fbe65eaef1b_create_teams.sql`).
    pub display: String,
    /// Path on disk, when the file came from disk.
    pub path: Option<PathBuf>,
    /// The decoded text (BOM removed; line endings as in the file).
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file with its display name and text.
    pub fn new(display: impl Into<String>, path: Option<PathBuf>, text: String) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
        SourceFile { display: display.into(), path, text, line_starts }
    }

    /// 1-based line and column (in bytes, as rustc counts for ASCII) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        (line, offset - self.line_starts[line - 1] + 1)
    }

    /// The text of a 1-based line, without its line ending.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self.line_starts[line - 1];
        let end = self.line_starts.get(line).copied().unwrap_or(self.text.len());
        self.text[start..end].trim_end_matches(['\n', '\r'])
    }
}

/// The files that diagnostics point into, indexed by [`FileId`].
#[derive(Clone, Debug, Default)]
pub struct Sources {
    files: Vec<SourceFile>,
}

impl Sources {
    /// Adds a file and returns its id.
    pub fn add(&mut self, file: SourceFile) -> FileId {
        self.files.push(file);
        self.files.len() - 1
    }

    /// The file with this id.
    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id)
    }

    /// Number of files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file was added.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// Every diagnostic of one check, with the sources they point into.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// The files.
    pub sources: Sources,
    /// Errors and warnings, in the order they were found.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// True when at least one diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(|d| d.severity == Severity::Error)
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.severity == Severity::Error).count()
    }

    /// Renders every diagnostic, then a summary line when there are errors.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.render(&self.sources));
            out.push('\n');
        }
        let errors = self.error_count();
        if errors > 0 {
            let _ = writeln!(out, "error: kiln found {errors} error{} in the migrations directory", if errors == 1 { "" } else { "s" });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_rustc_format_with_caret_under_span() {
        let mut sources = Sources::default();
        let text = "-- m\n--\n-- Revises: ffffffffffff\n".to_string();
        let id = sources.add(SourceFile::new("migrations/x_y.sql", None, text));
        let d = Diagnostic::error("missing-parent", "revision `x` revises `ffffffffffff`, which does not exist")
            .at(id, 20..32)
            .with_help("fix the id");
        let r = d.render(&sources);
        let expected = "error[kiln::missing-parent]: revision `x` revises `ffffffffffff`, which does not exist\n \
                        --> migrations/x_y.sql:3:13\n  |\n3 | -- Revises: ffffffffffff\n  |             ^^^^^^^^^^^^\n  |\n  = help: fix the id\n";
        assert_eq!(r, expected);
    }

    #[test]
    fn line_col_handles_crlf_and_last_line() {
        let f = SourceFile::new("f", None, "ab\r\ncd".into());
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(4), (2, 1));
        assert_eq!(f.line_text(1), "ab");
        assert_eq!(f.line_text(2), "cd");
    }
}
