//! `loupe`: the window, or a subcommand (see `loupe --help`).

fn main() -> std::process::ExitCode {
    // Before any thread allocates: training reuses the memory it frees.
    loupe::allocator::keep_freed_memory();
    // OpenJPEG (through jpeg2k) logs every codestream error it then returns:
    // Loupe reports the returned error on one line, so its log is silenced.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn,jpeg2k=off"))
        .init();
    loupe::cli::main()
}
