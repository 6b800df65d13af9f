//! `rollgate`: parse the command line and dispatch.

use clap::Parser;
use server::config::{Cli, Command};

/// mimalloc instead of the system allocator: the evaluation routes allocate on several threads at once,
/// and glibc's allocator spent about a seventh of a loaded server's time in malloc, free and the locks
/// between its arenas (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,tower_http=warn,tower_sessions=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => server::cli::serve::run(&cli.db, args).await,
        Command::User(command) => server::cli::users::run(&cli.db, command).await,
        Command::Token(command) => server::cli::tokens::run(&cli.db, command).await,
        Command::Demo => server::cli::demo::run(&cli.db).await,
        Command::Migrate => server::cli::migrate(&cli.db).await,
        // These talk to a running Rollgate over HTTP and never open the database.
        Command::Verify(args) => server::cli::verify::run(args).await,
        Command::Rollback(args) => server::cli::rollback::run(args).await,
        Command::Export(args) => server::cli::config_io::run_export(args).await,
        Command::Apply(args) => server::cli::config_io::run_apply(args).await,
        Command::Audit(args) => server::cli::audit::run(args).await,
        Command::Flags(command) => server::cli::flags::run(command).await,
        Command::Env(command) => server::cli::structure::run_env(command).await,
        Command::Phase(command) => server::cli::structure::run_phase(command).await,
        Command::Import(command) => server::cli::import::run(&cli.db, command).await,
        Command::Simulate(args) => server::cli::simulate::run(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
