//! kiln's integration tests, in one binary (one link instead of many).

mod build_script;
mod embed;
mod oracle;
mod props;
mod tidy;
mod ui;
