//! Running the service: one worker in this process, or several worker processes sharing one
//! port (`SO_REUSEPORT`: the kernel spreads connections over them) and one Redis, like the
//! Python demo's workers behind a load balancer.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use rediscache::{Local, RedisCache};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::JoinHandle;

use crate::Error;
use crate::app::{self, Demo};
use crate::history::History;
use crate::work::{self, Work};

/// Where a worker listens and what it serves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Address to listen on.
    pub host: IpAddr,
    /// Port to listen on (0: any free port, for one worker only).
    pub port: u16,
    /// The Redis every worker shares.
    pub redis_url: String,
    /// The key prefix of the cache and of the execution counts.
    pub prefix: String,
    /// The slow function's waiting part (a remote call).
    pub io: Duration,
    /// The slow function's heavy part: rounds of SHA-256.
    pub rounds: u32,
    /// This worker's number.
    pub worker: u32,
    /// How often the page's history samples the counters.
    pub sample_every: Duration,
}

/// A worker serving in this process.
#[derive(Debug)]
pub struct Worker {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<std::io::Result<()>>,
    sampler: JoinHandle<()>,
}

impl Worker {
    /// Serves until the task ends (an I/O error) or the runtime stops.
    pub async fn wait(mut self) -> Result<(), Error> {
        let served = (&mut self.task).await;
        self.sampler.abort();
        match served {
            Ok(result) => result.map_err(Error::Serve),
            Err(e) => Err(Error::Serve(std::io::Error::other(e))),
        }
    }

    /// Stops serving.
    pub fn stop(&self) {
        self.task.abort();
        self.sampler.abort();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Configures the process's cache and metrics and returns the routes' state. A process
/// configures its cache once: a second call is [`Error::AlreadyServing`].
pub fn configure(config: &WorkerConfig) -> Result<Arc<Demo>, Error> {
    let builder = RedisCache::builder()
        .url(&config.redis_url)
        .prefix(&config.prefix);
    let local = builder.clone().local(Local::new()).build()?;
    if !work::install_cache(builder.build()?, local) {
        return Err(Error::AlreadyServing);
    }
    let metrics = app::install_metrics();
    let work = Work::new(
        config.io,
        config.rounds,
        config.worker,
        &config.redis_url,
        &config.prefix,
    );
    Ok(Arc::new(Demo::new(
        work,
        Arc::new(History::new(300)),
        metrics,
    )))
}

/// [`configure`]s this process, binds the port and serves the routes in the background, with
/// the page's history sampled every `config.sample_every`.
///
/// ```no_run
/// use std::time::Duration;
/// use rediscache_demo::serve::{start_worker, WorkerConfig};
///
/// # async fn demo() -> Result<(), rediscache_demo::Error> {
/// let worker = start_worker(&WorkerConfig {
///     host: [127, 0, 0, 1].into(),
///     port: 0, // any free port
///     redis_url: "redis://127.0.0.1:6379/0".into(),
///     prefix: "demo".into(),
///     io: Duration::from_millis(500),
///     rounds: 100_000,
///     worker: 0,
///     sample_every: Duration::from_secs(2),
/// })
/// .await?;
/// println!("open http://{}/", worker.addr);
/// worker.wait().await
/// # }
/// ```
pub async fn start_worker(config: &WorkerConfig) -> Result<Worker, Error> {
    let demo = configure(config)?;
    let sampler = demo
        .history()
        .spawn_sampler(work::demo_cache(), config.sample_every);
    let listener = bind(SocketAddr::new(config.host, config.port))?;
    let addr = listener.local_addr().map_err(Error::Serve)?;
    let router = app::router(demo);
    let task = tokio::spawn(async move { axum::serve(listener, router).await });
    tracing::info!(worker = config.worker, "demo: serving on http://{addr}");
    Ok(Worker {
        addr,
        task,
        sampler,
    })
}

/// Listens on `addr`, sharing the port with the other workers.
fn bind(addr: SocketAddr) -> Result<TcpListener, Error> {
    let bind = || -> std::io::Result<TcpListener> {
        let socket = match addr {
            SocketAddr::V4(_) => TcpSocket::new_v4()?,
            SocketAddr::V6(_) => TcpSocket::new_v6()?,
        };
        socket.set_reuseaddr(true)?;
        socket.set_reuseport(true)?;
        socket.bind(addr)?;
        socket.listen(1024)
    };
    bind().map_err(|source| Error::Bind { addr, source })
}

/// Starts `workers` processes of this program, each serving `config.port`, and waits until one
/// of them exits or Ctrl-C; then stops them all. `args` are the command line a child gets (the
/// serve options), to which `--worker-id N` is added.
pub async fn run_workers(
    config: &WorkerConfig,
    workers: u32,
    args: &[String],
) -> Result<(), Error> {
    if config.port == 0 {
        return Err(Error::Usage(
            "--workers above 1 needs a fixed --port".into(),
        ));
    }
    let exe = std::env::current_exe().map_err(Error::Serve)?;
    let mut children = Vec::new();
    for id in 0..workers {
        let child = tokio::process::Command::new(&exe)
            .args(args)
            .args(["--worker-id", &id.to_string()])
            .kill_on_drop(true)
            .spawn()
            .map_err(Error::Serve)?;
        children.push(child);
    }
    println!(
        "demo: {workers} workers on http://{}:{} sharing {}; Ctrl-C stops them",
        config.host,
        config.port,
        crate::redacted(&config.redis_url)
    );
    let first_exit = first_exit(&mut children);
    tokio::select! {
        status = first_exit => eprintln!("demo: a worker exited ({status}); stopping the others"),
        signal = shutdown_signal() => eprintln!("demo: stopping the workers ({signal})"),
    }
    // SIGTERM first, so each worker closes its cache; SIGKILL for one that does not stop.
    for child in &children {
        if let Some(pid) = child.id() {
            let _ = tokio::process::Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status()
                .await;
        }
    }
    for child in &mut children {
        if tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .is_err()
        {
            let _ = child.kill().await;
        }
    }
    Ok(())
}

/// Resolves at Ctrl-C (SIGINT) or SIGTERM (a deploy, `kill`, an orchestrator); names which.
pub async fn shutdown_signal() -> &'static str {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            // Without a SIGTERM handler, only Ctrl-C stops the worker.
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "Ctrl-C",
        () = term => "SIGTERM",
    }
}

/// Waits until any child exits; describes how.
async fn first_exit(children: &mut [tokio::process::Child]) -> String {
    let waits = children.iter_mut().map(|c| Box::pin(c.wait()));
    match futures_util::future::select_all(waits).await {
        (Ok(status), ..) => status.to_string(),
        (Err(e), ..) => e.to_string(),
    }
}
