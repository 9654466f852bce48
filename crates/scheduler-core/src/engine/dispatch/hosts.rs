//! Fair queueing between target hosts.
//!
//! Executions ready to send wait in one queue per target host (the host and port of the target
//! URL, [`host_of`]) and start in round robin between the hosts that have fewer than
//! `max_in_flight_per_host` attempts in flight, one execution per turn. So a slow or hanging
//! host holds at most its own share of the attempt slots; its other executions wait in its own
//! queue without holding a slot, and a slot that frees goes to the next host in turn, never to
//! the back of a slow host's line.
//!
//! Within a host, first attempts go before retries, except that after every
//! [`FIRSTS_PER_RETRY`] first attempts started while a retry waits, the oldest retry goes. A
//! first attempt is a tick whose lateness is the drift every job is promised, and a retry has
//! already waited its backoff, so a host that fails or times out (and so is often the slow
//! one) spends its slots on new ticks first; strict priority would instead let a host that
//! never drains its first attempts hold its retries (and their backlog) for ever, so retries
//! keep a bounded share: at least one start in `FIRSTS_PER_RETRY + 1` while they wait.

use std::collections::VecDeque;
use std::sync::Arc;

use foldhash::HashMap;

use crate::domain::Execution;

/// A target host: the lower-cased `host:port` of a target URL.
pub(super) type HostKey = Arc<str>;

/// How many first attempts of one host may start, while a retry of that host waits, before
/// the retry goes.
pub(super) const FIRSTS_PER_RETRY: usize = 3;

/// The host a target URL is sent to: its authority without user information, lower-cased, with
/// the scheme's default port when it names none (80 for `http`, 443 for `https`, 4222 for
/// `nats`, 5672 for `amqp`). A URL it cannot take apart is its own host.
pub(super) fn host_of(url: &str) -> HostKey {
    let url = url.trim();
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    // An IPv6 literal (`[::1]:8080`) has colons of its own: the port follows the bracket.
    let has_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        "nats" => Some("4222"),
        "amqp" => Some("5672"),
        _ => None,
    };
    let mut host = authority.to_ascii_lowercase();
    if let (false, Some(port)) = (has_port, default_port) {
        host.push(':');
        host.push_str(port);
    }
    Arc::from(host)
}

/// The executions ready to send, queued by host, and each host's attempts in flight.
pub(super) struct HostQueues {
    /// The most attempts in flight to one host.
    limit: usize,
    /// Every host with executions waiting or attempts in flight (or a turn not yet taken).
    hosts: HashMap<HostKey, HostQueue>,
    /// The hosts whose turn it is, in order. A host is here at most once, while it has
    /// executions waiting and room under the limit; an entry that no longer has either (after
    /// [`HostQueues::remove_if`]) is skipped when its turn comes.
    turns: VecDeque<HostKey>,
    /// Executions waiting, in every host.
    waiting: usize,
    /// Executions waiting in hosts at their limit.
    waiting_on_host: usize,
}

/// One host's queues.
#[derive(Default)]
struct HostQueue {
    in_flight: usize,
    /// First attempts (no attempt sent yet), oldest first.
    first: VecDeque<Execution>,
    /// Retries and re-sends after a crash, oldest first.
    retries: VecDeque<Execution>,
    /// First attempts started since the last retry while a retry waited.
    firsts_since_retry: usize,
    /// Whether the host is in [`HostQueues::turns`].
    has_turn: bool,
}

impl HostQueue {
    fn len(&self) -> usize {
        self.first.len() + self.retries.len()
    }

    /// What this host adds to [`HostQueues::waiting_on_host`].
    fn blocked(&self, limit: usize) -> usize {
        if self.in_flight >= limit {
            self.len()
        } else {
            0
        }
    }

    fn may_start(&self, limit: usize) -> bool {
        self.in_flight < limit && self.len() > 0
    }

    /// The next execution of this host: the oldest first attempt, or the oldest retry when
    /// there is no first attempt or retries have waited out their share.
    fn take(&mut self) -> Option<Execution> {
        let retry_due = self.first.is_empty() || self.firsts_since_retry >= FIRSTS_PER_RETRY;
        if retry_due && let Some(retry) = self.retries.pop_front() {
            self.firsts_since_retry = 0;
            return Some(retry);
        }
        let first = self.first.pop_front()?;
        if !self.retries.is_empty() {
            self.firsts_since_retry += 1;
        }
        Some(first)
    }
}

impl HostQueues {
    pub(super) fn new(limit: usize) -> HostQueues {
        HostQueues {
            limit: limit.max(1),
            hosts: HashMap::default(),
            turns: VecDeque::new(),
            waiting: 0,
            waiting_on_host: 0,
        }
    }

    /// Executions waiting to start.
    pub(super) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Of [`HostQueues::waiting`], those whose host has reached its limit.
    pub(super) fn waiting_on_host(&self) -> usize {
        self.waiting_on_host
    }

    /// Whether an execution waits that a free slot could start now.
    pub(super) fn has_startable(&self) -> bool {
        self.waiting > self.waiting_on_host
    }

    /// Queues an execution for `host`, behind the others of its kind (first attempt or retry).
    pub(super) fn push(&mut self, host: &HostKey, execution: Execution) {
        let limit = self.limit;
        let queue = match self.hosts.get_mut(host) {
            Some(queue) => queue,
            None => self.hosts.entry(Arc::clone(host)).or_default(),
        };
        let blocked_before = queue.blocked(limit);
        if execution.attempts == 0 {
            queue.first.push_back(execution);
        } else {
            queue.retries.push_back(execution);
        }
        self.waiting += 1;
        self.waiting_on_host = self.waiting_on_host - blocked_before + queue.blocked(limit);
        if !queue.has_turn && queue.may_start(limit) {
            queue.has_turn = true;
            self.turns.push_back(Arc::clone(host));
        }
    }

    /// Takes the next execution in round robin between the hosts with room, and counts it in
    /// flight for its host (until [`HostQueues::finished`]).
    pub(super) fn pop(&mut self) -> Option<(HostKey, Execution)> {
        let limit = self.limit;
        while let Some(host) = self.turns.pop_front() {
            let Some(queue) = self.hosts.get_mut(&host) else {
                continue;
            };
            queue.has_turn = false;
            if !queue.may_start(limit) {
                // A stale turn (executions removed since): the host is forgotten once idle.
                if queue.in_flight == 0 && queue.len() == 0 {
                    self.hosts.remove(&host);
                }
                continue;
            }
            let Some(execution) = queue.take() else {
                continue;
            };
            queue.in_flight += 1;
            self.waiting -= 1;
            self.waiting_on_host += queue.blocked(limit);
            if queue.may_start(limit) {
                queue.has_turn = true;
                self.turns.push_back(Arc::clone(&host));
            }
            return Some((host, execution));
        }
        None
    }

    /// An attempt to `host` ended (or never started): the host has room for another.
    pub(super) fn finished(&mut self, host: &HostKey) {
        let limit = self.limit;
        let Some(queue) = self.hosts.get_mut(host) else {
            // Cleared by a drain, whose attempts finish afterwards.
            return;
        };
        let blocked_before = queue.blocked(limit);
        queue.in_flight = queue.in_flight.saturating_sub(1);
        self.waiting_on_host = self.waiting_on_host - blocked_before + queue.blocked(limit);
        if !queue.has_turn && queue.may_start(limit) {
            queue.has_turn = true;
            self.turns.push_back(Arc::clone(host));
        }
        if queue.in_flight == 0 && queue.len() == 0 && !queue.has_turn {
            self.hosts.remove(host);
        }
    }

    /// Every execution waiting, host by host.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Execution> {
        self.hosts
            .values()
            .flat_map(|queue| queue.first.iter().chain(&queue.retries))
    }

    /// Removes and returns the waiting executions that `condition` picks.
    pub(super) fn remove_if(&mut self, condition: impl Fn(&Execution) -> bool) -> Vec<Execution> {
        let limit = self.limit;
        let mut removed = Vec::new();
        for queue in self.hosts.values_mut() {
            let blocked_before = queue.blocked(limit);
            for list in [&mut queue.first, &mut queue.retries] {
                let (gone, kept): (VecDeque<_>, VecDeque<_>) =
                    std::mem::take(list).into_iter().partition(&condition);
                *list = kept;
                removed.extend(gone);
            }
            self.waiting_on_host = self.waiting_on_host - blocked_before + queue.blocked(limit);
        }
        self.waiting -= removed.len();
        self.hosts
            .retain(|_, queue| queue.in_flight > 0 || queue.len() > 0 || queue.has_turn);
        removed
    }

    /// Drops every waiting execution and forgets every host (a drain starts nothing more);
    /// returns how many were waiting.
    pub(super) fn clear(&mut self) -> usize {
        let waiting = self.waiting;
        self.hosts.clear();
        self.turns.clear();
        self.waiting = 0;
        self.waiting_on_host = 0;
        waiting
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ExecutionId, ExecutionTrigger, JobId};
    use cron_expr::Timestamp;
    use uuid::Uuid;

    #[test]
    fn hosts_are_the_authority_with_the_default_port() {
        let check = |url: &str, host: &str| assert_eq!(&*host_of(url), host, "{url}");
        check("http://example.test/hook", "example.test:80");
        check("https://Example.TEST/a?b=c", "example.test:443");
        check("http://127.0.0.1:8080/hook", "127.0.0.1:8080");
        check("http://user:secret@example.test:81#frag", "example.test:81");
        check("http://[::1]/hook", "[::1]:80");
        check("http://[::1]:9000/hook", "[::1]:9000");
        check("nats://queue.test/subject", "queue.test:4222");
        check("amqp://guest@mq.test/vhost?exchange=x", "mq.test:5672");
        check("gopher://odd.test/x", "odd.test");
        check("  http://example.test  ", "example.test:80");
    }

    fn execution(n: u128, attempts: u32) -> Execution {
        let at = Timestamp::from_second(1_800_000_000).expect("a timestamp");
        let mut execution = Execution::pending(
            JobId(Uuid::from_u128(n)),
            at,
            ExecutionTrigger::Schedule,
            "local",
            at,
        );
        execution.id = ExecutionId(Uuid::from_u128(n));
        execution.attempts = attempts;
        execution
    }

    fn id(execution: &Execution) -> u128 {
        execution.id.0.as_u128()
    }

    #[test]
    fn hosts_take_turns_and_each_stops_at_its_limit() {
        let (slow, fast): (HostKey, HostKey) = (Arc::from("slow:80"), Arc::from("fast:80"));
        let mut queues = HostQueues::new(2);
        for n in 0..4 {
            queues.push(&slow, execution(n, 0));
        }
        for n in 10..14 {
            queues.push(&fast, execution(n, 0));
        }
        let mut order = Vec::new();
        while let Some((host, execution)) = queues.pop() {
            order.push((host, id(&execution)));
        }
        let expected: Vec<(HostKey, u128)> = vec![
            (slow.clone(), 0),
            (fast.clone(), 10),
            (slow.clone(), 1),
            (fast.clone(), 11),
        ];
        assert_eq!(order, expected);
        assert_eq!((queues.waiting(), queues.waiting_on_host()), (4, 4));
        assert!(!queues.has_startable());
        // A fast host's slot frees: only it starts again, however long the slow one hangs.
        queues.finished(&fast);
        assert_eq!((queues.waiting(), queues.waiting_on_host()), (4, 2));
        let (host, next) = queues.pop().expect("the fast host has room");
        assert_eq!((host, id(&next)), (fast.clone(), 12));
        assert!(queues.pop().is_none());
        assert_eq!(queues.waiting_on_host(), 3);
    }

    #[test]
    fn first_attempts_go_before_retries_which_keep_a_bounded_share() {
        let host: HostKey = Arc::from("h:80");
        let mut queues = HostQueues::new(100);
        for n in 0..3 {
            queues.push(&host, execution(100 + n, 1));
        }
        for n in 0..8 {
            queues.push(&host, execution(n, 0));
        }
        let order: Vec<u128> = std::iter::from_fn(|| queues.pop())
            .map(|(_, e)| id(&e))
            .collect();
        assert_eq!(order, [0, 1, 2, 100, 3, 4, 5, 101, 6, 7, 102]);
    }

    #[test]
    fn removed_executions_leave_the_counts_and_idle_hosts_are_forgotten() {
        let (a, b): (HostKey, HostKey) = (Arc::from("a:80"), Arc::from("b:80"));
        let mut queues = HostQueues::new(1);
        queues.push(&a, execution(1, 0));
        queues.push(&a, execution(2, 0));
        queues.push(&b, execution(3, 0));
        let (host, _) = queues.pop().expect("a starts");
        assert_eq!(host, a);
        assert_eq!(queues.waiting_on_host(), 1);
        let removed = queues.remove_if(|e| id(e) != 3);
        assert_eq!(removed.iter().map(id).collect::<Vec<_>>(), [2]);
        assert_eq!((queues.waiting(), queues.waiting_on_host()), (1, 0));
        let (host, _) = queues.pop().expect("b starts");
        assert_eq!(host, b);
        queues.finished(&a);
        queues.finished(&b);
        assert!(queues.pop().is_none());
        assert!(queues.hosts.is_empty());
        assert_eq!(queues.iter().count(), 0);
    }
}
