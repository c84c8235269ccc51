//! History as evidence: each row carries the hash of its predecessor and its own hash over a
//! canonical encoding, so any edit, deletion or insertion is detectable.

mod chain;
pub mod export;

pub use chain::{
    ChainBreak, ChainCheck, ChainRow, GENESIS, canonical_encoding, row_hash, verify_chain,
};
