static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/nul_byte");

fn main() {
    let _ = MIGRATIONS.len();
}
