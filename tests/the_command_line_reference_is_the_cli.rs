//! A newcomer reads the command-line reference in `docs/cli.md`: it is the
//! CLI's own help, command by command, so it says what the program does.
//! With `LOUPE_WRITE_DOCS=1` the test rewrites the file instead.

#[test]
fn docs_cli_md_is_what_the_cli_says_of_itself() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/cli.md");
    let generated = loupe::cli::reference_markdown();
    if std::env::var_os("LOUPE_WRITE_DOCS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        written == generated,
        "docs/cli.md differs from the CLI's definitions: rerun with LOUPE_WRITE_DOCS=1 \
         (first difference at line {})",
        written
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .map_or(
                written.lines().count().min(generated.lines().count()) + 1,
                |l| l + 1
            )
    );
    for command in [
        "loupe train",
        "loupe project init",
        "loupe bench",
        "loupe next",
    ] {
        assert!(generated.contains(&format!("## `{command}`")), "{command}");
    }
}
