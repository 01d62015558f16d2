//! The `kiln` binary: Kartograph's reference schema, validated at build time
//! and embedded. For now it prints the validated revision graph.

use kiln::Migrations;

static MIGRATIONS: Migrations = kiln::include_migrations!();

fn main() {
    let graph = MIGRATIONS.graph();
    println!(
        "kiln: {} revisions embedded from {}/, validated at build time",
        MIGRATIONS.len(),
        MIGRATIONS.source_dir()
    );
    for rev in MIGRATIONS.history() {
        let i = graph.index_of(rev.id).expect("embedded revision is in its graph");
        let mut marks = Vec::new();
        if graph.heads().contains(&i) {
            marks.push("head");
        }
        if graph.bases().contains(&i) {
            marks.push("base");
        }
        if graph.is_branch_point(i) {
            marks.push("branchpoint");
        }
        if graph.is_merge_point(i) {
            marks.push("mergepoint");
        }
        if !rev.transactional {
            marks.push("non-transactional");
        }
        let parents = if rev.down_revisions.is_empty() { "<base>".to_string() } else { rev.down_revisions.join(", ") };
        let marks = if marks.is_empty() { String::new() } else { format!(" ({})", marks.join(", ")) };
        println!("{parents} -> {}{marks}, {}", rev.id, rev.message);
    }
}
