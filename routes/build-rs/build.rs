//! Validates and embeds `migrations/` at build time.
fn main() {
    kiln_core::build::migrations("migrations");
}
