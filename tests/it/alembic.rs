//! Interop with the real Alembic (1.20.1, installed from PyPI into target/
//! on first use): a database Alembic upgraded from the same revisions
//! continues under kiln, and Alembic takes it back afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pg::{client, cluster, fresh_db, versions};

use kartograph::MIGRATIONS as REFERENCE;

/// A Python path under target/ where `check` runs, with `packages`
/// installed there by pip on first use.
fn pip_target(dir: &str, check: &str, packages: &[&str]) -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join(dir);
    let probe = |path: &Path| Command::new("python3").args(["-c", check]).env("PYTHONPATH", path).status().is_ok_and(|s| s.success());
    if !probe(&target) {
        let ok = Command::new("python3")
            // `--break-system-packages` lets a Debian-managed python3 install into target/ too.
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--break-system-packages", "--target"])
            .arg(&target)
            .args(packages)
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && probe(&target), "cannot install {packages:?} with pip");
    }
    target
}

/// A Python path where `import alembic, psycopg2` works.
fn python_path() -> PathBuf {
    pip_target(
        "python-alembic",
        "import alembic, psycopg2; assert alembic.__version__ == '1.20.1'",
        &["alembic==1.20.1", "psycopg2-binary"],
    )
}

fn py_str(s: &str) -> String {
    format!("\"\"\"{}\"\"\"", s.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\""))
}

/// An `alembic.ini` and an online `env.py` in `script` (connecting to
/// `ALEMBIC_URL`), with the revisions in `versions` (default `script/versions`).
fn online_env(script: &Path, versions: Option<&Path>) -> PathBuf {
    let locations = versions.map_or(String::new(), |v| format!("version_locations = {}\n", v.display()));
    let ini = script.join("alembic.ini");
    std::fs::write(
        &ini,
        format!(
            "[alembic]\nscript_location = {}\n{locations}\n[loggers]\nkeys = root\n[handlers]\nkeys =\n[formatters]\nkeys =\n[logger_root]\nlevel = WARN\nhandlers =\n",
            script.display()
        ),
    )
    .unwrap();
    std::fs::write(
        script.join("env.py"),
        "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n\
         engine = create_engine(os.environ['ALEMBIC_URL'])\n\
         with engine.connect() as connection:\n    context.configure(connection=connection, target_metadata=None)\n    \
         with context.begin_transaction():\n        context.run_migrations()\n",
    )
    .unwrap();
    ini
}

/// An Alembic environment whose scripts run the same SQL as kiln's revisions.
fn alembic_env(root: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("versions")).unwrap();
    online_env(root, None);
    std::fs::write(root.join("script.py.mako"), "").unwrap();
    for rev in REFERENCE.revisions() {
        let down = match rev.down_revisions {
            [] => "None".to_string(),
            [one] => format!("'{one}'"),
            many => format!("({})", many.iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(", ")),
        };
        let body = |sql: &str| {
            if sql.trim().is_empty() {
                "    pass\n".to_string()
            } else if rev.transactional {
                format!("    op.execute({})\n", py_str(sql))
            } else {
                format!("    with op.get_context().autocommit_block():\n        op.execute({})\n", py_str(sql))
            }
        };
        let script = format!(
            "from alembic import op\nrevision = '{id}'\ndown_revision = {down}\nbranch_labels = None\ndepends_on = None\n\n\
             def upgrade():\n{up}\ndef downgrade():\n{down_body}",
            id = rev.id,
            up = body(rev.upgrade_sql()),
            down_body = body(rev.downgrade_sql().unwrap_or("")),
        );
        std::fs::write(root.join("versions").join(format!("{}_m.py", rev.id)), script).unwrap();
    }
    root.join("alembic.ini")
}

fn alembic(ini: &Path, pythonpath: &Path, url: &str, args: &[&str]) -> String {
    let out = Command::new("python3")
        .args(["-m", "alembic", "-c"])
        .arg(ini)
        .args(args)
        .env("PYTHONPATH", pythonpath)
        .env("ALEMBIC_URL", url.replacen("postgres://", "postgresql+psycopg2://", 1))
        .output()
        .unwrap();
    assert!(out.status.success(), "alembic {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_database_alembic_upgraded_continues_under_kiln_and_back() {
    let pythonpath = python_path();
    let ini = alembic_env(&Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/alembic-env-{}", std::process::id())));
    let url = fresh_db();
    alembic(&ini, &pythonpath, &url, &["upgrade", "a1b2c3d4e5f6"]);
    let mut c = client(&url);
    assert_eq!(versions(&mut c), ["a1b2c3d4e5f6"]);
    // kiln takes over: only the rest runs.
    let m = kiln::Migrator::new(REFERENCE);
    let outcome = m.upgrade(&mut c, "head").unwrap();
    let ran: Vec<&str> = outcome.applied.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(ran, ["e4f5a6b7c8d9", "b7e2d91c4a05", "f0e1d2c3b4a5"]);
    assert!(m.check(&mut c).unwrap());
    // Alembic reads kiln's version table and downgrades through the merge.
    assert!(alembic(&ini, &pythonpath, &url, &["current"]).contains("f0e1d2c3b4a5 (head)"));
    alembic(&ini, &pythonpath, &url, &["downgrade", "a1b2c3d4e5f6"]);
    assert_eq!(versions(&mut c), ["a1b2c3d4e5f6"]);
    // And kiln carries on again; the history it kept shows the gap honestly.
    let again = m.upgrade(&mut c, "head").unwrap();
    assert_eq!(again.applied.len(), 3);
    let _ = cluster();
}

/// A Python path with JupyterHub 6.1.1 (BSD-3-Clause) and Alembic 1.20.1:
/// a real Alembic history whose revisions import their application.
fn jupyterhub_path() -> PathBuf {
    pip_target(
        "python-jupyterhub",
        "import jupyterhub.orm, alembic, psycopg2; assert alembic.__version__ == '1.20.1'",
        &["jupyterhub==6.1.1", "alembic==1.20.1", "psycopg2-binary"],
    )
}

/// `kiln import alembic` on JupyterHub's 19 revisions, as a team moving off
/// Alembic would run it: every revision keeps its id, parents, message,
/// docstring and date; the 8 that Alembic renders offline get its SQL, the
/// 11 that inspect the live database are written unfinished and reported;
/// the output is never overwritten. Then the real Alembic takes a database
/// back online to a revision halfway, a person stands in for the unfinished
/// revisions below it, and kiln continues to head, running only the two
/// revisions above it: the schema equals Alembic's at head.
#[test]
fn importing_jupyterhubs_alembic_history() {
    let pythonpath = jupyterhub_path();
    let versions = pythonpath.join("jupyterhub/alembic/versions");
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("target/kiln-import-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let kiln = |args: &[&str]| Command::new(env!("CARGO_BIN_EXE_kiln")).args(args).env("PYTHONPATH", &pythonpath).output().unwrap();
    let run = kiln(&["import", "alembic", versions.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let report = String::from_utf8_lossy(&run.stdout).into_owned();
    assert_eq!(run.status.code(), Some(kiln::cli::EXIT_NEEDS_PERSON), "{report}{}", String::from_utf8_lossy(&run.stderr));
    assert!(report.contains("imported 19 revision(s)") && report.contains("11 need a person"), "{report}");

    // Each Alembic file's identity, read from its Python source, is in the kiln file.
    let mut files = 0;
    for entry in std::fs::read_dir(&versions).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "py") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let value = |key: &str| {
            source.lines().find_map(|l| l.strip_prefix(&format!("{key} = "))).map(|v| v.trim().trim_matches(['\'', '"']).to_string())
        };
        let id = value("revision").unwrap();
        let down = value("down_revision").filter(|d| d != "None").unwrap_or_default();
        let kiln_file = std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(&id))
            .unwrap();
        let text = std::fs::read_to_string(&kiln_file).unwrap();
        assert!(text.contains(&format!("-- Revision ID: {id}\n-- Revises: {down}\n")), "{}:\n{text}", kiln_file.display());
        let date = source.lines().find_map(|l| l.strip_prefix("Create Date: ")).unwrap();
        assert!(text.contains(&format!("-- Create Date: {}\n", date.trim())), "{text}");
        files += 1;
    }
    assert_eq!(files, 19);
    // Docstring paragraphs become the description; `show` prints them as Alembic does.
    let show = kiln(&["--dir", out.to_str().unwrap(), "show", "3ec6993fe20c"]);
    assert!(String::from_utf8_lossy(&show.stdout).contains("    - encrypted auth_state"), "{}", String::from_utf8_lossy(&show.stdout));
    // Never overwritten.
    let again = kiln(&["import", "alembic", versions.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("never overwrites"));
    // The unfinished revisions fail the check, naming themselves.
    let check = kiln(&["--dir", out.to_str().unwrap(), "check"]);
    assert_eq!(check.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&check.stderr).contains("afd65840b69e_pkce.sql"), "{}", String::from_utf8_lossy(&check.stderr));

    // The real Alembic, online, with JupyterHub's own revisions: halfway, and to head.
    let script = out.with_extension("alembic");
    std::fs::create_dir_all(&script).unwrap();
    let ini = online_env(&script, Some(&versions));
    // JupyterHub creates a new database from its models and stamps it;
    // its revisions upgrade older ones. So both databases start from the
    // models at head, and the real Alembic takes one back down, online, to
    // the last revision it cannot render offline.
    let (halfway, full) = (fresh_db(), fresh_db());
    for url in [&halfway, &full] {
        let created = Command::new("python3")
            .args(["-c", "import os, sqlalchemy; from jupyterhub import orm; orm.Base.metadata.create_all(sqlalchemy.create_engine(os.environ['ALEMBIC_URL']))"])
            .env("PYTHONPATH", &pythonpath)
            .env("ALEMBIC_URL", url.replacen("postgres://", "postgresql+psycopg2://", 1))
            .output()
            .unwrap();
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        alembic(&ini, &pythonpath, url, &["stamp", "head"]);
    }
    alembic(&ini, &pythonpath, &halfway, &["downgrade", "afd65840b69e"]);
    assert_eq!(crate::pg::versions(&mut client(&halfway)), ["afd65840b69e"]);
    // A person finishes the revisions below the database's current one (they never run again).
    for entry in std::fs::read_dir(&out).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains("-- Write its SQL here.") {
            std::fs::write(&path, text.replace("-- Write its SQL here.\n", "-- (already applied everywhere)\nSELECT 1;\n")).unwrap();
        }
    }
    let up = Command::new(env!("CARGO_BIN_EXE_kiln"))
        .args(["--dir", out.to_str().unwrap(), "--database-url", &halfway, "upgrade", "heads"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&up.stdout).into_owned();
    assert!(up.status.success(), "{text}{}", String::from_utf8_lossy(&up.stderr));
    assert!(
        text.contains("upgrade ff1860e38070") && text.contains("upgrade f460b0348206") && !text.contains("upgrade afd65840b69e"),
        "{text}"
    );
    let kiln_tables = |url: &str| crate::pg::schema(&mut client(url)).into_iter().filter(|l| !l.contains("kiln_")).collect::<Vec<_>>();
    assert_eq!(kiln_tables(&halfway), kiln_tables(&full), "kiln's continuation reaches the schema Alembic reaches");
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&script);
}
