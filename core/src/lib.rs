//! kiln-core: the model behind kiln.
//!
//! Everything that decides something lives here, with no database and no
//! proc-macro dependency: parsing revision files ([`parse`]), the revision
//! graph with Alembic's semantics ([`graph`]), validation of a migrations
//! directory into rustc-style [`diagnostic`]s ([`validate`]), configuration
//! ([`config`]), checksums ([`checksum`]) and the code generator shared by
//! build.rs and the `embed_migrations!` macro ([`codegen`]). The build script,
//! the macro, the runtime and the CLI all call into this crate, so every rule
//! has exactly one implementation.
#![deny(missing_docs)]

pub mod build;
pub mod checksum;
pub mod codegen;
pub mod config;
pub mod diagnostic;
pub mod embedded;
pub mod graph;
pub mod lint;
pub mod parse;
pub mod sql;
pub mod validate;

pub use diagnostic::{Diagnostic, Report, Severity};
pub use graph::{Direction, Graph, GraphError, NodeSpec, Plan, PlanError, RevIdx, Step, VersionOp};
pub use validate::{load_dir, LoadedRevision, RevisionSet};
