//! `loupe`: the window, or a subcommand (see `loupe --help`).

fn main() -> std::process::ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    loupe::cli::main()
}
