static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/id_mismatch");

fn main() {
    let _ = MIGRATIONS.len();
}
