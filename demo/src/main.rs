//! Run with: `scripts/demo serve` (starts a private Redis and this service on port 8080) or
//! `scripts/demo load` (the load report); or, against a Redis of your own,
//! `cargo run -p rediscache-demo --release -- serve --redis redis://127.0.0.1:6379/0`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use rediscache_demo::load::{self, LoadConfig};
use rediscache_demo::serve::{self, WorkerConfig};

/// The rediscache demo: one slow function served directly and through the cache.
#[derive(Parser)]
#[command(version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves /direct/{value}, /cached/{value}, /local/{value}, /stats, /metrics and the page
    /// at /.
    Serve {
        #[command(flatten)]
        service: Service,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1")]
        host: IpAddr,
        /// Port to listen on.
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Worker processes sharing the port (SO_REUSEPORT) and the Redis.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=64))]
        workers: u32,
        /// Set by the parent process for each worker it starts.
        #[arg(long, hide = true)]
        worker_id: Option<u32>,
    },
    /// Drives /direct, /cached (before and after POST /invalidate) and /local over HTTP and
    /// reports requests/s, latency and executions
    /// (a table on stdout, report.json and latency.svg in --out).
    Load {
        #[command(flatten)]
        service: Service,
        /// A running service to drive (e.g. http://127.0.0.1:8080); without it, one is started
        /// in this process on a free port.
        #[arg(long)]
        target: Option<String>,
        /// Seconds to drive each route.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Concurrent clients.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Distinct values the clients cycle over.
        #[arg(long, default_value_t = 20)]
        values: usize,
        /// Where report.json and latency.svg go.
        #[arg(long, default_value = "target/load-report")]
        out: PathBuf,
    },
}

/// How the service is set up.
#[derive(Args, Clone)]
struct Service {
    /// The Redis every worker shares.
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379/0")]
    redis: String,
    /// Key prefix for the cache and the execution counts.
    #[arg(long, default_value = "demo")]
    prefix: String,
    /// The slow function's remote-call part, in milliseconds.
    #[arg(long, default_value_t = 500)]
    io_ms: u64,
    /// The slow function's heavy part: rounds of SHA-256.
    #[arg(long, default_value_t = 100_000)]
    rounds: u32,
}

impl Service {
    fn worker(&self, host: IpAddr, port: u16, worker: u32) -> WorkerConfig {
        WorkerConfig {
            host,
            port,
            redis_url: self.redis.clone(),
            prefix: self.prefix.clone(),
            io: Duration::from_millis(self.io_ms),
            rounds: self.rounds.max(1),
            worker,
            sample_every: Duration::from_secs(2),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .with_writer(std::io::stderr)
        .init();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rediscache-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), rediscache_demo::Error> {
    match cli.command {
        Command::Serve {
            service,
            host,
            port,
            workers,
            worker_id,
        } => {
            let config = service.worker(host, port, worker_id.unwrap_or(0));
            if workers > 1 && worker_id.is_none() {
                // Each child gets this command line, minus --workers, plus its --worker-id.
                let args = child_args(&service, host, port);
                return serve::run_workers(&config, workers, &args).await;
            }
            let worker = serve::start_worker(&config).await?;
            println!(
                "demo: worker {} on http://{} (Redis {}); Ctrl-C stops it",
                config.worker,
                worker.addr,
                rediscache_demo::redacted(&config.redis_url)
            );
            let served = tokio::select! {
                served = worker.wait() => served,
                signal = serve::shutdown_signal() => {
                    eprintln!("demo: worker {} stopping ({signal})", config.worker);
                    Ok(())
                }
            };
            // What this worker counted in its last moments reaches Redis, and the values it
            // was computing are stored.
            if let Err(e) = rediscache_demo::work::demo_cache().close().await {
                eprintln!("demo: worker {}: cache not closed: {e}", config.worker);
            }
            served
        }
        Command::Load {
            service,
            target,
            seconds,
            concurrency,
            values,
            out,
        } => {
            // Without a target, a worker of this process on a free port, kept until the end.
            let (target, _local) = match target {
                Some(target) => (target, None),
                None => {
                    let config = service.worker(IpAddr::from([127, 0, 0, 1]), 0, 0);
                    let worker = serve::start_worker(&config).await?;
                    (format!("http://{}", worker.addr), Some(worker))
                }
            };
            let config = LoadConfig {
                target,
                phase: Duration::from_secs(seconds),
                concurrency,
                values,
                refresh: Duration::from_secs(2),
                out,
            };
            eprintln!(
                "load: {concurrency} clients, {values} values, {seconds} s on /direct, then {seconds} s on /cached (twice) and /local"
            );
            let report = load::run(&config).await?;
            println!("{report}");
            println!(
                "wrote {} and {}",
                config.out.join("report.json").display(),
                config.out.join("latency.svg").display()
            );
            Ok(())
        }
    }
}

fn child_args(service: &Service, host: IpAddr, port: u16) -> Vec<String> {
    vec![
        "serve".into(),
        "--redis".into(),
        service.redis.clone(),
        "--prefix".into(),
        service.prefix.clone(),
        "--io-ms".into(),
        service.io_ms.to_string(),
        "--rounds".into(),
        service.rounds.to_string(),
        "--host".into(),
        host.to_string(),
        "--port".into(),
        port.to_string(),
    ]
}
