static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/multiple_heads");

fn main() {
    let _ = MIGRATIONS.len();
}
