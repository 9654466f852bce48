//! The control task: claim passes ([`claims`]), changes to existing jobs ([`changes`]) and job
//! creations ([`creations`]), run side by side so that none waits for another.
//!
//! Every execution claimed or triggered here is counted into the backlog before it goes to the
//! dispatcher, and claims take at most the room left under `max_backlog`.

mod changes;
mod claims;
mod creations;

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use crate::clock::Clock;
use crate::domain::{Execution, Job, JobId, JobSpec};
use crate::engine::dispatch::DispatchMsg;
use crate::engine::lease::Lease;
use crate::engine::misfire::MisfireCut;
use crate::engine::outage::Outage;
use crate::engine::{EngineConfig, VersionCheck};
use crate::error::Result;
use crate::metrics::Metrics;
use crate::store::{ClaimedTick, Store};

use changes::Change;
use claims::PassUnderWay;
use creations::{CREATE_BATCHES_IN_FLIGHT, Creation};

/// A request to the control task, with where to send the answer.
pub(crate) enum Command {
    Create {
        spec: JobSpec,
        reply: oneshot::Sender<Result<Job>>,
    },
    /// Jobs created together, all or nothing, in one store write.
    CreateBatch {
        specs: Vec<JobSpec>,
        reply: oneshot::Sender<Result<Vec<Job>>>,
    },
    /// A change to an existing job, applied one at a time.
    Change(JobChange),
    /// Answered at once: the loop is alive and taking commands.
    Ping {
        reply: oneshot::Sender<Result<()>>,
    },
    Stop,
}

/// A change to an existing job, with where to send the answer.
#[expect(
    clippy::large_enum_variant,
    reason = "changes only pass through the bounded command queue; a box would cost an allocation each"
)]
pub(crate) enum JobChange {
    Update {
        id: JobId,
        spec: JobSpec,
        check: VersionCheck,
        reply: oneshot::Sender<Result<Job>>,
    },
    SetPaused {
        id: JobId,
        paused: bool,
        check: VersionCheck,
        reply: oneshot::Sender<Result<Job>>,
    },
    Delete {
        id: JobId,
        check: VersionCheck,
        reply: oneshot::Sender<Result<bool>>,
    },
    Trigger {
        id: JobId,
        check: VersionCheck,
        reply: oneshot::Sender<Result<Execution>>,
    },
    /// Jobs changed through another node (or this one): read them again and tell the
    /// dispatcher; with `resync`, also every job it holds executions of.
    Refresh { ids: Vec<JobId>, resync: bool },
}

pub(crate) struct Control {
    shared: Arc<Shared>,
    inbox: Inbox,
    /// Claim passes deferred in a row (0 when the last pass claimed everything due): the
    /// warning is logged when this leaves 0, not on every deferred pass.
    deferred_passes: u64,
    /// Whether the next claim pass is a periodic one on the grid (which waits for a burst to
    /// end), rather than the first one or the retry of a deferred one (which do not wait).
    next_on_grid: bool,
    /// Whether the dispatcher has executions waiting for an attempt slot: `true` during a burst.
    busy: watch::Receiver<bool>,
    /// When the next periodic claim pass is due.
    next_claim: cron_expr::Timestamp,
    /// A periodic pass that fell due while the dispatcher was busy waits for it until this
    /// instant (see [`claims`]).
    quiet_deadline: Option<cron_expr::Timestamp>,
    /// The periodic claim pass under way, if any.
    pass: Option<PassUnderWay>,
    /// The change under way, if any: changes are applied one at a time.
    change: Option<Change>,
    /// The creation batches under way, at most [`CREATE_BATCHES_IN_FLIGHT`].
    creating: JoinSet<()>,
}

/// What the control task shares with the claim passes, changes and creation batches it runs
/// concurrently with its commands.
struct Shared {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    config: EngineConfig,
    /// Where a claim's missed ticks end.
    misfire: MisfireCut,
    /// A node whose lease lapsed claims nothing.
    lease: Arc<Lease>,
    /// Where claims go while the store cannot be written.
    outage: Arc<Outage>,
    dispatch: mpsc::UnboundedSender<DispatchMsg>,
    /// Periodic claim passes started so far; the number of the one under way, if any.
    passes_started: AtomicU64,
}

/// The command queue, with the one command a creation batch took from it and left to handle.
struct Inbox {
    commands: mpsc::Receiver<Command>,
    /// Taken from the queue while gathering a creation batch; handled before the next one.
    pending: Option<Command>,
}

impl Inbox {
    /// The next command to handle; `None` once every handle is gone.
    async fn next(&mut self) -> Option<Command> {
        match self.pending.take() {
            Some(command) => Some(command),
            None => self.commands.recv().await,
        }
    }
}

/// What ended a turn of the control loop.
enum Flow {
    Continue,
    Stop,
}

/// What the control task works with besides its channels.
pub(crate) struct Parts {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) config: EngineConfig,
    pub(crate) misfire: MisfireCut,
    pub(crate) lease: Arc<Lease>,
    pub(crate) outage: Arc<Outage>,
}

impl Control {
    pub(crate) fn new(
        Parts {
            store,
            clock,
            metrics,
            config,
            misfire,
            lease,
            outage,
        }: Parts,
        commands: mpsc::Receiver<Command>,
        dispatch: mpsc::UnboundedSender<DispatchMsg>,
        busy: watch::Receiver<bool>,
    ) -> Control {
        let next_claim = clock.now();
        Control {
            shared: Arc::new(Shared {
                store,
                clock,
                metrics,
                config,
                misfire,
                lease,
                outage,
                dispatch,
                passes_started: AtomicU64::new(0),
            }),
            inbox: Inbox {
                commands,
                pending: None,
            },
            deferred_passes: 0,
            next_on_grid: false,
            busy,
            next_claim,
            quiet_deadline: None,
            pass: None,
            change: None,
            creating: JoinSet::new(),
        }
    }

    pub(crate) async fn run(mut self) {
        // A second receiver to wait on: what `wait_for` returns borrows the one it waits on.
        let mut busy = self.busy.clone();
        loop {
            let wake = self.quiet_deadline.unwrap_or(self.next_claim);
            let idle = self.pass.is_none();
            let waiting_for_quiet = self.quiet_deadline.is_some() && idle;
            // A command is taken only when it can be handled at once: no change is under way
            // (they go one at a time), and a creation would find room for its batch (the command
            // a creation batch left in the inbox is never a creation).
            let take_command = self.change.is_none()
                && (self.creating.len() < CREATE_BATCHES_IN_FLIGHT || self.inbox.pending.is_some());
            let clock = Arc::clone(&self.shared.clock);
            tokio::select! {
                biased;
                finished = claims::finish(&mut self.pass), if !idle => {
                    self.pass = None;
                    self.next_claim = self.pass_finished(finished);
                }
                // A due claim pass goes before commands: a flood of them must not hold up ticks.
                () = clock.sleep_until(wake), if idle => self.claim_due(wake),
                _ = busy.wait_for(|&busy| !busy), if waiting_for_quiet => {
                    self.quiet_deadline = None;
                    self.start_pass(self.shared.clock.now());
                }
                outcome = changes::finish(&mut self.change), if self.change.is_some() => {
                    self.change = None;
                    if let Some(outcome) = outcome {
                        self.count_pass(outcome);
                    }
                }
                command = self.inbox.next(), if take_command => {
                    if let Flow::Stop = self.handle(command) {
                        break;
                    }
                }
                Some(done) = self.creating.join_next(), if !self.creating.is_empty() => {
                    creations::log_if_failed(done);
                }
            }
        }
        // The claim under way and every creation's ticks reach the dispatcher before the
        // engine's shutdown does. (No change is under way: commands, the stop among them, are
        // taken only between changes.)
        if self.pass.is_some() {
            let finished = claims::finish(&mut self.pass).await;
            self.pass_finished(finished);
        }
        while let Some(done) = self.creating.join_next().await {
            creations::log_if_failed(done);
        }
    }

    /// Handles one command: answers a ping, starts a creation batch or a change, or stops.
    fn handle(&mut self, command: Option<Command>) -> Flow {
        match command {
            None | Some(Command::Stop) => return Flow::Stop,
            Some(Command::Ping { reply }) => {
                let _ = reply.send(Ok(()));
            }
            Some(Command::Create { spec, reply }) => {
                self.start_creations(Creation { spec, reply });
            }
            Some(Command::CreateBatch { specs, reply }) => {
                self.creating
                    .spawn(Arc::clone(&self.shared).create_batch(specs, reply));
            }
            Some(Command::Change(change)) => {
                self.change = Some(Box::pin(Arc::clone(&self.shared).change(change)));
            }
        }
        Flow::Continue
    }
}

impl Shared {
    /// Gives `ticks`, already counted into the backlog, to the dispatcher.
    fn hand_over(&self, ticks: Vec<ClaimedTick>) {
        let count = ticks.len();
        if count > 0 && self.dispatch.send(DispatchMsg::Ticks(ticks)).is_err() {
            // The dispatcher is gone (the engine is being torn down): nobody will release them.
            self.metrics.release(count);
        }
    }

    /// How many more executions the backlog has room for.
    fn backlog_room(&self) -> usize {
        let held = usize::try_from(self.metrics.backlog()).unwrap_or(usize::MAX);
        self.config.max_backlog.saturating_sub(held)
    }
}
