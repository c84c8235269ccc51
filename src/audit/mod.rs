//! History as evidence: each row carries the hash of its predecessor and its own hash over a
//! canonical encoding, so any edit, deletion or insertion is detectable; and every row is a leaf
//! of one append-only log whose Merkle tree (RFC 9162) commits to all of history at once.

mod chain;
pub mod checkpoint;
pub mod export;
pub mod merkle;
pub mod proof;

pub use chain::{
    ChainBreak, ChainCheck, ChainRow, FORM_ACCOUNT, FORM_BOTH_TIMES, FORM_RECORDED_ONLY, GENESIS,
    canonical_encoding, content_problem, row_hash, verify_chain,
};
