static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/missing_upgrade");

fn main() {
    let _ = MIGRATIONS.len();
}
