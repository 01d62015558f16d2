static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/not_reversible");

fn main() {
    let _ = MIGRATIONS.len();
}
