static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/missing_dependency");

fn main() {
    let _ = MIGRATIONS.len();
}
