//! kiln's integration tests, in one binary (one link instead of many).

mod alembic;
mod alembic_output;
mod autogen;
mod build_script;
mod cli;
mod corpus;
mod declared;
mod drift;
mod embed;
mod lint;
mod oracle;
mod oracle_pg;
mod pg;
mod props;
mod reliability;
mod routes;
mod runtime;
mod safety;
mod testing;
mod tidy;
mod ui;
