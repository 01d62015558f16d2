static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/cycle");

fn main() {
    let _ = MIGRATIONS.len();
}
