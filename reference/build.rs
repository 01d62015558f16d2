//! Validates and embeds Kartograph's reference schema (`../migrations`),
//! exactly as a user's build.rs would.
fn main() {
    kiln_core::build::migrations("../migrations");
}
