//! egui, eframe and Burn share one wgpu: Cargo.lock holds exactly one version.

#[test]
fn cargo_lock_has_exactly_one_wgpu() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock")).unwrap();
    let versions: Vec<&str> = lock
        .split("[[package]]")
        .filter(|package| package.lines().any(|line| line.trim() == "name = \"wgpu\""))
        .filter_map(|package| {
            package
                .lines()
                .find(|line| line.trim().starts_with("version = "))
        })
        .collect();
    assert_eq!(
        versions.len(),
        1,
        "wgpu versions in Cargo.lock: {versions:?}"
    );
}
