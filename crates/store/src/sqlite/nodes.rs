//! Membership: each node's latest heartbeat, one row per node (schema version 8).

use scheduler_core::{BoxFuture, MembershipStore, NodeHeartbeat, Result, Timestamp};

use super::{SqliteStore, store_error};
use crate::codec::{millis, timestamp_from_millis};

impl MembershipStore for SqliteStore {
    fn heartbeat(&self, node: &str, at: Timestamp) -> BoxFuture<'_, Result<()>> {
        let node = node.to_owned();
        self.write_background(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO scheduler_nodes (node_id, last_heartbeat) VALUES (?1, ?2) \
                     ON CONFLICT (node_id) DO UPDATE SET last_heartbeat = excluded.last_heartbeat",
                )
                .and_then(|mut statement| statement.execute(rusqlite::params![node, millis(at)]))
                .map_err(store_error("recording a heartbeat"))?;
            Ok(())
        })
    }

    fn nodes(&self) -> BoxFuture<'_, Result<Vec<NodeHeartbeat>>> {
        self.read("reading the nodes", |connection| {
            let mut statement = connection.prepare_cached(
                "SELECT node_id, last_heartbeat FROM scheduler_nodes ORDER BY node_id",
            )?;
            let rows = statement.query_map([], |row| {
                let last_heartbeat = timestamp_from_millis(row.get(1)?).map_err(|reason| {
                    rusqlite::Error::FromSqlConversionFailure(
                        1,
                        rusqlite::types::Type::Integer,
                        reason.into(),
                    )
                })?;
                Ok(NodeHeartbeat {
                    node_id: row.get(0)?,
                    last_heartbeat,
                })
            })?;
            rows.collect()
        })
    }
}
