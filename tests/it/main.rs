//! kiln's integration tests, in one binary (one link instead of many).

mod build_script;
mod embed;
mod oracle;
mod pg;
mod props;
mod runtime;
mod tidy;
mod ui;
