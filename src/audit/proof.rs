//! Inclusion and consistency proofs over the log's Merkle tree, as RFC 9162 §2.1.3 and §2.1.4
//! define them. Pure.
//!
//! A proof is a list of subtree hashes. Which subtrees is arithmetic on the positions alone
//! ([`inclusion_ranges`], [`consistency_ranges`]: each a half-open range of leaves); their hashes
//! come from a [`Subtrees`] source (the stored perfect-subtree nodes, see `store::log`). The
//! checks ([`verify_inclusion`], [`verify_consistency`]) are the RFC's verification algorithms,
//! which need only the proof, the sizes and the roots.

use super::merkle::{Hash, node_hash, split};

/// The leaves `start..end` of the tree, whose hash a proof holds.
pub type Range = (u64, u64);

/// The hashes of perfect subtrees: the one at `level` (leaves are level 0) and `index` covers
/// leaves `index * 2^level .. (index + 1) * 2^level`.
pub trait Subtrees {
    fn perfect(&mut self, level: u32, index: u64) -> Hash;
}

/// The perfect subtrees whose hashes make up the hash of `range`: it is split as RFC 9162 splits
/// a tree, and every range a proof names starts at a multiple of its own split.
pub fn perfect_parts(range: Range, out: &mut Vec<(u32, u64)>) {
    let (start, end) = range;
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        out.push((level, start >> level));
        return;
    }
    let k = split(n);
    perfect_parts((start, start + k), out);
    perfect_parts((start + k, end), out);
}

/// The tree hash of the leaves in `range`, from perfect subtrees.
pub fn range_hash(range: Range, source: &mut impl Subtrees) -> Hash {
    let (start, end) = range;
    let n = end - start;
    if n.is_power_of_two() && start.is_multiple_of(n) {
        let level = n.trailing_zeros();
        return source.perfect(level, start >> level);
    }
    let k = split(n);
    let left = range_hash((start, start + k), source);
    let right = range_hash((start + k, end), source);
    node_hash(&left, &right)
}

/// PATH(m, D[0:n]) of RFC 9162 §2.1.3.1, as ranges, the leaf's sibling first. `m < n`.
pub fn inclusion_ranges(m: u64, n: u64) -> Vec<Range> {
    fn path(m: u64, start: u64, n: u64, out: &mut Vec<Range>) {
        if n <= 1 {
            return;
        }
        let k = split(n);
        if m < k {
            path(m, start, k, out);
            out.push((start + k, start + n));
        } else {
            path(m - k, start + k, n - k, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    path(m, 0, n, &mut out);
    out
}

/// PROOF(m, D[0:n]) of RFC 9162 §2.1.4.1, as ranges. Empty when `m == 0` or `m == n`.
pub fn consistency_ranges(m: u64, n: u64) -> Vec<Range> {
    fn subproof(m: u64, start: u64, n: u64, whole: bool, out: &mut Vec<Range>) {
        if m == n {
            if !whole {
                out.push((start, start + n));
            }
            return;
        }
        let k = split(n);
        if m <= k {
            subproof(m, start, k, whole, out);
            out.push((start + k, start + n));
        } else {
            subproof(m - k, start + k, n - k, false, out);
            out.push((start, start + k));
        }
    }
    let mut out = Vec::new();
    if m > 0 && m < n {
        subproof(m, 0, n, true, &mut out);
    }
    out
}

/// RFC 9162 §2.1.3.2: does `path` prove that the leaf hash `leaf` is at `index` in the tree of
/// `size` leaves whose root is `root`?
pub fn verify_inclusion(index: u64, size: u64, leaf: &Hash, path: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf;
    for p in path {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            r = node_hash(p, &r);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            r = node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    s == 0 && r == *root
}

/// RFC 9162 §2.1.4.2: does `path` prove that the tree of `first` leaves with root `first_root`
/// is a prefix of the tree of `second` leaves with root `second_root`?
pub fn verify_consistency(
    first: u64,
    second: u64,
    first_root: &Hash,
    second_root: &Hash,
    path: &[Hash],
) -> bool {
    if first > second {
        return false;
    }
    if first == second {
        return path.is_empty() && first_root == second_root;
    }
    if first == 0 {
        // The empty tree is a prefix of every tree.
        return path.is_empty();
    }
    if path.is_empty() {
        return false;
    }
    let mut path: Vec<Hash> = path.to_vec();
    if first.is_power_of_two() {
        path.insert(0, *first_root);
    }
    let (mut f, mut s) = (first - 1, second - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (path[0], path[0]);
    for c in &path[1..] {
        if s == 0 {
            return false;
        }
        if f & 1 == 1 || f == s {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            if f & 1 == 0 {
                while f & 1 == 0 && f != 0 {
                    f >>= 1;
                    s >>= 1;
                }
            }
        } else {
            sr = node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    fr == *first_root && sr == *second_root && s == 0
}

#[cfg(test)]
mod tests {
    use super::super::merkle::{leaf_hash, root_of};
    use super::*;
    use proptest::prelude::*;

    /// Perfect subtrees computed from the leaves.
    struct Leaves<'a>(&'a [Hash]);

    impl Subtrees for Leaves<'_> {
        fn perfect(&mut self, level: u32, index: u64) -> Hash {
            let width = 1usize << level;
            let start = index as usize * width;
            root_of(&self.0[start..start + width])
        }
    }

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    fn hashes(ranges: &[Range], all: &[Hash]) -> Vec<Hash> {
        ranges
            .iter()
            .map(|r| range_hash(*r, &mut Leaves(all)))
            .collect()
    }

    #[test]
    fn every_proof_up_to_40_leaves_verifies_and_a_changed_one_does_not() {
        for n in 1..=40u64 {
            let all = leaves(n);
            let root = root_of(&all);
            assert_eq!(range_hash((0, n), &mut Leaves(&all)), root, "n={n}");
            for m in 0..n {
                let path = hashes(&inclusion_ranges(m, n), &all);
                assert!(
                    verify_inclusion(m, n, &all[m as usize], &path, &root),
                    "{m} in {n}"
                );
                assert!(!verify_inclusion(m, n, &leaf_hash(b"x"), &path, &root));
                if let Some(first) = path.first() {
                    let mut bad = path.clone();
                    bad[0][0] ^= 1;
                    assert!(!verify_inclusion(m, n, &all[m as usize], &bad, &root));
                    assert_ne!(*first, bad[0]);
                }
                if n > 1 {
                    let other = (m + 1) % n;
                    assert!(!verify_inclusion(other, n, &all[m as usize], &path, &root));
                }
            }
            for m in 1..n {
                let old = root_of(&all[..m as usize]);
                let path = hashes(&consistency_ranges(m, n), &all);
                assert!(verify_consistency(m, n, &old, &root, &path), "{m} to {n}");
                assert!(!verify_consistency(m, n, &leaf_hash(b"x"), &root, &path));
                let mut bad = path.clone();
                bad[0][5] ^= 1;
                assert!(!verify_consistency(m, n, &old, &root, &bad));
            }
        }
    }

    #[test]
    fn proofs_have_at_most_one_hash_per_level() {
        let n = 1_000_003u64;
        for m in [0, 1, 2, 500_000, n - 1] {
            assert!(inclusion_ranges(m, n).len() <= 21);
        }
        for m in [1, 3, 500_001, n - 1] {
            assert!(consistency_ranges(m, n).len() <= 2 * 21);
        }
    }

    proptest! {
        #[test]
        fn a_tree_that_is_not_an_extension_has_no_consistency_proof(
            n in 2u64..70, m_seed in any::<u64>(), flip in any::<u64>()
        ) {
            let m = 1 + m_seed % (n - 1);
            let all = leaves(n);
            let root = root_of(&all);
            let mut changed = all.clone();
            changed[(flip % m) as usize][0] ^= 0x80;
            let old = root_of(&changed[..m as usize]);
            let path = hashes(&consistency_ranges(m, n), &all);
            prop_assert!(!verify_consistency(m, n, &old, &root, &path));
        }
    }
}
