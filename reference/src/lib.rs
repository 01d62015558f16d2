//! Kartograph's reference schema (`../migrations`), validated by this
//! crate's build script and embedded: the set kiln's own tests and main job
//! run.
//!
//! ```
//! assert_eq!(kartograph::MIGRATIONS.len(), 7);
//! ```

/// The embedded revisions.
pub static MIGRATIONS: kiln::Migrations = kiln::include_migrations!();
