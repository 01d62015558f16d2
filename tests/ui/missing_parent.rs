static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/missing_parent");

fn main() {
    let _ = MIGRATIONS.len();
}
