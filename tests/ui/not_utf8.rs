static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/not_utf8");

fn main() {
    let _ = MIGRATIONS.len();
}
