//! `kiln import alembic <versions> --out <dir>`: one kiln file per Alembic
//! revision, with its id, parents in written order, branch labels,
//! `depends_on`, message, docstring paragraphs and `Create Date`, and the
//! SQL the project's own Alembic renders for it in offline mode.
//!
//! Alembic runs through `import_alembic.py` with a stub `env.py` of kiln's
//! (offline, `literal_binds`, one transaction per revision), so an `env.py`
//! that imports the application does not matter; revisions that import it
//! need it installed where `--python` runs. The offline script is cut at
//! Alembic's `-- Running upgrade` markers, its version-table statements and
//! transaction wrappers dropped, and what is left split by kiln's own
//! statement parser. What Alembic cannot render offline (a revision that
//! inspects or reads the live database) is written unfinished, with
//! Alembic's error in its section, and reported: the build refuses it until
//! a person writes its SQL.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use kiln_core::sql::StatementKind;

use crate::cli::args::Args;
use crate::cli::{EXIT_NEEDS_PERSON, EXIT_OK};

const HELPER: &str = include_str!("import_alembic.py");

/// One revision as the helper printed it.
struct Record {
    fields: Vec<(String, String)>,
}

impl Record {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn list(&self, key: &str) -> Vec<String> {
        self.get(key).unwrap_or("").split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect()
    }
}

/// The versions directory a path names: itself, `<script dir>/versions`
/// when it holds an `env.py`, or `script_location`'s from an `alembic.ini`.
fn versions_dir(path: &Path) -> Result<PathBuf, String> {
    if path.is_file() {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let here = path.parent().unwrap_or(Path::new("."));
        let location = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "script_location")
            .map(|(_, v)| v.trim().replace("%(here)s", &here.display().to_string()))
            .ok_or_else(|| format!("{} has no `script_location`", path.display()))?;
        let script = here.join(location);
        return Ok(script.join("versions"));
    }
    if path.join("env.py").is_file() {
        return Ok(path.join("versions"));
    }
    if path.is_dir() {
        return Ok(path.to_path_buf());
    }
    Err(format!("{} is not an Alembic versions directory, script directory or alembic.ini", path.display()))
}

/// What Alembic rendered for one direction: the statements kiln keeps, and
/// whether the revision must run outside a transaction.
fn statements(chunk: &str) -> (Vec<String>, bool) {
    let all = kiln_core::sql::statements(chunk);
    let last_plain = all.iter().rposition(|s| s.kind != StatementKind::TransactionControl);
    let mut kept = Vec::new();
    let mut outside = false;
    for (i, s) in all.iter().enumerate() {
        let text = chunk[s.start..s.end].trim();
        match &s.kind {
            // Alembic's `autocommit_block` ends the revision's transaction in the middle.
            StatementKind::TransactionControl => outside |= last_plain.is_some_and(|l| i < l) && text.eq_ignore_ascii_case("COMMIT"),
            _ if text.to_ascii_lowercase().contains("alembic_version") => {}
            StatementKind::Plain => kept.push(text.to_string()),
            _ => {
                outside = true;
                kept.push(text.to_string());
            }
        }
    }
    (kept, outside)
}

/// The docstring's message, `Create Date` and other paragraphs.
fn docstring(doc: &str) -> (String, Option<String>, Vec<String>) {
    let paragraphs: Vec<&str> = doc.split("\n\n").map(str::trim).filter(|p| !p.is_empty()).collect();
    let message = paragraphs.first().map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).unwrap_or_default();
    let is_key = |l: &str| ["Revision ID:", "Revises:", "Create Date:"].iter().any(|k| l.trim_start().starts_with(k));
    let date = doc.lines().find_map(|l| l.trim().strip_prefix("Create Date:")).map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
    let description = paragraphs
        .iter()
        .skip(1)
        .map(|p| p.lines().filter(|l| !is_key(l)).collect::<Vec<_>>().join("\n"))
        .filter(|p| !p.trim().is_empty())
        .collect();
    (message, date, description)
}

/// A section's SQL, or why there is none.
fn section(rec: &Record, verb: &str, merge: bool, notes: &mut Vec<String>, outside: &mut bool) -> (String, usize) {
    if let Some(error) = rec.get(&format!("{verb}_error")) {
        notes.push(format!("needs a person: Alembic cannot render its {verb} offline ({error}); write its SQL"));
        return (format!("-- Alembic could not render this {verb} offline: {error}\n-- Write its SQL here.\n"), 0);
    }
    let (kept, non_tx) = statements(rec.get(verb).unwrap_or(""));
    *outside |= non_tx;
    if kept.is_empty() {
        if merge {
            return (String::new(), 0);
        }
        notes.push(format!("its {verb} runs no SQL in Alembic: written as `SELECT 1;`"));
        return ("-- Alembic's revision runs no SQL here.\nSELECT 1;\n".into(), 0);
    }
    (kept.iter().map(|s| format!("{s};\n")).collect::<Vec<_>>().join("\n"), kept.len())
}

pub(crate) fn import(args: &Args) -> Result<i32, String> {
    let source = PathBuf::from(args.positional.first().ok_or("`kiln import alembic` needs the versions directory")?);
    let out = PathBuf::from(args.out.as_deref().ok_or("`kiln import alembic` needs --out <dir>")?);
    let versions = versions_dir(&source)?;
    if let Ok(entries) = std::fs::read_dir(&out) {
        let taken: Vec<String> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql") || n == kiln_core::config::CONFIG_FILE)
            .collect();
        if !taken.is_empty() {
            let shown: Vec<&str> = taken.iter().take(3).map(String::as_str).collect();
            let more = if taken.len() > 3 { format!(" and {} more", taken.len() - 3) } else { String::new() };
            return Err(format!(
                "{} already holds {}{more}: kiln import never overwrites; give an empty or new --out",
                out.display(),
                shown.join(", ")
            ));
        }
    }
    let python = args.python.clone().unwrap_or_else(|| "python3".into());
    let helper = std::env::temp_dir().join(format!("kiln-import-alembic-{}.py", std::process::id()));
    std::fs::write(&helper, HELPER).map_err(|e| format!("cannot write {}: {e}", helper.display()))?;
    let run = std::process::Command::new(&python).arg(&helper).arg(&versions).output();
    let _ = std::fs::remove_file(&helper);
    let run = run.map_err(|e| format!("cannot run `{python}`: {e}; pass --python <the interpreter that has the project's Alembic>"))?;
    if !run.status.success() {
        let err = String::from_utf8_lossy(&run.stderr);
        let tail: Vec<&str> = err.lines().rev().take(12).collect::<Vec<_>>().into_iter().rev().collect();
        return Err(format!(
            "the project's Alembic could not read {} with `{python}`:\n{}\n(run kiln where the project's Alembic and its application import, or pass --python)",
            versions.display(),
            tail.join("\n")
        ));
    }
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let records: Vec<Record> = stdout
        .split('\u{1e}')
        .filter(|r| !r.is_empty())
        .map(|r| Record {
            fields: r.split('\u{1f}').filter_map(|f| f.split_once('\u{1d}')).map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        })
        .collect();
    if records.is_empty() {
        return Err(format!("{} holds no Alembic revision", versions.display()));
    }
    let bad: Vec<&str> = records.iter().filter_map(|r| r.get("id")).filter(|id| !kiln_core::parse::is_valid_id(id)).collect();
    if !bad.is_empty() {
        return Err(format!(
            "kiln keeps every revision's id, and {} cannot be a kiln id (1 to 32 letters, digits or `_`); \
             a history with such ids cannot be imported as it is",
            bad.iter().map(|b| format!("`{b}`")).collect::<Vec<_>>().join(", ")
        ));
    }
    std::fs::create_dir_all(&out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    let mut report = String::new();
    let mut needs_person = 0;
    let all_down: Vec<String> = records.iter().flat_map(|r| r.list("down")).collect();
    let heads: Vec<&str> = records.iter().filter_map(|r| r.get("id")).filter(|id| !all_down.iter().any(|d| d == id)).collect();
    // Oldest first in the report, as the files read.
    for rec in records.iter().rev() {
        let id = rec.get("id").unwrap_or_default();
        let down = rec.list("down");
        let (message, date, description) = docstring(rec.get("doc").unwrap_or(""));
        let message = if message.is_empty() { format!("Revision {id}") } else { message };
        let mut notes = Vec::new();
        let date = date.unwrap_or_else(|| {
            notes.push("its docstring has no Create Date: the import's date written".into());
            chrono::Utc::now().format("%Y-%m-%d %H:%M:%S").to_string()
        });
        let mut outside = false;
        let (up, n_up) = section(rec, "upgrade", down.len() > 1, &mut notes, &mut outside);
        let (down_sql, n_down) = section(rec, "downgrade", down.len() > 1, &mut notes, &mut outside);
        let source = rec.get("source").unwrap_or("");
        if ["get_bind(", "op.get_context(", ".execute("].iter().any(|p| source.contains(p)) && rec.get("upgrade_error").is_none() {
            notes.push("it uses the database connection in Python: check that the offline SQL is what it runs online".into());
        }
        let mut text = format!("-- {message}\n--\n-- Revision ID: {id}\n-- Revises: {}\n-- Create Date: {date}\n", down.join(", "));
        for (key, field) in [("Branch Labels", "labels"), ("Depends On", "depends")] {
            let values = rec.list(field);
            if !values.is_empty() {
                let _ = writeln!(text, "-- {key}: {}", values.join(", "));
            }
        }
        if outside {
            text.push_str("-- Transactional: false\n");
        }
        for paragraph in &description {
            text.push_str("--\n");
            for line in paragraph.lines() {
                let _ = writeln!(text, "{}", format!("-- {line}").trim_end());
            }
        }
        let _ = write!(text, "\n-- kiln:upgrade\n{up}\n-- kiln:downgrade\n{down_sql}");
        let file = out.join(format!("{id}_{}.sql", kiln_core::parse::slugify(&message)));
        std::fs::write(&file, text).map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        if notes.iter().any(|n| n.starts_with("needs a person")) {
            needs_person += 1;
        }
        let _ = writeln!(
            report,
            "{id} {}: {n_up} upgrade and {n_down} downgrade statement(s){}{}",
            file.file_name().unwrap_or_default().to_string_lossy(),
            if outside { ", non-transactional" } else { "" },
            notes.iter().map(|n| format!("\n    {n}")).collect::<String>()
        );
    }
    let mut config = format!(
        "# Written by `kiln import alembic` from {}: the imported history is\n\
         # deployed as it is, so kiln's lint rules apply to the revisions after it.\n",
        versions.display()
    );
    match heads.as_slice() {
        [one] => {
            let _ = writeln!(config, "baseline = \"{one}\"");
        }
        several => {
            let quoted: Vec<String> = several.iter().map(|h| format!("\"{h}\"")).collect();
            let _ = writeln!(config, "allow_multiple_heads = true\nbaseline = [{}]", quoted.join(", "));
            let _ = writeln!(report, "several heads ({}): the baseline names them all", several.join(", "));
        }
    }
    std::fs::write(out.join(kiln_core::config::CONFIG_FILE), config).map_err(|e| format!("cannot write kiln.toml: {e}"))?;
    print!("{report}");
    println!(
        "imported {} revision(s) into {} with {}'s Alembic {}; {needs_person} need a person",
        records.len(),
        out.display(),
        python,
        records[0].get("version").unwrap_or("?")
    );
    Ok(if needs_person > 0 { EXIT_NEEDS_PERSON } else { EXIT_OK })
}
