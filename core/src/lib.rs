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

//!
//! # What is stable
//!
//! A build script needs [`build`]; a tool that reads a migrations directory
//! needs [`load_dir`], the [`RevisionSet`] it returns, its [`Report`] and the
//! [`graph`] types; [`config`], [`lint::RULES`] and the pinned
//! [`checksum`] functions complete the documented surface. The modules
//! hidden from these docs (`codegen`, `format`, `parse`, `sql`, `lint::sql`) serve
//! kiln's own crates, which pin this crate's exact version
//! (`kiln-core = "=0.1.0"`), and may change in any release.

pub mod build;
pub mod checksum;
#[doc(hidden)]
pub mod codegen;
pub mod config;
pub mod diagnostic;
pub mod embedded;
#[doc(hidden)]
pub mod format;
pub mod graph;
pub mod lint;
#[doc(hidden)]
pub mod parse;
#[doc(hidden)]
pub mod sql;
pub mod validate;

pub use diagnostic::{Diagnostic, Report, Severity};
pub use graph::{Direction, Graph, GraphError, NodeSpec, Plan, PlanError, RevIdx, Step, VersionOp};
pub use parse::{RevisionFile, Spanned};
pub use validate::{load_dir, LoadedRevision, RevisionSet};
