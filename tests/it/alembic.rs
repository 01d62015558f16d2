//! Interop with the real Alembic (1.20.1, installed from PyPI into target/
//! on first use): a database Alembic upgraded from the same revisions
//! continues under kiln, and Alembic takes it back afterwards.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pg::{client, cluster, fresh_db, versions};

use kartograph::MIGRATIONS as REFERENCE;

/// A Python path where `import alembic, psycopg2` works.
fn python_path() -> PathBuf {
    let target = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/python-alembic");
    let probe = |path: &Path| {
        Command::new("python3")
            .args(["-c", "import alembic, psycopg2; assert alembic.__version__ == '1.20.1'"])
            .env("PYTHONPATH", path)
            .status()
            .is_ok_and(|s| s.success())
    };
    if !probe(&target) {
        let ok = Command::new("python3")
            // `--break-system-packages` lets a Debian-managed python3 install into target/ too.
            .args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "--break-system-packages", "--target"])
            .arg(&target)
            .args(["alembic==1.20.1", "psycopg2-binary"])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && probe(&target), "cannot install alembic==1.20.1 and psycopg2-binary with pip");
    }
    target
}

fn py_str(s: &str) -> String {
    format!("\"\"\"{}\"\"\"", s.replace('\\', "\\\\").replace("\"\"\"", "\\\"\\\"\\\""))
}

/// An Alembic environment whose scripts run the same SQL as kiln's revisions.
fn alembic_env(root: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(root);
    std::fs::create_dir_all(root.join("versions")).unwrap();
    std::fs::write(
        root.join("alembic.ini"),
        format!("[alembic]\nscript_location = {}\n\n[loggers]\nkeys = root\n[handlers]\nkeys =\n[formatters]\nkeys =\n[logger_root]\nlevel = WARN\nhandlers =\n", root.display()),
    )
    .unwrap();
    std::fs::write(
        root.join("env.py"),
        "import os\nfrom alembic import context\nfrom sqlalchemy import create_engine\n\
         engine = create_engine(os.environ['ALEMBIC_URL'])\n\
         with engine.connect() as connection:\n    context.configure(connection=connection, target_metadata=None)\n    \
         with context.begin_transaction():\n        context.run_migrations()\n",
    )
    .unwrap();
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
