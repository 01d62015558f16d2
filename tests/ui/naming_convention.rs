static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/naming_convention");

fn main() {
    let _ = MIGRATIONS.len();
}
