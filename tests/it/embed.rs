//! Embedding: a valid directory embeds exactly its revisions, and the three
//! delivery paths (macro, build.rs, `--dir` loading) give the same table.

use std::path::Path;

use kiln::Migrations;

static VALID: Migrations = kiln_macros::embed_migrations!("tests/ui/fixtures/valid");
static REFERENCE_BY_MACRO: Migrations = kiln_macros::embed_migrations!("migrations");
use kartograph::MIGRATIONS as REFERENCE_BY_BUILD_RS;

fn sql_files(dir: &str) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".sql"))
        .collect();
    names.sort();
    names
}

#[test]
fn a_valid_directory_embeds_exactly_its_revisions() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui/fixtures/valid");
    let files = sql_files("tests/ui/fixtures/valid");
    let embedded: Vec<&str> = VALID.revisions().iter().map(|r| r.file_name).collect();
    assert_eq!(embedded, files);
    for rev in VALID.revisions() {
        let on_disk = std::fs::read_to_string(dir.join(rev.file_name)).unwrap();
        assert_eq!(rev.source, on_disk, "{} is embedded byte for byte", rev.file_name);
        assert!(rev.file_name.starts_with(&format!("{}_", rev.id)));
        assert_eq!(rev.checksum, kiln_core::checksum::checksum(&on_disk));
        assert!(!rev.upgrade_sql().contains("kiln:"), "{}: upgrade SQL excludes markers", rev.id);
    }
    let users = VALID.get("aaaa00000001").unwrap();
    assert_eq!(users.upgrade_sql().trim(), "CREATE TABLE users (id VARCHAR(26) PRIMARY KEY);");
    assert_eq!(users.downgrade_sql().unwrap().trim(), "DROP TABLE users;");
    // CRLF and a BOM: same SQL, and the checksum of the LF text.
    let crlf = VALID.get("cccc00000003").unwrap();
    assert!(crlf.source.starts_with('\u{feff}'));
    assert_eq!(crlf.upgrade_sql().trim(), "ALTER TABLE users ADD COLUMN name TEXT;");
    let lf = crlf.source.trim_start_matches('\u{feff}').replace("\r\n", "\n");
    assert_eq!(crlf.checksum, kiln_core::checksum::checksum(&lf));
    let merge = VALID.get("dddd00000004").unwrap();
    assert_eq!(merge.down_revisions, ["bbbb00000002", "cccc00000003"]);
    assert_eq!(merge.upgrade_sql().trim(), "");
    let seed = VALID.get("eeee00000005").unwrap();
    assert!(!seed.is_reversible() && !seed.transactional);
    assert_eq!(VALID.get("bbbb00000002").unwrap().branch_labels, ["core"]);
    // The precomputed history order is the graph's.
    let graph = VALID.graph();
    let history: Vec<&str> = VALID.history().map(|r| r.id).collect();
    let computed: Vec<&str> = graph.history_order().into_iter().map(|i| graph.id(i)).collect();
    assert_eq!(history, computed);
    assert_eq!(history, ["eeee00000005", "dddd00000004", "bbbb00000002", "cccc00000003", "aaaa00000001"]);
}

#[test]
fn macro_build_script_and_runtime_loading_agree() {
    let loaded = kiln_core::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations"), "migrations")
        .unwrap_or_else(|r| panic!("{}", r.render()))
        .leak();
    assert_eq!(REFERENCE_BY_MACRO.revisions(), REFERENCE_BY_BUILD_RS.revisions());
    assert_eq!(REFERENCE_BY_MACRO.revisions(), loaded.revisions());
    let h = |m: &Migrations| m.history().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(h(&REFERENCE_BY_MACRO), h(&REFERENCE_BY_BUILD_RS));
    assert_eq!(h(&REFERENCE_BY_MACRO), h(&loaded));
    let ids: Vec<String> = sql_files("migrations").iter().map(|f| f[..12].to_string()).collect();
    assert_eq!(REFERENCE_BY_BUILD_RS.revisions().iter().map(|r| r.id).collect::<Vec<_>>(), ids);
}

#[test]
fn the_macro_is_an_expression_usable_in_a_let() {
    let m = kiln_macros::embed_migrations!("tests/ui/fixtures/valid");
    assert_eq!(m.len(), 5);
    assert_eq!(m.graph().heads().len(), 1);
}

#[test]
fn the_reference_schema_has_a_branch_and_its_merge() {
    let g = REFERENCE_BY_BUILD_RS.graph();
    assert_eq!(g.heads().len(), 1);
    assert_eq!(g.bases().len(), 1);
    assert!((0..g.len()).any(|r| g.is_branch_point(r)));
    assert!((0..g.len()).any(|r| g.is_merge_point(r)));
}
