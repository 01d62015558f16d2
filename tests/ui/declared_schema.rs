static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/declared_schema");

fn main() {
    let _ = MIGRATIONS.len();
}
