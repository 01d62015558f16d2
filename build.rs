//! Validates and embeds kiln's own `migrations/` (Kartograph's reference
//! schema) into the `kiln` binary, exactly as a user's build.rs would.
fn main() {
    kiln_core::build::migrations("migrations");
}
