//! One module per command group.

pub(super) mod author;
pub(super) mod drift;
pub(super) mod import;
pub(super) mod inspect;
pub(super) mod lint;
pub(super) mod migrate;
