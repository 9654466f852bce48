//! Cron expressions with a seconds field: parse once, then ask when they fire.
//!
//! This crate is the calendar arithmetic of the scheduler and nothing else: it parses an
//! expression into a compact value (one bit set per field), and answers [`Schedule::matches`],
//! [`Schedule::next_after`], [`Schedule::prev_before`] and an iterator of upcoming times, in
//! UTC or in any IANA time zone. It does no I/O, spawns nothing, and the searches do not
//! allocate. It is not a scheduler: it never sleeps or runs anything.
//!
//! ```
//! use cron_expr::{Schedule, Timestamp};
//!
//! // At second 31 of minutes 10-15 past 01:00, Monday to Friday.
//! let schedule: Schedule = "31 10-15 1 * * MON-FRI".parse()?;
//! let start: Timestamp = "2026-11-29T00:00:00Z".parse()?; // a Sunday
//! let next = schedule.next_after(start).unwrap();
//! assert_eq!(next.to_string(), "2026-11-30T01:10:31Z");
//! assert!(schedule.matches(next));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The dialect
//!
//! Six fields `second minute hour day-of-month month day-of-week`. Five fields mean the seconds
//! field is `0`; a seventh field is a year, 1970-2099.
//!
//! | field        | values          | special forms                       |
//! |--------------|-----------------|-------------------------------------|
//! | second       | 0-59            |                                     |
//! | minute       | 0-59            |                                     |
//! | hour         | 0-23            |                                     |
//! | day-of-month | 1-31            | `?`, `L`, `L-n`, `nW`, `LW`         |
//! | month        | 1-12, JAN-DEC   |                                     |
//! | day-of-week  | 0-7, SUN-SAT    | `?`, `xL`, `x#n` (0 and 7: Sunday)  |
//! | year         | 1970-2099       |                                     |
//!
//! Every field takes `*`, a value, a range `a-b`, a step `*/n`, `a/n` (from `a` to the end of
//! the field) or `a-b/n`, and comma-separated lists of these. Names are case-insensitive and
//! work in ranges (`MON-FRI`, `JAN-MAR`). A range must not run backwards (`22-2` is an error;
//! write `22-23,0-2`), except that a day-of-week range may end on Sunday written `0` or `SUN`
//! (`FRI-SUN` is Friday to Sunday). A step runs from 1 up to the field's span (59 for seconds).
//!
//! - `L` is the last day of the month, `L-n` the n-th day before it (`L-1` is the day before
//!   the last), in a month where that day exists.
//! - `nW` is the weekday (Monday-Friday) nearest day `n`, never leaving the month: `1W` on a
//!   Saturday is Monday the 3rd; `31W` on a Sunday is Friday the 29th. It does not fire in a
//!   month without day `n`. `LW` is the last weekday of the month.
//! - `xL` in day-of-week is the last weekday `x` of the month (`5L` or `FRIL`: last Friday);
//!   `x#n` the n-th one, n from 1 to 5 (`MON#1`: first Monday), in months that have it.
//! - Macros: `@yearly` and `@annually` (`0 0 0 1 1 *`), `@monthly` (`0 0 0 1 * *`), `@weekly`
//!   (`0 0 0 * * SUN`), `@daily` and `@midnight` (`0 0 0 * * *`), `@hourly` (`0 0 * * * *`).
//!
//! ## The two day fields
//!
//! When both day fields are restricted, that is neither is exactly `*` or `?`, a day matches if
//! **either** matches, as crontab(5) says. `*/2` and `1-31` are restrictions. Otherwise the
//! restricted field alone decides:
//!
//! - `0 0 12 1 * MON` fires at noon on the 1st of every month **and** on every Monday;
//! - `0 0 12 1 * *` and `0 0 12 1 * ?` fire on the 1st only;
//! - `0 0 12 * * MON` and `0 0 12 ? * MON` fire on Mondays only;
//! - `0 0 12 */2 * MON` fires on odd days of the month and on every Monday.
//!
//! ## Never and no more
//!
//! An expression that can never fire (`0 0 0 30 2 *`, `0 0 0 31 4 *`, `0 0 0 31 2,4,6 *`) is a
//! parse error that says so. An expression whose fires are all in the past (`0 0 0 1 1 * 2020`)
//! parses, and [`Schedule::next_after`] returns `None`. The searches cover at least a whole
//! 400-year Gregorian cycle, after which the calendar repeats, so they never loop or hang; they
//! return `None` past the year 9999.
//!
//! # Time zones and daylight saving
//!
//! The `*_in` methods evaluate the schedule against wall-clock time in a [`TimeZone`] (IANA
//! zones are bundled, so results do not depend on the host's tzdata). UTC and fixed offsets take
//! a fast path. Around daylight-saving transitions:
//!
//! - a matching local time that falls in a spring-forward gap fires once, at the first instant
//!   after the gap; several such times (`0 0,30 2 * * *` on the night clocks jump from 02:00 to
//!   03:00) fire once together;
//! - a matching local time that occurs twice in a fall-back hour fires once, at its first
//!   occurrence;
//! - except that a schedule whose hour field is exactly `*` fires at every real instant whose
//!   wall-clock time matches: both occurrences in a fall-back hour, and nothing extra for a gap,
//!   as ISC cron treats wildcard jobs. `@hourly` thus fires 25 times on the day clocks fall
//!   back and 23 on the day they spring forward. An hour field that merely selects every hour
//!   (`0-23`, `*/1`) follows the two rules above instead.
//!
//! Fire times are strictly increasing across every transition.
//!
//! ```
//! use cron_expr::{Schedule, TimeZone, Timestamp};
//!
//! let tz = TimeZone::get("America/New_York")?;
//! // 02:30 does not exist on 2026-03-08 in New York: it fires at 03:00 EDT (07:00 UTC).
//! let schedule: Schedule = "0 30 2 * * *".parse()?;
//! let start: Timestamp = "2026-03-08T00:00:00Z".parse()?;
//! let next = schedule.next_after_in(start, &tz).unwrap();
//! assert_eq!(next.to_string(), "2026-03-08T07:00:00Z");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]

mod calendar;
mod display;
mod error;
mod explain;
mod parse;
mod schedule;
mod zone;

use std::fmt;
use std::str::FromStr;

pub use error::{Field, ParseError};
/// The instant type of every method, re-exported from [`jiff`].
pub use jiff::Timestamp;
/// The time zone type of the `*_in` methods, re-exported from [`jiff`].
pub use jiff::tz::TimeZone;

use schedule::{Cursor, Fields};

/// A parsed cron expression.
///
/// Small (about a hundred bytes, no heap), compared by meaning: two expressions
/// that select the same times (`MON-FRI` and `1-5`) are equal. See the [crate documentation](crate)
/// for the dialect.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Schedule {
    fields: Fields,
}

impl Schedule {
    /// Parses an expression; see the [crate documentation](crate) for the dialect.
    ///
    /// # Errors
    ///
    /// Returns a [`ParseError`] naming the field, the token, its column and what was expected,
    /// or saying that the expression can never fire.
    pub fn parse(expr: &str) -> Result<Schedule, ParseError> {
        parse::parse(expr).map(|fields| Schedule { fields })
    }

    /// Whether `t` is a fire time in UTC: a whole second whose fields all match.
    pub fn matches(&self, t: Timestamp) -> bool {
        t.subsec_nanosecond() == 0 && self.fields.matches(t.as_second())
    }

    /// The first fire time strictly after `t`, in UTC; `None` if there is none (a year field
    /// in the past, or past the year 9999).
    pub fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        self.next_after_with_offset(floor_seconds(t), 0)
    }

    /// The last fire time strictly before `t`, in UTC; `None` if there is none.
    pub fn prev_before(&self, t: Timestamp) -> Option<Timestamp> {
        self.prev_at_or_before_with_offset(last_whole_second_before(t), 0)
    }

    /// The fire times strictly after `t`, in UTC, in increasing order.
    pub fn iter_after(&self, t: Timestamp) -> Upcoming<'_> {
        Upcoming::new(self, t, None)
    }

    /// Whether `t` is a fire time in the time zone `tz` (see the crate documentation for the
    /// daylight-saving rules).
    pub fn matches_in(&self, t: Timestamp, tz: &TimeZone) -> bool {
        if t.subsec_nanosecond() != 0 {
            return false;
        }
        let second = t.as_second();
        match tz.to_fixed_offset() {
            Ok(offset) => self.fields.matches(second + i64::from(offset.seconds())),
            Err(_) => zone::next_after(&self.fields, second - 1, tz) == Some(second),
        }
    }

    /// The first fire time strictly after `t` in the time zone `tz`.
    pub fn next_after_in(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let after = floor_seconds(t);
        match tz.to_fixed_offset() {
            Ok(offset) => self.next_after_with_offset(after, i64::from(offset.seconds())),
            Err(_) => zone::next_after(&self.fields, after, tz).and_then(to_timestamp),
        }
    }

    /// The last fire time strictly before `t` in the time zone `tz`.
    pub fn prev_before_in(&self, t: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let at_most = last_whole_second_before(t);
        match tz.to_fixed_offset() {
            Ok(offset) => self.prev_at_or_before_with_offset(at_most, i64::from(offset.seconds())),
            Err(_) => zone::prev_at_or_before(&self.fields, at_most, tz).and_then(to_timestamp),
        }
    }

    /// The fire times strictly after `t` in the time zone `tz`, in increasing order.
    pub fn iter_after_in<'a>(&'a self, t: Timestamp, tz: &'a TimeZone) -> Upcoming<'a> {
        Upcoming::new(self, t, Some(tz))
    }

    /// Says in plain English when the schedule fires, e.g. "at second 31 of minutes 10
    /// through 15 past hour 1, on Monday through Friday".
    pub fn explain(&self) -> String {
        explain::explain(&self.fields)
    }

    /// Whether the hour field is `*`, which changes how the schedule treats daylight-saving
    /// transitions (see the crate documentation).
    pub fn hour_is_wildcard(&self) -> bool {
        self.fields.hour_is_wildcard()
    }

    fn next_after_with_offset(&self, after: i64, offset: i64) -> Option<Timestamp> {
        let local = self
            .fields
            .next_at_or_after(after.checked_add(offset)?.checked_add(1)?)?;
        to_timestamp(local - offset)
    }

    fn prev_at_or_before_with_offset(&self, at_most: i64, offset: i64) -> Option<Timestamp> {
        let local = self
            .fields
            .prev_at_or_before(at_most.checked_add(offset)?)?;
        to_timestamp(local - offset)
    }
}

impl FromStr for Schedule {
    type Err = ParseError;

    fn from_str(expr: &str) -> Result<Schedule, ParseError> {
        Schedule::parse(expr)
    }
}

impl fmt::Display for Schedule {
    /// Writes the canonical expression: six fields (seven with a year), names for months and
    /// weekdays. Parsing the output gives an equal schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display::write(&self.fields, f)
    }
}

/// The fire times after an instant, in increasing order; made by [`Schedule::iter_after`] and
/// [`Schedule::iter_after_in`]. Ends when there are no more.
#[derive(Clone, Debug)]
pub struct Upcoming<'a> {
    schedule: &'a Schedule,
    state: UpcomingState<'a>,
}

/// Where an [`Upcoming`] is. In UTC and fixed offsets it keeps the search cursor (the wall-clock
/// position of the last fire time) between steps; in other zones the last fire time.
#[derive(Clone, Debug)]
enum UpcomingState<'a> {
    Fixed {
        offset: i64,
        last: Option<Cursor>,
    },
    Zoned {
        tz: &'a TimeZone,
        last: Option<Timestamp>,
    },
    Done,
}

impl<'a> Upcoming<'a> {
    fn new(schedule: &'a Schedule, t: Timestamp, zone: Option<&'a TimeZone>) -> Upcoming<'a> {
        let offset = match zone.map(TimeZone::to_fixed_offset) {
            None => Some(0),
            Some(Ok(offset)) => Some(i64::from(offset.seconds())),
            Some(Err(_)) => None,
        };
        let state = match (offset, zone) {
            (Some(offset), _) => match floor_seconds(t).checked_add(offset) {
                // The cursor stands on the last second that is not a fire time to report.
                Some(local) => UpcomingState::Fixed {
                    offset,
                    last: Some(Cursor::at(local)),
                },
                None => UpcomingState::Done,
            },
            (None, Some(tz)) => UpcomingState::Zoned { tz, last: Some(t) },
            (None, None) => UpcomingState::Done,
        };
        Upcoming { schedule, state }
    }
}

impl Iterator for Upcoming<'_> {
    type Item = Timestamp;

    fn next(&mut self) -> Option<Timestamp> {
        match &mut self.state {
            UpcomingState::Fixed { offset, last } => {
                let mut from = (*last)?;
                from.step_second();
                *last = self.schedule.fields.next_cursor(from);
                let mut found = (*last)?;
                let next = to_timestamp(found.epoch_seconds() - *offset);
                if next.is_none() {
                    *last = None;
                }
                next
            }
            UpcomingState::Zoned { tz, last } => {
                let after = (*last)?;
                *last = self.schedule.next_after_in(after, tz);
                *last
            }
            UpcomingState::Done => None,
        }
    }
}

impl std::iter::FusedIterator for Upcoming<'_> {}

/// Whole seconds since the epoch, rounded down (towards the past, also before 1970).
fn floor_seconds(t: Timestamp) -> i64 {
    t.as_second() - i64::from(t.subsec_nanosecond() < 0)
}

/// The last whole second strictly before `t`.
fn last_whole_second_before(t: Timestamp) -> i64 {
    let floor = floor_seconds(t);
    if t.subsec_nanosecond() == 0 {
        floor - 1
    } else {
        floor
    }
}

fn to_timestamp(seconds: i64) -> Option<Timestamp> {
    Timestamp::from_second(seconds).ok()
}
