use std::process::ExitCode;

// glibc malloc was ~13% of the server's CPU under load (bench/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

use cowry::shutdown::Shutdown;
use cowry::{db, store, telemetry, AppState, Application, Config};

#[derive(Parser)]
#[command(
    name = "cowry",
    version,
    about = "Multi-provider payment collections server"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create the database if needed, apply migrations, and serve the API.
    Serve,
    /// Run the job workers (reconciliation, webhook processing, sweeps) without the HTTP server.
    Worker,
    /// Check the money path's invariants; prints the report as JSON and exits 1 when it finds problems.
    Check,
    /// Create the database if needed and apply migrations, then exit.
    Migrate,
    /// Merchant administration.
    Merchant {
        #[command(subcommand)]
        command: MerchantCommand,
    },
    /// Encryption keys for values at rest (provider credentials).
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-seal every stored credential under COWRY_ENCRYPTION_KEY (older keys listed in
    /// COWRY_OLD_ENCRYPTION_KEYS open what they sealed); afterwards the old keys can be dropped.
    Rotate,
}

#[derive(Subcommand)]
enum MerchantCommand {
    /// Create a merchant (test mode unless --live) and print its API key (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// A live merchant: `sk_live_` keys, live provider accounts only.
        #[arg(long)]
        live: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("cowry: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&config);
    match run(cli.command, config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("cowry: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command, config: Config) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Serve => {
            let pool = db::prepare(&config).await?;
            let app = Application::build(AppState::new(pool, config)).await?;
            tracing::info!(addr = %app.local_addr(), "cowry listening");
            let shutdown = Shutdown::default();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            app.run(shutdown).await?;
            tracing::info!("cowry stopped");
        }
        Command::Worker => {
            let pool = db::prepare(&config).await?;
            tracing::info!("cowry worker running");
            let shutdown = Shutdown::default();
            tokio::spawn(stop_on_signal(shutdown.clone()));
            cowry::run_worker(AppState::new(pool, config), shutdown).await;
            tracing::info!("cowry worker stopped");
        }
        Command::Check => {
            let pool = db::prepare(&config).await?;
            let report = store::check::run(&pool).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if report.problems > 0 {
                return Err(format!("{} problem(s) found", report.problems).into());
            }
        }
        Command::Migrate => {
            db::prepare(&config).await?;
            println!("migrations applied");
        }
        Command::Keys {
            command: KeysCommand::Rotate,
        } => {
            let key = config
                .encryption_key
                .as_ref()
                .ok_or("COWRY_ENCRYPTION_KEY must be set to the new key")?;
            let pool = db::prepare(&config).await?;
            let report = cowry::keys::rotate(&pool, key).await?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.undecryptable.is_empty() {
                return Err(format!(
                    "{} value(s) open with none of the configured keys; add the key that sealed them to COWRY_OLD_ENCRYPTION_KEYS",
                    report.undecryptable.len()
                )
                .into());
            }
        }
        Command::Merchant {
            command: MerchantCommand::Create { name, live },
        } => {
            let name = name.trim();
            if name.is_empty() || name.len() > 200 {
                return Err("--name must be 1 to 200 characters".into());
            }
            let pool = db::prepare(&config).await?;
            let mut conn = pool.acquire().await?;
            let mode = if live { "live" } else { "test" };
            let merchant = store::merchants::create_in_mode(&mut conn, name, None, mode).await?;
            println!(
                "merchant  {}\nname      {}\napi key   {}  ({mode} mode; shown once)",
                merchant.id, merchant.name, merchant.api_key
            );
        }
    }
    Ok(())
}

/// SIGTERM or Ctrl-C: stop accepting, finish in-flight requests, exit.
async fn stop_on_signal(shutdown: Shutdown) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing a SIGTERM handler");
        tokio::select! { _ = ctrl_c => {}, _ = term.recv() => {} }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing in-flight requests");
    shutdown.trigger();
}
