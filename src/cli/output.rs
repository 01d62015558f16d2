//! What the CLI prints: outcomes, revision lines in Alembic's form, live
//! progress, and JSON.

use std::time::Duration;

use kiln_core::Direction;

use crate::migrator::{Migrator, Outcome};
use crate::offline::{json_list, json_string};

/// One error as JSON: `{"error":{"code":...,"message":...}}`.
pub(super) fn error_json(code: &str, message: &str) -> String {
    format!("{{\"error\":{{\"code\":{},\"message\":{}}}}}", json_string(code), json_string(message))
}

/// Live output while a command runs: each revision's line as it commits
/// (stdout), the lock holder when waiting for it, and every 10 s the
/// elapsed time of a revision or statement still running (stderr). With
/// `--format json` only the last two, so stdout stays one JSON document.
pub(crate) struct Streaming {
    no_lines: bool,
    quiet: bool,
    running: std::sync::Arc<std::sync::Mutex<Option<(String, std::time::Instant)>>>,
}

impl Streaming {
    /// `no_lines`: no per-revision lines on stdout (JSON or quiet); `quiet`: nothing on stderr either.
    pub(crate) fn new(no_lines: bool, quiet: bool) -> Self {
        Streaming { no_lines, quiet, running: Default::default() }
    }

    pub(crate) fn migrator(&self, migrator: &Migrator) -> Migrator {
        let (no_lines, quiet, running) = (self.no_lines, self.quiet, self.running.clone());
        let mut config = migrator.config().clone();
        config.on_progress = Some(std::sync::Arc::new(move |p: &crate::Progress<'_>| {
            let now = std::time::Instant::now();
            let set = |label: String| *running.lock().unwrap_or_else(|e| e.into_inner()) = Some((label, now));
            match p {
                crate::Progress::LockWait { .. } if !quiet => eprintln!("{p}"),
                crate::Progress::LockWait { .. } => {}
                crate::Progress::Started { revision, direction, .. } => set(format!("{} {revision}", direction.as_str())),
                crate::Progress::Statement { revision, index, total, .. } => set(format!("{revision}, statement {index} of {total}")),
                crate::Progress::Done { .. } => {
                    *running.lock().unwrap_or_else(|e| e.into_inner()) = None;
                    if !no_lines {
                        println!("{p}");
                    }
                }
            }
        }));
        Migrator::with_config(*migrator.migrations(), config)
    }

    /// Says every 10 s what is still running (runs on the session's runtime
    /// while the command waits for the server).
    pub(crate) fn ticker(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let (running, quiet) = (self.running.clone(), self.quiet);
        async move {
            if quiet {
                return;
            }
            // What was last said: which run of a revision or statement (its
            // start) and which multiple of 10 s.
            let mut last_said = None;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = running.lock().unwrap_or_else(|e| e.into_inner()).clone();
                let Some((label, since)) = now else { continue };
                let secs = since.elapsed().as_secs();
                if secs >= 10 && last_said != Some((since, secs / 10)) {
                    last_said = Some((since, secs / 10));
                    eprintln!("  still running: {label} ({secs} s)");
                }
            }
        }
    }
}

pub(crate) fn print_outcome(migrator: &Migrator, o: &Outcome, json: bool, streamed: bool) {
    if json {
        let steps: Vec<String> = o
            .applied
            .iter()
            .map(|s| {
                format!(
                    "{{\"direction\":\"{}\",\"revision\":{},\"ms\":{}}}",
                    if s.direction == Direction::Up { "up" } else { "down" },
                    json_string(&s.revision),
                    s.duration.as_millis()
                )
            })
            .collect();
        println!(
            "{{\"before\":{},\"after\":{},\"applied\":[{}],\"warnings\":{},\"changes\":{}}}",
            json_list(&o.before),
            json_list(&o.after),
            steps.join(","),
            json_list(&o.warnings),
            json_list(&o.changes)
        );
        return;
    }
    for w in &o.warnings {
        eprintln!("warning: {w}");
    }
    for c in &o.changes {
        println!("{c}");
    }
    if !streamed {
        for s in &o.applied {
            let rev = migrator.migrations().get(&s.revision);
            let msg = rev.map_or("", |r| r.message);
            let verb = s.direction.as_str();
            println!("{verb:>9} {} ({:>7.1} ms) {msg}", s.revision, s.duration.as_secs_f64() * 1e3);
        }
    }
    if o.applied.is_empty() && o.before == o.after {
        println!("nothing to do: the database is at {}", if o.after.is_empty() { "base".into() } else { o.after.join(", ") });
    } else {
        println!("now at {}", if o.after.is_empty() { "base".into() } else { o.after.join(", ") });
    }
}

/// A revision in one line, in Alembic's text (`kiln_core::format`); an id
/// this binary does not know says so.
pub(crate) fn describe(migrator: &Migrator, id: &str, how: kiln_core::format::Line) -> String {
    let g = migrator.graph();
    match g.index_of(id) {
        Some(i) => kiln_core::format::line(g, i, migrator.migrations().at(i), how),
        None => format!("{id} (unknown to this binary)"),
    }
}

/// A revision's file, as `Path:` shows it.
pub(crate) fn path_of(migrator: &Migrator, r: usize) -> String {
    format!("{}/{}", migrator.migrations().source_dir(), migrator.migrations().at(r).file_name)
}

/// A revision's verbose entry (`Rev:`, `Parent:`, `Path:`, its docstring), as Alembic's `log_entry`.
pub(crate) fn entry(migrator: &Migrator, r: usize, current: bool) -> String {
    kiln_core::format::entry(migrator.graph(), r, migrator.migrations().at(r), &path_of(migrator, r), current)
}
