//! The Merkle tree over the log of all history, exactly as RFC 9162 §2.1 defines it. Pure.
//!
//! - The hash of a leaf is `SHA-256(0x00 || data)`, of an interior node `SHA-256(0x01 || left ||
//!   right)`, and of the empty tree `SHA-256("")`.
//! - A tree of `n > 1` leaves splits at `k`, the largest power of two smaller than `n`: its hash
//!   is the node hash of the first `k` leaves' tree and the remaining `n - k` leaves' tree.
//! - The log's leaf data is [`leaf_data`]: the position (0-based, 8 bytes big-endian) followed by
//!   the history row's own hash (the 32 bytes of the SHA-256 over its canonical encoding, see
//!   [`crate::audit::canonical_encoding`]). The row hash already covers every field of the row
//!   and its predecessor's hash; the position makes the leaf name its place in the log too.
//!
//! A [`Frontier`] holds the roots of the perfect subtrees the leaves so far make up (one per set
//! bit of the size, largest first: at most `log2(n) + 1` hashes). Appending a leaf costs one leaf
//! hash plus one node hash per subtree it completes, and the root is the frontier folded from the
//! right: O(log n) either way, with no rescan.

use sha2::{Digest, Sha256};

/// A SHA-256 digest.
pub type Hash = [u8; 32];

/// The hash of the empty tree: SHA-256 of the empty string.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0x00]);
    h.update(data);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([0x01]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The leaf data of the history row at `position` whose own hash is `row_hash`: 40 bytes.
pub fn leaf_data(position: u64, row_hash: &Hash) -> [u8; 40] {
    let mut data = [0u8; 40];
    data[..8].copy_from_slice(&position.to_be_bytes());
    data[8..].copy_from_slice(row_hash);
    data
}

/// The largest power of two smaller than `n` (for `n >= 2`): where RFC 9162 splits a tree.
pub fn split(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1 << (63 - (n - 1).leading_zeros())
}

/// The tree hash of `leaves` (leaf hashes) computed from scratch by the recursive definition:
/// the reference the incremental [`Frontier`] is checked against.
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// An interior node of a perfect subtree: the one at `level` (leaves are level 0) and `index`,
/// covering leaves `index * 2^level .. (index + 1) * 2^level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    pub level: u32,
    pub index: u64,
    pub hash: Hash,
}

/// The perfect subtrees of a tree of `size` leaves, largest first; see the module's notes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Frontier {
    size: u64,
    subtrees: Vec<Hash>,
}

/// A frontier read back that cannot be one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a log of {size} leaves has {expected} perfect subtrees, not {found}")]
pub struct FrontierMismatch {
    pub size: u64,
    pub expected: u32,
    pub found: usize,
}

impl Frontier {
    pub fn new() -> Frontier {
        Frontier::default()
    }

    /// A frontier as stored: `subtrees` must hold one hash per set bit of `size`.
    pub fn from_parts(size: u64, subtrees: Vec<Hash>) -> Result<Frontier, FrontierMismatch> {
        if subtrees.len() != size.count_ones() as usize {
            return Err(FrontierMismatch {
                size,
                expected: size.count_ones(),
                found: subtrees.len(),
            });
        }
        Ok(Frontier { size, subtrees })
    }

    /// Leaves appended so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The perfect subtrees' hashes, largest first.
    pub fn subtrees(&self) -> &[Hash] {
        &self.subtrees
    }

    /// Append a leaf hash at position `size`; returns the interior nodes it completed (level 1
    /// and up, lowest first), for storing so that proofs can be read without recomputing.
    pub fn push(&mut self, leaf: Hash) -> Vec<Node> {
        let mut completed = Vec::new();
        let mut hash = leaf;
        let mut level = 0;
        let mut index = self.size;
        // Each set low bit of the size is a subtree as large as the one being carried: merge.
        while (self.size >> level) & 1 == 1 {
            let left = self
                .subtrees
                .pop()
                .expect("one subtree per set bit of the size");
            hash = node_hash(&left, &hash);
            level += 1;
            index >>= 1;
            completed.push(Node { level, index, hash });
        }
        self.subtrees.push(hash);
        self.size += 1;
        completed
    }

    /// The tree hash of the leaves appended so far.
    pub fn root(&self) -> Hash {
        let mut parts = self.subtrees.iter().rev();
        let Some(last) = parts.next() else {
            return empty_root();
        };
        parts.fold(*last, |right, left| node_hash(left, &right))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The Certificate Transparency reference leaves (transparency-dev/merkle,
    /// testonly/constants.go) and the tree hash of every prefix, sizes 0 to 8.
    const CT_LEAVES: [&str; 8] = [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ];
    const CT_ROOTS: [&str; 9] = [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];

    fn ct_leaf_hashes() -> Vec<Hash> {
        CT_LEAVES
            .iter()
            .map(|h| leaf_hash(&hex::decode(h).unwrap()))
            .collect()
    }

    #[test]
    fn roots_match_the_certificate_transparency_vectors() {
        let leaves = ct_leaf_hashes();
        let mut frontier = Frontier::new();
        assert_eq!(hex::encode(frontier.root()), CT_ROOTS[0]);
        for (n, leaf) in leaves.iter().enumerate() {
            frontier.push(*leaf);
            assert_eq!(
                hex::encode(frontier.root()),
                CT_ROOTS[n + 1],
                "size {}",
                n + 1
            );
            assert_eq!(hex::encode(root_of(&leaves[..=n])), CT_ROOTS[n + 1]);
        }
    }

    #[test]
    fn the_split_is_the_largest_power_of_two_below() {
        for (n, k) in [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1000, 512)] {
            assert_eq!(split(n), k, "n = {n}");
        }
        assert_eq!(split(u64::MAX), 1 << 63);
    }

    #[test]
    fn completed_nodes_are_the_perfect_subtrees_roots() {
        let leaves = ct_leaf_hashes();
        let mut frontier = Frontier::new();
        let mut nodes = Vec::new();
        for leaf in &leaves {
            nodes.extend(frontier.push(*leaf));
        }
        // 8 leaves: 4 nodes at level 1, 2 at level 2, 1 at level 3.
        assert_eq!(nodes.len(), 7);
        for node in nodes {
            let width = 1usize << node.level;
            let start = node.index as usize * width;
            assert_eq!(
                node.hash,
                root_of(&leaves[start..start + width]),
                "{node:?}"
            );
        }
        assert_eq!(frontier.subtrees(), &[root_of(&leaves)]);
    }

    #[test]
    fn a_stored_frontier_must_fit_its_size() {
        let err = Frontier::from_parts(6, vec![[0; 32]]).unwrap_err();
        assert_eq!(err.expected, 2);
        assert!(Frontier::from_parts(6, vec![[0; 32], [1; 32]]).is_ok());
        assert!(Frontier::from_parts(0, vec![]).is_ok());
    }

    #[test]
    fn leaf_data_is_the_position_then_the_row_hash() {
        let data = leaf_data(0x0102, &[0xab; 32]);
        assert_eq!(&data[..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(&data[8..], &[0xab; 32]);
    }

    proptest! {
        /// For any number of leaves, appending one at a time gives the root of the recursive
        /// definition, at every size along the way, and a frontier rebuilt from its stored
        /// parts goes on to the same roots.
        #[test]
        fn the_incremental_root_is_the_root_from_scratch(n in 0usize..300, cut in 0usize..300) {
            let leaves: Vec<Hash> = (0..n as u64)
                .map(|i| leaf_hash(&leaf_data(i, &[i as u8; 32])))
                .collect();
            let mut frontier = Frontier::new();
            for (i, leaf) in leaves.iter().enumerate() {
                if i == cut {
                    frontier = Frontier::from_parts(frontier.size(), frontier.subtrees().to_vec())
                        .unwrap();
                }
                frontier.push(*leaf);
                prop_assert_eq!(frontier.root(), root_of(&leaves[..=i]));
                prop_assert!(frontier.subtrees().len() <= 64 - (i as u64 + 1).leading_zeros() as usize);
            }
            prop_assert_eq!(frontier.size(), n as u64);
            prop_assert_eq!(frontier.root(), root_of(&leaves));
        }
    }
}
