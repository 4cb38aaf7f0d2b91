//! The rediscache demo: a web service that serves one slow function directly, through the cache
//! and through the cache with its local tier, shows the cache's counters live, exports Prometheus metrics, and a load report
//! that measures what the cache buys.
//!
//! Run with: `scripts/demo serve` (starts a private Redis), then open <http://127.0.0.1:8080/>;
//! `scripts/demo load` for the load report.
//!
//! - [`app`]: the routes (`/direct/{value}`, `/cached/{value}`, `/local/{value}`, `/stats`,
//!   `/history`, `/metrics`, `/`);
//! - [`work`]: the slow function and its cached twins;
//! - [`serve`]: one worker in this process, or several processes sharing a port and a Redis;
//! - [`history`]: the counters over the last minutes, for the page's chart;
//! - [`load`]: the load report (table, JSON, SVG chart).

pub mod app;
pub mod history;
pub mod load;
mod page;
pub mod serve;
pub mod work;

use std::path::PathBuf;

/// What can stop the demo.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The cache's configuration was refused.
    #[error(transparent)]
    Config(#[from] rediscache::Error),
    /// A command-line value that cannot work.
    #[error("{0}")]
    Usage(String),
    /// The port could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// Where.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Serving failed.
    #[error("serving failed: {0}")]
    Serve(std::io::Error),
    /// A process configures its cache once, so it runs one worker.
    #[error("this process already runs a worker")]
    AlreadyServing,
    /// The load report could not drive the service.
    #[error("load report: {0}")]
    Load(String),
    /// A report file could not be written.
    #[error("cannot write {0}: {1}")]
    Write(PathBuf, std::io::Error),
    /// The chart could not be drawn.
    #[error("cannot draw {0}: {1}")]
    Chart(PathBuf, String),
}

/// `url` without its credentials, for messages.
pub fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            format!("{}://***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn redacted_hides_credentials_only() {
        assert_eq!(
            super::redacted("redis://:secret@127.0.0.1:6379/0"),
            "redis://***@127.0.0.1:6379/0"
        );
        assert_eq!(
            super::redacted("redis://127.0.0.1:6379/0"),
            "redis://127.0.0.1:6379/0"
        );
    }
}
