//! When a job fires: a cron schedule, or one instant.

use std::fmt;

use cron_expr::{Schedule, Timestamp};

/// When a job fires: on every tick of a cron schedule, or once.
#[derive(Clone, Debug, PartialEq)]
pub enum Timing {
    /// Every tick of the schedule (in the job's zone), within the job's window.
    Cron(Schedule),
    /// Once, at this instant: a one-off job.
    Once(Timestamp),
}

impl Timing {
    /// The one instant of a one-off job; `None` for a cron schedule.
    pub fn run_at(&self) -> Option<Timestamp> {
        match self {
            Timing::Cron(_) => None,
            Timing::Once(at) => Some(*at),
        }
    }

    /// The cron schedule; `None` for a one-off job.
    pub fn cron(&self) -> Option<&Schedule> {
        match self {
            Timing::Cron(schedule) => Some(schedule),
            Timing::Once(_) => None,
        }
    }
}

/// The cron schedule's canonical text, or `once at <RFC 3339 instant>`.
impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Cron(schedule) => schedule.fmt(f),
            Timing::Once(at) => write!(f, "once at {at}"),
        }
    }
}

/// Parses a cron expression: a recurring timing (a one-off instant is given as a
/// [`Timing::Once`]).
impl std::str::FromStr for Timing {
    type Err = cron_expr::ParseError;
    fn from_str(expr: &str) -> Result<Timing, cron_expr::ParseError> {
        Schedule::parse(expr).map(Timing::Cron)
    }
}

impl From<Schedule> for Timing {
    fn from(schedule: Schedule) -> Timing {
        Timing::Cron(schedule)
    }
}
