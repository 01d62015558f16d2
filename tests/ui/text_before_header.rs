static MIGRATIONS: kiln::Migrations = kiln_macros::embed_migrations!("$KILN_UI/text_before_header");

fn main() {
    let _ = MIGRATIONS.len();
}
