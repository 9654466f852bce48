//! Membership: each node's latest heartbeat, one row per node.

use scheduler_core::{
    BoxFuture, Error, JobNotice, MembershipStore, NodeHeartbeat, Result, StoreErrorKind, Timestamp,
};

use super::{PostgresStore, failure};
use crate::codec::{millis, timestamp_from_millis};

impl MembershipStore for PostgresStore {
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>> {
        let node = node.to_owned();
        Box::pin(async move {
            const WHAT: &str = "recording a heartbeat";
            let client = self.client(WHAT).await?;
            let statement = client
                .prepare_cached(
                    "INSERT INTO scheduler_nodes (node_id, last_heartbeat) VALUES ($1, $2) \
                     ON CONFLICT (node_id) DO UPDATE SET last_heartbeat = excluded.last_heartbeat",
                )
                .await
                .map_err(failure::while_(WHAT))?;
            client
                .execute(&statement, &[&node, &millis(at)])
                .await
                .map_err(failure::while_(WHAT))?;
            Ok(())
        })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>> {
        Box::pin(async move {
            const WHAT: &str = "reading the nodes";
            let client = self.client(WHAT).await?;
            let rows = client
                .query(
                    "SELECT node_id, last_heartbeat FROM scheduler_nodes ORDER BY node_id",
                    &[],
                )
                .await
                .map_err(failure::while_(WHAT))?;
            rows.iter()
                .map(|row| {
                    let last_heartbeat = timestamp_from_millis(row.get(1))
                        .map_err(|reason| Error::store(StoreErrorKind::Corrupt, WHAT, reason))?;
                    Ok(NodeHeartbeat {
                        node_id: row.get(0),
                        last_heartbeat,
                    })
                })
                .collect()
        })
    }

    fn job_changes(&self) -> Option<tokio::sync::mpsc::UnboundedReceiver<JobNotice>> {
        Some(self.listen_for_job_changes())
    }

    /// Always: several nodes may share one database.
    fn is_shared(&self) -> bool {
        true
    }
}
