//! The scheduler processes of a run in binary mode: one `scheduler serve`, or with
//! `--postgres URL --nodes N` several on one PostgreSQL schema, each with its own `--node-id`
//! and listen port. Their usage is added up; each node's own view (its claims among them) is
//! read from its API.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::procstat::{self, Usage};
use crate::target::BinaryScheduler;

/// How to start the nodes of a run.
pub(crate) struct NodesConfig<'a> {
    /// The scheduler binary.
    pub(crate) binary: &'a Path,
    /// `--db`: a SQLite file, or a PostgreSQL URL the nodes share.
    pub(crate) db: &'a OsStr,
    /// Extra arguments for every node's `scheduler serve`.
    pub(crate) extra_args: &'a [String],
    /// Where each node's log goes (see [`log_path`]).
    pub(crate) log_directory: &'a Path,
    /// How many nodes; above one, each gets `--node-id node-<n>`.
    pub(crate) count: usize,
    /// How long each node may take to listen.
    pub(crate) time_limit: Duration,
}

/// The running nodes, in start order.
pub(crate) struct BinaryNodes {
    nodes: Vec<BinaryScheduler>,
}

impl BinaryNodes {
    /// Starts the nodes one after another (the first applies the schema's migrations), each
    /// waiting until it listens; stops those already started when one fails.
    pub(crate) fn start(config: &NodesConfig<'_>) -> anyhow::Result<BinaryNodes> {
        let mut nodes = Vec::with_capacity(config.count);
        for index in 0..config.count {
            let mut args = config.extra_args.to_vec();
            if let Some(id) = node_id(index, config.count) {
                args.extend(["--node-id".to_owned(), id]);
            }
            // An early return drops the nodes already started, which kills them.
            nodes.push(BinaryScheduler::start(
                config.binary,
                config.db,
                &args,
                &log_path(config.log_directory, index, config.count),
                config.time_limit,
            )?);
        }
        Ok(BinaryNodes { nodes })
    }

    /// Every node's REST API, in start order: jobs are registered round robin over them.
    pub(crate) fn apis(&self) -> Vec<SocketAddr> {
        self.nodes.iter().map(|node| node.api).collect()
    }

    /// The first node's REST API, for the API probe.
    pub(crate) fn first_api(&self) -> SocketAddr {
        self.nodes[0].api
    }

    /// The slowest node's start-up (spawn to listening).
    pub(crate) fn start_up(&self) -> Duration {
        self.nodes
            .iter()
            .map(|node| node.start_up)
            .max()
            .unwrap_or_default()
    }

    /// The nodes' usage added up (a node that is gone counts nothing).
    pub(crate) fn usage(&self) -> Usage {
        self.nodes
            .iter()
            .map(|node| node.usage().unwrap_or_default())
            .fold(Usage::default(), add_usage)
    }

    /// CPU seconds by thread name, added up over the nodes.
    pub(crate) fn threads(&self) -> BTreeMap<String, f64> {
        let mut by_name = BTreeMap::new();
        for node in &self.nodes {
            for (name, seconds) in procstat::threads_by_name(Some(node.pid())) {
                *by_name.entry(name).or_insert(0.0) += seconds;
            }
        }
        by_name
    }

    /// Each node's own view (`GET /api/metrics`), in start order; a node that does not answer
    /// within `time_limit` is left out.
    pub(crate) async fn metrics(&self, time_limit: Duration) -> Vec<serde_json::Value> {
        let mut views = Vec::with_capacity(self.nodes.len());
        for node in &self.nodes {
            match tokio::time::timeout(time_limit, fetch_metrics(node.api)).await {
                Ok(Ok(view)) => views.push(view),
                Ok(Err(error)) => eprintln!("harness: GET /api/metrics of {}: {error:#}", node.api),
                Err(_) => eprintln!(
                    "harness: GET /api/metrics of {} took over {time_limit:?}",
                    node.api
                ),
            }
        }
        views
    }

    /// Stops every node at once (see [`BinaryScheduler::stop`]). Returns their usage read just
    /// before the signal, added up, and one exit status: the first that is not 0, or `None`
    /// when a node had to be killed.
    pub(crate) async fn stop(self, grace: Duration) -> anyhow::Result<(Usage, Option<i32>)> {
        let mut stopping = tokio::task::JoinSet::new();
        for node in self.nodes {
            stopping.spawn(node.stop(grace));
        }
        let mut usage = Usage::default();
        let mut exits = Vec::new();
        while let Some(stopped) = stopping.join_next().await {
            let (node_usage, exit) = stopped??;
            usage = add_usage(usage, node_usage);
            exits.push(exit);
        }
        Ok((usage, combined_exit(&exits)))
    }
}

/// The `--node-id` of node `index` of `count`: none for a lone node, which keeps the
/// scheduler's default.
fn node_id(index: usize, count: usize) -> Option<String> {
    (count > 1).then(|| format!("node-{}", index + 1))
}

/// `scheduler.log` for a lone node, `scheduler-node-<n>.log` for each of several.
fn log_path(directory: &Path, index: usize, count: usize) -> PathBuf {
    match node_id(index, count) {
        Some(id) => directory.join(format!("scheduler-{id}.log")),
        None => directory.join("scheduler.log"),
    }
}

/// Two processes' usage as one: CPU and memory added (peaks too, an upper bound of the peak of
/// the sum).
fn add_usage(a: Usage, b: Usage) -> Usage {
    Usage {
        cpu_seconds: a.cpu_seconds + b.cpu_seconds,
        peak_rss_bytes: a.peak_rss_bytes + b.peak_rss_bytes,
        rss_bytes: a.rss_bytes + b.rss_bytes,
        rss_anon_bytes: a.rss_anon_bytes + b.rss_anon_bytes,
        rss_file_bytes: a.rss_file_bytes + b.rss_file_bytes,
    }
}

/// The exit status of several nodes: `None` if one had to be killed, else the first that is
/// not 0, else 0.
fn combined_exit(exits: &[Option<i32>]) -> Option<i32> {
    if exits.iter().any(Option::is_none) {
        return None;
    }
    Some(
        exits
            .iter()
            .flatten()
            .copied()
            .find(|&code| code != 0)
            .unwrap_or(0),
    )
}

/// One node's own view (`GET /api/metrics`).
async fn fetch_metrics(api: SocketAddr) -> anyhow::Result<serde_json::Value> {
    use http_body_util::{BodyExt, Empty};
    let client: hyper_util::client::legacy::Client<_, Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http();
    let response = client
        .get(format!("http://{api}/api/metrics").parse()?)
        .await?;
    let body = response.into_body().collect().await?.to_bytes();
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lone_node_keeps_the_default_id_and_log_name() {
        assert_eq!(node_id(0, 1), None);
        assert_eq!(
            log_path(Path::new("/w"), 0, 1),
            Path::new("/w/scheduler.log")
        );
        assert_eq!(node_id(2, 3).as_deref(), Some("node-3"));
        assert_eq!(
            log_path(Path::new("/w"), 2, 3),
            Path::new("/w/scheduler-node-3.log")
        );
    }

    #[test]
    fn one_killed_node_makes_the_exit_status_unknown() {
        assert_eq!(combined_exit(&[Some(0)]), Some(0));
        assert_eq!(combined_exit(&[Some(0), Some(2), Some(1)]), Some(2));
        assert_eq!(combined_exit(&[Some(0), None]), None);
    }
}
