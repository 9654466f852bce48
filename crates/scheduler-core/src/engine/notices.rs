//! The job-change task: notices of jobs changed through any node, from the store's feed
//! ([`MembershipStore::job_changes`](crate::MembershipStore::job_changes)) and from the
//! membership task (a resync after this node's lease lapsed), handed to the control task in
//! batches as [`JobChange::Refresh`] commands.

use tokio::sync::mpsc;

use crate::domain::JobId;
use crate::engine::control::{Command, JobChange};
use crate::store::JobNotice;

/// The most job ids one refresh command carries.
const REFRESH_BATCH: usize = 1_024;

/// Forwards notices from `feed` and `local` until both end or the control task is gone.
pub(super) async fn run(
    mut feed: mpsc::UnboundedReceiver<JobNotice>,
    mut local: mpsc::UnboundedReceiver<JobNotice>,
    commands: mpsc::Sender<Command>,
) {
    let mut feed_open = true;
    let mut local_open = true;
    while feed_open || local_open {
        let first = tokio::select! {
            notice = feed.recv(), if feed_open => match notice {
                Some(notice) => notice,
                None => {
                    feed_open = false;
                    continue;
                }
            },
            notice = local.recv(), if local_open => match notice {
                Some(notice) => notice,
                None => {
                    local_open = false;
                    continue;
                }
            },
        };
        let mut ids: Vec<JobId> = Vec::new();
        let mut resync = false;
        let mut take = |notice| match notice {
            JobNotice::Changed(id) => ids.push(id),
            JobNotice::Resync => resync = true,
        };
        take(first);
        // What else has arrived goes in the same command.
        for _ in 1..REFRESH_BATCH {
            match feed.try_recv().or_else(|_| local.try_recv()) {
                Ok(notice) => take(notice),
                Err(_) => break,
            }
        }
        let refresh = Command::Change(JobChange::Refresh { ids, resync });
        if commands.send(refresh).await.is_err() {
            return;
        }
    }
}
