static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/malformed_header");

fn main() {
    let _ = MIGRATIONS.len();
}
