//! The crate graph keeps the directions docs/architecture.md draws: the protocol engine
//! (`palisade-flow`), the signing keys (`palisade-keys`) and the vocabulary (`palisade-core`)
//! build without the web framework or the database layer, so the rules they hold can be read,
//! tested and reused without HTTP or SQL. Dev-dependencies do not count: `flow`'s tests run
//! against the real stores.
//!
//! Read from `cargo tree` for this platform, offline (the build that runs this test has every
//! package it lists on disk).

use std::collections::BTreeSet;

/// Packages only the edge crates (`palisade-store`, `palisade`) may bring in.
const EDGE_ONLY: [&str; 8] = [
    "actix-web",
    "actix-http",
    "diesel",
    "diesel_migrations",
    "redis",
    "palisade-store",
    "palisade-pages",
    "palisade",
];

/// Every package `package` needs to build (normal and build dependencies, not dev ones), by
/// name, itself included.
fn builds_with(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/../../Cargo.toml");
    let output = std::process::Command::new(cargo)
        .args(["tree", "--offline", "--locked", "--prefix", "none"])
        .args(["--edges", "normal,build", "--package", package])
        .args(["--manifest-path", manifest])
        .output()
        .expect("cargo tree runs");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .expect("cargo tree prints UTF-8")
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn flow_keys_and_core_build_without_the_web_framework_or_the_database() {
    for inner in ["palisade-core", "palisade-keys", "palisade-flow"] {
        let needs = builds_with(inner);
        assert!(needs.contains(inner), "{inner}: {needs:?}");
        let edge: Vec<_> = EDGE_ONLY.iter().filter(|p| needs.contains(**p)).collect();
        assert!(edge.is_empty(), "{inner} depends on {edge:?}");
    }
    // The check can fail: the edge crates do bring these in.
    assert!(builds_with("palisade").contains("actix-web"));
    assert!(builds_with("palisade-store").contains("diesel"));
}
