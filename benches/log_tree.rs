//! The log's tree at a million history rows, built directly (no database): the cost of appending
//! (leaf and node hashes, nodes completed), of signing a checkpoint, and the size and cost of the
//! proofs. `cargo bench --bench log_tree`; ACCESSION_BENCH_LEAVES (default 1000000).

use std::collections::HashMap;
use std::time::Instant;

use accession::audit::checkpoint::Checkpoint;
use accession::audit::merkle::{Frontier, Hash, leaf_data, leaf_hash};
use accession::audit::proof::{
    Subtrees, consistency_ranges, inclusion_ranges, range_hash, verify_consistency,
    verify_inclusion,
};
use sha2::{Digest, Sha256};

struct Nodes(HashMap<(u32, u64), Hash>);

impl Subtrees for Nodes {
    fn perfect(&mut self, level: u32, index: u64) -> Hash {
        self.0[&(level, index)]
    }
}

fn main() {
    let n: u64 = std::env::var("ACCESSION_BENCH_LEAVES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let mut frontier = Frontier::new();
    let mut nodes = Nodes(HashMap::with_capacity(2 * n as usize));
    let started = Instant::now();
    for position in 0..n {
        let row: Hash = Sha256::digest(position.to_be_bytes()).into();
        let leaf = leaf_hash(&leaf_data(position, &row));
        nodes.0.insert((0, position), leaf);
        for node in frontier.push(leaf) {
            nodes.0.insert((node.level, node.index), node.hash);
        }
    }
    let append = started.elapsed();
    let root = frontier.root();
    println!(
        "{n} leaves appended in {:.2} s: {:.2} µs per append (leaf hash, on average one node hash; \
         {} stored nodes)",
        append.as_secs_f64(),
        append.as_secs_f64() * 1e6 / n as f64,
        nodes.0.len() as u64 - n
    );

    let key = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let started = Instant::now();
    let rounds = 1000;
    let mut cp = None;
    for _ in 0..rounds {
        cp = Some(Checkpoint::sign(n, &root, chrono::Utc::now(), &key));
    }
    let cp = cp.expect("signed");
    println!(
        "checkpoint: signed in {:.1} µs (the head is read, not recomputed: independent of size); \
         JSON {} bytes",
        started.elapsed().as_secs_f64() * 1e6 / rounds as f64,
        serde_json::to_string(&cp).expect("json").len()
    );

    let mut worst = 0;
    let started = Instant::now();
    let samples = [0, 1, n / 3, n / 2, n - 2, n - 1];
    for &m in &samples {
        let path: Vec<Hash> = inclusion_ranges(m, n)
            .iter()
            .map(|r| range_hash(*r, &mut nodes))
            .collect();
        assert!(verify_inclusion(m, n, &nodes.0[&(0, m)], &path, &root));
        worst = worst.max(path.len());
    }
    println!(
        "inclusion proof: at most {worst} hashes ({} bytes as hex), made and checked in {:.1} µs",
        worst * 64,
        started.elapsed().as_secs_f64() * 1e6 / samples.len() as f64
    );

    let mut worst = 0;
    for m in [1, 3, n / 3, n / 2 + 1, n - 1] {
        let mut old = Frontier::new();
        for p in 0..m {
            old.push(nodes.0[&(0, p)]);
        }
        let path: Vec<Hash> = consistency_ranges(m, n)
            .iter()
            .map(|r| range_hash(*r, &mut nodes))
            .collect();
        assert!(verify_consistency(m, n, &old.root(), &root, &path));
        worst = worst.max(path.len());
    }
    println!(
        "consistency proof: at most {worst} hashes ({} bytes as hex)",
        worst * 64
    );
}
