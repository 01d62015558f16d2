//! kiln's integration tests, in one binary (one link instead of many).

mod oracle;
mod ui;
