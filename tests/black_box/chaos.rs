//! Three `scheduler serve` nodes on one PostgreSQL schema while, for a minute, one of them is
//! killed (SIGKILL) every ten seconds, and a job is paused and another deleted, each through a
//! node other than the one holding its next ticks. Most killed nodes are restarted at once under
//! the same node id (they recover their own work); two stay down for [`DEAD_FOR`], longer than
//! the nodes' lease, so the live nodes take their work over first.
//!
//! Afterwards, over a window of ticks: every tick of every job is recorded exactly once and in a
//! final state, every success was delivered, only at-least-once executions that a kill left
//! unfinished are delivered twice, at-most-once ones never are, and no tick of the paused or
//! deleted job later than a second after the change is delivered by any node. The findings are
//! gathered, printed with a summary, and asserted together at the end, so that one run tells
//! every property that failed and by how much.
//!
//! It skips, saying so, when `SCHEDULER_TEST_POSTGRES_URL` is unset (as `postgres.rs`), and
//! takes seventy seconds or so (at most about a hundred); nextest runs it alone
//! (`.config/nextest.toml`, group `heavy`). `CHAOS_SEED` repeats a run's kill order and choices.

mod checks;

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use self::checks::{Findings, Run, Sent};
use crate::postgres::{Connection, Schema};
use crate::support::{LoadSink, Server, poll_until, wait_until};

/// The nodes' ids, in the order of the cluster's slots.
const NODE_IDS: [&str; 3] = ["node-a", "node-b", "node-c"];
/// Every-second jobs: a thousand ticks a second; even ones at-least-once, odd ones at-most-once.
const JOBS: usize = 1_000;
/// How long the chaos lasts; a node is killed every [`KILL_EVERY`] within it (five kills), so
/// that the last kill's aftermath is seen too.
const CHAOS: Duration = Duration::from_secs(60);
const KILL_EVERY: Duration = Duration::from_secs(10);
/// The kills (counting from 1) after which the node stays down for [`DEAD_FOR`].
const KILLS_THAT_STAY_DOWN: [u32; 2] = [1, 3];
/// How long those nodes stay down: longer than [`LEASE`] plus a heartbeat interval, so that
/// their work is taken over, and shorter than [`KILL_EVERY`].
const DEAD_FOR: Duration = Duration::from_secs(9);
/// The nodes' `--lease` and `--heartbeat-interval`, shorter than the defaults (10 s and 3 s) so
/// that a takeover fits between two kills.
const LEASE: &str = "6s";
const HEARTBEAT_INTERVAL: &str = "2s";
/// Where in a second a kill lands, at random within these milliseconds: in the burst of the
/// second's ticks, while attempts are in flight and their results wait for the writer's linger
/// (100 ms), so that a kill leaves sent but unrecorded executions behind, not only claimed ones.
const KILL_PHASE_MS: std::ops::Range<i64> = 0..150;
/// When, from the chaos's start, a job is paused and another deleted: between kills, and well
/// inside the window, so that ticks after the change are checked for long.
const PAUSE_AT: Duration = Duration::from_secs(15);
const DELETE_AT: Duration = Duration::from_secs(35);
/// Where in a second a change is made. Claim passes run at the half second and claim up to the
/// look-ahead (2 s) ahead, so a change in the second half of a second is the one whose
/// claimed-ahead ticks include one more than a second after it: the tick that only a change
/// reaching the other nodes at once keeps from firing.
const CHANGE_PHASE_MS: i64 = 750;
/// The window starts this long after the chaos: every job was created before it, so its ticks
/// from a second after the start exist, with a second to spare for rounding to whole seconds.
const WINDOW_START_MARGIN_MS: i64 = 2_000;
/// The window ends this long before the chaos does. A killed node's ticks wait for its restart
/// or for its heartbeat and their leases to expire before another node takes them over; a
/// lease ([`LEASE`], 6 s) runs from a claim made before the tick, so it has expired 6 s after
/// the tick, and a heartbeat interval and more leave time for the takeover. So every tick of
/// the window could be finished before the chaos ended, whichever way the nodes recover. Later
/// ticks still count for the delivery checks.
const WINDOW_END_MARGIN_MS: i64 = 12_000;
/// How long the nodes get after the chaos to finish the window's ticks (take over, recover).
const SETTLE: Duration = Duration::from_secs(15);
/// The sink path the jobs target.
const TARGET_PATH: &str = "/chaos";

#[test]
fn three_nodes_record_every_tick_once_while_nodes_are_killed_and_restarted() {
    let Some(schema) = Schema::create("three_nodes_record_every_tick_once") else {
        return;
    };
    let seed = chaos_seed();
    println!(
        "chaos: seed {seed} (CHAOS_SEED={seed} repeats it), schema {}",
        schema.name
    );
    let mut rng = fastrand::Rng::with_seed(seed);
    let database = schema.connect();
    let store = Store {
        database: &database,
        schema: &schema.name,
    };
    let sink = LoadSink::start();
    let mut cluster = Cluster::start(schema.db());
    wait_until("every node sees the three live", || cluster.all_live());
    let jobs = create_jobs(&cluster, &sink.url(TARGET_PATH));

    let plan = plan(&mut rng, &jobs);
    let started = Instant::now();
    let start_ms = now_ms();
    let (kills, changes) = run_chaos(&mut cluster, &store, &jobs, &plan, started);
    let window = Window::new(start_ms, now_ms());
    let settling = Instant::now();
    let settled = poll_until(SETTLE, || store.unfinished_in(window) == 0);
    let settle_time = settling.elapsed();
    let unsettled = store.unfinished_in(window);
    cluster.stop();

    let run = Run {
        start_ms,
        window,
        jobs: &jobs,
        kills: &kills,
        changes: &changes,
        rows: store.executions_in(window),
        left_final: store.final_states(&kills),
        deliveries: sink
            .deliveries()
            .into_iter()
            .filter(|delivery| delivery.path == TARGET_PATH)
            .map(Sent::new)
            .collect(),
    };
    let mut findings = Findings::default();
    findings.check(settled, || {
        format!("{unsettled} executions of the window still pending or running {settle_time:.1?} after the chaos")
    });
    run.check(&mut findings);
    run.print_summary(seed);
    assert!(
        findings.failures.is_empty(),
        "{} of the chaos test's checks failed (seed {seed}):\n- {}",
        findings.failures.len(),
        findings.failures.join("\n- ")
    );
}

/// `CHAOS_SEED` if set, else one from the clock.
fn chaos_seed() -> u64 {
    match std::env::var("CHAOS_SEED") {
        Ok(seed) => seed.parse().expect("CHAOS_SEED is a number"),
        Err(_) => now_ms().unsigned_abs(),
    }
}

/// Milliseconds since the epoch, as the store keeps instants.
fn now_ms() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// Waits until `instant`: the chaos is paced by the clock (what happens when), never
/// synchronised by it.
fn pace_until(instant: Instant) {
    if let Some(left) = instant.checked_duration_since(Instant::now()) {
        std::thread::sleep(left);
    }
}

/// Waits until the clock is `phase_ms` into a second.
fn pace_to_phase(phase_ms: i64) {
    let wait = (phase_ms - now_ms().rem_euclid(1_000)).rem_euclid(1_000);
    std::thread::sleep(Duration::from_millis(wait as u64));
}

/// The three nodes, in the slots of [`NODE_IDS`]; a slot is empty while its node is down.
struct Cluster {
    db: String,
    servers: Vec<Option<Server>>,
}

impl Cluster {
    fn start(db: String) -> Cluster {
        let servers = NODE_IDS
            .iter()
            .map(|id| Some(start_node(&db, id)))
            .collect();
        Cluster { db, servers }
    }

    /// Whether every node's health lists all three as live.
    fn all_live(&self) -> bool {
        self.servers.iter().flatten().all(|server| {
            let (status, health) = server.request("GET", "/api/health", None);
            let live: Vec<&str> = health["nodes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|node| node["live"] == true)
                .filter_map(|node| node["nodeId"].as_str())
                .collect();
            status == 200 && live == NODE_IDS
        })
    }

    /// Node `id`, if it is up.
    fn node(&self, id: &str) -> Option<&Server> {
        self.servers[slot(id)].as_ref()
    }

    /// Kills node `index` with SIGKILL and runs `while_dead`; unless `stay_down`, starts the
    /// node again under the same id (on a new port) and returns once it listens.
    fn kill(&mut self, index: usize, stay_down: bool, while_dead: impl FnOnce()) {
        if let Some(server) = self.servers[index].take() {
            server.kill();
        }
        while_dead();
        if !stay_down {
            self.restart(index);
        }
    }

    /// Starts node `index` again under its id, if it is down.
    fn restart(&mut self, index: usize) {
        if self.servers[index].is_none() {
            self.servers[index] = Some(start_node(&self.db, NODE_IDS[index]));
        }
    }

    /// Stops every node with SIGTERM and waits for it to exit.
    fn stop(self) {
        for (id, server) in NODE_IDS.iter().zip(self.servers) {
            if let Some(server) = server {
                let status = server.terminate();
                println!("chaos: {id} exited with {status}");
            }
        }
    }
}

fn start_node(db: &str, id: &str) -> Server {
    Server::start(
        Path::new(db),
        &[
            "--node-id",
            id,
            "--lease",
            LEASE,
            "--heartbeat-interval",
            HEARTBEAT_INTERVAL,
        ],
    )
}

/// The slot of node `id`.
fn slot(id: &str) -> usize {
    NODE_IDS
        .iter()
        .position(|node| *node == id)
        .expect("a node of the cluster")
}

/// A job's delivery type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeliveryType {
    AtLeastOnce,
    AtMostOnce,
}

impl DeliveryType {
    fn of_job(index: usize) -> DeliveryType {
        if index.is_multiple_of(2) {
            DeliveryType::AtLeastOnce
        } else {
            DeliveryType::AtMostOnce
        }
    }

    fn api_name(self) -> &'static str {
        match self {
            DeliveryType::AtLeastOnce => "AT_LEAST_ONCE",
            DeliveryType::AtMostOnce => "AT_MOST_ONCE",
        }
    }
}

/// A created job.
struct Job {
    id: String,
    delivery: DeliveryType,
}

/// Creates [`JOBS`] every-second jobs targeting `target`, job `i` through node `i % 3`, one
/// client thread per node.
fn create_jobs(cluster: &Cluster, target: &str) -> Vec<Job> {
    let started = Instant::now();
    let mut created: Vec<(usize, Job)> = std::thread::scope(|scope| {
        let creators: Vec<_> = cluster
            .servers
            .iter()
            .enumerate()
            .map(|(node, server)| {
                let server = server.as_ref().expect("every node is up at the start");
                scope.spawn(move || {
                    (node..JOBS)
                        .step_by(NODE_IDS.len())
                        .map(|index| (index, create_job(server, target, index)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        creators
            .into_iter()
            .flat_map(|creator| creator.join().expect("a creating thread"))
            .collect()
    });
    created.sort_by_key(|(index, _)| *index);
    println!(
        "chaos: created {JOBS} jobs through the three nodes in {:.1?}",
        started.elapsed()
    );
    created.into_iter().map(|(_, job)| job).collect()
}

fn create_job(server: &Server, target: &str, index: usize) -> Job {
    let delivery = DeliveryType::of_job(index);
    let (status, job) = server.request(
        "POST",
        "/api/jobs",
        Some(&json!({"schedule": "* * * * * *", "api": target, "type": delivery.api_name()})),
    );
    assert_eq!(status, 201, "{job}");
    Job {
        id: job["jobId"].as_str().expect("a jobId").to_owned(),
        delivery,
    }
}

/// One step of the chaos.
#[derive(Clone, Copy, Debug)]
enum Event {
    Kill {
        slot: usize,
        phase_ms: i64,
        stay_down: bool,
    },
    Restart {
        slot: usize,
    },
    Change {
        kind: ChangeKind,
        job: usize,
    },
}

/// A change to a job that must reach every node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ChangeKind {
    Pause,
    Delete,
}

impl ChangeKind {
    fn name(self) -> &'static str {
        match self {
            ChangeKind::Pause => "pause",
            ChangeKind::Delete => "delete",
        }
    }
}

/// The chaos's steps and their times from its start: a kill of a random node, at a random
/// phase of [`KILL_PHASE_MS`], every [`KILL_EVERY`] within [`CHAOS`], the pause of a random at-least-once job and the deletion of a random
/// at-most-once one.
fn plan(rng: &mut fastrand::Rng, jobs: &[Job]) -> Vec<(Duration, Event)> {
    let kills = (CHAOS.as_secs() / KILL_EVERY.as_secs()) as u32;
    let mut plan: Vec<(Duration, Event)> = Vec::new();
    for kill in 1..kills {
        let slot = rng.usize(..NODE_IDS.len());
        let phase_ms = rng.i64(KILL_PHASE_MS);
        let stay_down = KILLS_THAT_STAY_DOWN.contains(&kill);
        let at = KILL_EVERY * kill;
        plan.push((
            at,
            Event::Kill {
                slot,
                phase_ms,
                stay_down,
            },
        ));
        if stay_down {
            plan.push((at + DEAD_FOR, Event::Restart { slot }));
        }
    }
    let mut pick = |delivery| {
        let candidates: Vec<usize> = (0..jobs.len())
            .filter(|&index| jobs[index].delivery == delivery)
            .collect();
        candidates[rng.usize(..candidates.len())]
    };
    let pause = pick(DeliveryType::AtLeastOnce);
    let delete = pick(DeliveryType::AtMostOnce);
    let change = |kind, job| Event::Change { kind, job };
    plan.push((PAUSE_AT, change(ChangeKind::Pause, pause)));
    plan.push((DELETE_AT, change(ChangeKind::Delete, delete)));
    plan.sort_by_key(|(at, _)| *at);
    plan
}

/// A kill, and what the killed node had left unfinished in the store (read while it was dead).
struct Kill {
    node: &'static str,
    at_ms: i64,
    /// Execution id to its status (`PENDING` or `RUNNING`).
    left: HashMap<String, String>,
    /// How long the node took to listen again when restarted at once; `None` when it stayed
    /// down for [`DEAD_FOR`].
    restart: Option<Duration>,
}

/// A pause or deletion made through one node.
struct Change {
    kind: ChangeKind,
    job: String,
    through: &'static str,
    /// The node that had claimed the job's newest tick just before.
    claimed_by: String,
    /// When the API answered: the change is stored.
    answered_ms: i64,
}

/// Runs `plan` from `started` for [`CHAOS`].
fn run_chaos(
    cluster: &mut Cluster,
    store: &Store<'_>,
    jobs: &[Job],
    plan: &[(Duration, Event)],
    started: Instant,
) -> (Vec<Kill>, Vec<Change>) {
    let mut kills = Vec::new();
    let mut changes: Vec<Change> = Vec::new();
    for &(at, event) in plan {
        pace_until(started + at);
        match event {
            Event::Kill {
                slot,
                phase_ms,
                stay_down,
            } => {
                pace_to_phase(phase_ms);
                kills.push(kill(cluster, store, slot, stay_down));
            }
            Event::Restart { slot } => {
                cluster.restart(slot);
                println!("chaos: restarted {}", NODE_IDS[slot]);
            }
            Event::Change { kind, job } => {
                // Each change through a node of its own.
                let earlier = changes.last().map(|change| change.through);
                changes.push(change(cluster, store, kind, &jobs[job].id, earlier));
            }
        }
    }
    pace_until(started + CHAOS);
    (kills, changes)
}

fn kill(cluster: &mut Cluster, store: &Store<'_>, slot: usize, stay_down: bool) -> Kill {
    let node = NODE_IDS[slot];
    let started = Instant::now();
    let (mut at_ms, mut left) = (0, HashMap::new());
    cluster.kill(slot, stay_down, || {
        at_ms = now_ms();
        left = store.unfinished_of(node);
    });
    let kill = Kill {
        node,
        at_ms,
        left,
        restart: (!stay_down).then(|| started.elapsed()),
    };
    match kill.restart {
        Some(restart) => println!(
            "chaos: killed {node}, which left {} executions unfinished; listening again after {restart:.1?}",
            kill.left.len()
        ),
        None => println!(
            "chaos: killed {node}, which left {} executions unfinished; down for {DEAD_FOR:?}",
            kill.left.len()
        ),
    }
    kill
}

/// Pauses or deletes job `job` through a node that does not hold its newest claimed tick (nor
/// is `avoid`), at [`CHANGE_PHASE_MS`] into a second.
fn change(
    cluster: &Cluster,
    store: &Store<'_>,
    kind: ChangeKind,
    job: &str,
    avoid: Option<&str>,
) -> Change {
    pace_to_phase(CHANGE_PHASE_MS);
    let claimed_by = store.newest_claimer(job);
    // A live node other than the claimer (and than `avoid`, when one is left besides).
    let live: Vec<&'static str> = NODE_IDS
        .iter()
        .copied()
        .filter(|&id| id != claimed_by && cluster.node(id).is_some())
        .collect();
    let through = live
        .iter()
        .copied()
        .find(|&id| Some(id) != avoid)
        .or_else(|| live.first().copied())
        .expect("two nodes are up at any time");
    let server = cluster.node(through).expect("a live node");
    let (status, body) = match kind {
        ChangeKind::Pause => server.request("POST", &format!("/api/jobs/{job}/pause"), None),
        ChangeKind::Delete => server.request("DELETE", &format!("/api/jobs/{job}"), None),
    };
    let what = kind.name();
    assert!(
        status == 200 || status == 204,
        "{what} {job}: {status} {body}"
    );
    let change = Change {
        kind,
        job: job.to_owned(),
        through,
        claimed_by,
        answered_ms: now_ms(),
    };
    println!(
        "chaos: {what} of job {job} through {through} (its newest tick claimed by {})",
        change.claimed_by
    );
    change
}

/// The ticks checked: whole seconds from [`WINDOW_START_MARGIN_MS`] after the chaos's start to
/// [`WINDOW_END_MARGIN_MS`] before its end, both included.
#[derive(Clone, Copy, Debug)]
struct Window {
    first_ms: i64,
    last_ms: i64,
}

impl Window {
    fn new(start_ms: i64, end_ms: i64) -> Window {
        let first_ms = (start_ms + WINDOW_START_MARGIN_MS + 999).div_euclid(1_000) * 1_000;
        let last_ms = (end_ms - WINDOW_END_MARGIN_MS).div_euclid(1_000) * 1_000;
        Window { first_ms, last_ms }
    }

    fn contains(self, tick_ms: i64) -> bool {
        (self.first_ms..=self.last_ms).contains(&tick_ms)
    }

    fn ticks(self) -> impl Iterator<Item = i64> {
        (self.first_ms..=self.last_ms).step_by(1_000)
    }
}

/// Reads what the nodes stored.
struct Store<'a> {
    database: &'a Connection,
    schema: &'a str,
}

/// One stored execution.
struct Row {
    id: String,
    job: String,
    tick_ms: i64,
    status: String,
    claimed_by: String,
}

impl Store<'_> {
    /// The executions node `node` holds unfinished: id to status.
    fn unfinished_of(&self, node: &str) -> HashMap<String, String> {
        self.database
            .query(&format!(
                "SELECT id::text, status FROM {}.job_executions \
                 WHERE claimed_by = '{node}' AND status IN ('PENDING', 'RUNNING')",
                self.schema
            ))
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect()
    }

    /// How many executions of the window's ticks are unfinished.
    fn unfinished_in(&self, window: Window) -> i64 {
        self.database.query(&format!(
            "SELECT count(*) FROM {}.job_executions WHERE scheduled_time BETWEEN {} AND {} \
             AND status IN ('PENDING', 'RUNNING')",
            self.schema, window.first_ms, window.last_ms
        ))[0]
            .get(0)
    }

    /// The node that claimed job `job`'s newest tick.
    fn newest_claimer(&self, job: &str) -> String {
        self.database.query(&format!(
            "SELECT claimed_by FROM {}.job_executions WHERE job_id = '{job}' \
             ORDER BY scheduled_time DESC LIMIT 1",
            self.schema
        ))[0]
            .get(0)
    }

    /// Every execution of the window's ticks.
    fn executions_in(&self, window: Window) -> Vec<Row> {
        self.database
            .query(&format!(
                "SELECT id::text, job_id::text, scheduled_time, status, claimed_by \
                 FROM {}.job_executions WHERE scheduled_time BETWEEN {} AND {}",
                self.schema, window.first_ms, window.last_ms
            ))
            .iter()
            .map(|row| Row {
                id: row.get(0),
                job: row.get(1),
                tick_ms: row.get(2),
                status: row.get(3),
                claimed_by: row.get(4),
            })
            .collect()
    }

    /// The status and holder now of every execution a kill left unfinished (absent: deleted
    /// with its job).
    fn final_states(&self, kills: &[Kill]) -> HashMap<String, (String, String)> {
        let ids: HashSet<&String> = kills.iter().flat_map(|kill| kill.left.keys()).collect();
        if ids.is_empty() {
            return HashMap::new();
        }
        let list = ids.into_iter().cloned().collect::<Vec<_>>().join(",");
        self.database
            .query(&format!(
                "SELECT id::text, status, claimed_by FROM {}.job_executions \
                 WHERE id = ANY('{{{list}}}'::uuid[])",
                self.schema
            ))
            .iter()
            .map(|row| (row.get(0), (row.get(1), row.get(2))))
            .collect()
    }
}
