//! A slow, obviously-correct model of cron-expr, written from the API notes alone.
//!
//! Nothing here looks at the crate's internals. An expression becomes one `Vec<bool>` per
//! time field plus a small description of each day field, and a civil datetime matches when
//! every field says yes. Fire times are found by plain enumeration in time order: day by day,
//! and inside a matching day hour by hour, minute by minute, second by second. Time zones are
//! handled by walking real instants and applying the DST rules of the notes literally.
//!
//! Calendar arithmetic (days since the epoch, weekday, month length) is done by the short
//! textbook functions at the bottom, which `oracle_self_tests` checks against jiff.

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::TimeZone;

/// Seconds in a civil day.
const DAY: i64 = 86_400;

/// The first and last year a year field may name.
const YEAR_MIN: i64 = 1970;
const YEAR_MAX: i64 = 2099;

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// What the day-of-month field asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfMonth {
    /// A plain set of days, indexed 0..=31 (index 0 unused).
    Days(Vec<bool>),
    /// `L`: the last day of the month.
    Last,
    /// `L-n`: n days before the last day; nothing when that is before day 1.
    LastMinus(i64),
    /// `nW`: the weekday (Mon-Fri) nearest day n, staying inside the month.
    NearestWeekday(i64),
    /// `LW`: the last weekday (Mon-Fri) of the month.
    LastWeekday,
}

/// What the day-of-week field asks for. Weekdays are 0 = Sunday .. 6 = Saturday.
#[derive(Clone, Debug, PartialEq, Eq)]
enum DayOfWeek {
    /// A plain set of weekdays, indexed 0..=6.
    Days(Vec<bool>),
    /// `xL`: the last weekday x of the month.
    Last(i64),
    /// `x#n`: the n-th weekday x of the month.
    Nth(i64, i64),
}

/// A parsed cron expression, kept as simple as possible.
#[derive(Clone, Debug)]
pub(crate) struct Oracle {
    seconds: Vec<bool>,
    minutes: Vec<bool>,
    hours: Vec<bool>,
    months: Vec<bool>,
    /// `None` without a year field; otherwise indexed by `year - 1970`.
    years: Option<Vec<bool>>,
    day_of_month: DayOfMonth,
    day_of_week: DayOfWeek,
    /// The field text was neither exactly `*` nor `?`.
    day_of_month_restricted: bool,
    day_of_week_restricted: bool,
    /// The hour field text was exactly `*` (this changes the DST rules).
    hour_is_star: bool,
}

impl Oracle {
    /// Parses an expression the way the notes describe it. The error is a short reason; it is
    /// only used to explain oracle failures, never compared with the crate's messages.
    pub(crate) fn parse(expression: &str) -> Result<Oracle, String> {
        let trimmed = expression.trim();
        let expanded = match trimmed.to_ascii_lowercase().as_str() {
            "@yearly" | "@annually" => "0 0 0 1 1 *".to_string(),
            "@monthly" => "0 0 0 1 * *".to_string(),
            "@weekly" => "0 0 0 * * 0".to_string(),
            "@daily" | "@midnight" => "0 0 0 * * *".to_string(),
            "@hourly" => "0 0 * * * *".to_string(),
            _ if trimmed.starts_with('@') => return Err(format!("unknown macro {trimmed}")),
            _ => trimmed.to_string(),
        };
        let mut fields: Vec<&str> = expanded.split_whitespace().collect();
        match fields.len() {
            5 => fields.insert(0, "0"),
            6 | 7 => {}
            n => return Err(format!("{n} fields")),
        }
        let seconds = parse_set(fields[0], 0, 59, None)?;
        let minutes = parse_set(fields[1], 0, 59, None)?;
        let hours = parse_set(fields[2], 0, 23, None)?;
        let months = parse_set(fields[4], 1, 12, Some((&MONTH_NAMES, 1)))?;
        let years = match fields.get(6) {
            Some(text) => Some(parse_set(text, YEAR_MIN, YEAR_MAX, None)?),
            None => None,
        };
        let (day_of_month, day_of_month_restricted) = parse_day_of_month(fields[3])?;
        let (day_of_week, day_of_week_restricted) = parse_day_of_week(fields[5])?;
        Ok(Oracle {
            seconds,
            minutes,
            hours,
            months,
            years: years.map(|set| set[YEAR_MIN as usize..].to_vec()),
            day_of_month,
            day_of_week,
            day_of_month_restricted,
            day_of_week_restricted,
            hour_is_star: fields[2] == "*",
        })
    }

    /// Whether the expression has a year field.
    pub(crate) fn has_year_field(&self) -> bool {
        self.years.is_some()
    }

    /// Whether a civil datetime matches (sub-second parts are ignored).
    pub(crate) fn matches_civil(&self, datetime: DateTime) -> bool {
        self.day_matches(
            i64::from(datetime.year()),
            i64::from(datetime.month()),
            i64::from(datetime.day()),
        ) && self.time_matches(
            i64::from(datetime.hour()),
            i64::from(datetime.minute()),
            i64::from(datetime.second()),
        )
    }

    /// Whether a UTC instant is a fire time: a whole second whose UTC civil time matches.
    pub(crate) fn matches_utc(&self, t: Timestamp) -> bool {
        t.subsec_nanosecond() == 0 && self.matches_local_seconds(floor_second(t))
    }

    fn time_matches(&self, hour: i64, minute: i64, second: i64) -> bool {
        self.hours[hour as usize] && self.minutes[minute as usize] && self.seconds[second as usize]
    }

    /// Whether the wall-clock time `local` (seconds since 1970-01-01T00:00:00 as if UTC)
    /// matches.
    fn matches_local_seconds(&self, local: i64) -> bool {
        let days = local.div_euclid(DAY);
        let second_of_day = local.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        self.day_matches(year, month, day)
            && self.time_matches(
                second_of_day / 3600,
                second_of_day / 60 % 60,
                second_of_day % 60,
            )
    }

    /// Whether a calendar day is a firing day (year, month and the two day fields).
    pub(crate) fn day_matches(&self, year: i64, month: i64, day: i64) -> bool {
        if !self.months[month as usize] {
            return false;
        }
        if let Some(years) = &self.years
            && (!(YEAR_MIN..=YEAR_MAX).contains(&year) || !years[(year - YEAR_MIN) as usize])
        {
            return false;
        }
        self.day_fields_match(year, month, day)
    }

    /// The two day fields alone, with the either-field rule.
    fn day_fields_match(&self, year: i64, month: i64, day: i64) -> bool {
        let by_day_of_month = || self.day_of_month_matches(year, month, day);
        let by_day_of_week = || self.day_of_week_matches(year, month, day);
        match (self.day_of_month_restricted, self.day_of_week_restricted) {
            (true, true) => by_day_of_month() || by_day_of_week(),
            (true, false) => by_day_of_month(),
            (false, true) => by_day_of_week(),
            (false, false) => true,
        }
    }

    fn day_of_month_matches(&self, year: i64, month: i64, day: i64) -> bool {
        let last = days_in_month(year, month);
        let weekday_of = |d: i64| weekday(days_from_civil(year, month, d));
        let is_weekday = |d: i64| (1..=5).contains(&weekday_of(d));
        match &self.day_of_month {
            DayOfMonth::Days(days) => days[day as usize],
            DayOfMonth::Last => day == last,
            DayOfMonth::LastMinus(n) => last - n >= 1 && day == last - n,
            DayOfMonth::NearestWeekday(n) => {
                let n = *n;
                if n > last {
                    return false;
                }
                let target = match weekday_of(n) {
                    // Saturday: Friday before, unless that leaves the month.
                    6 if n == 1 => 3,
                    6 => n - 1,
                    // Sunday: Monday after, unless that leaves the month.
                    0 if n == last => n - 2,
                    0 => n + 1,
                    _ => n,
                };
                debug_assert!(is_weekday(target));
                day == target
            }
            DayOfMonth::LastWeekday => {
                let target = (1..=last).rev().find(|&d| is_weekday(d)).unwrap();
                day == target
            }
        }
    }

    fn day_of_week_matches(&self, year: i64, month: i64, day: i64) -> bool {
        let today = weekday(days_from_civil(year, month, day));
        match &self.day_of_week {
            DayOfWeek::Days(days) => days[today as usize],
            DayOfWeek::Last(x) => today == *x && day + 7 > days_in_month(year, month),
            DayOfWeek::Nth(x, n) => today == *x && (day - 1) / 7 + 1 == *n,
        }
    }

    /// Whether two expressions describe the same schedule: same time-of-day sets, months,
    /// years, the same hour-`*` DST behaviour, and the same firing days in every kind of year
    /// (2000..=2027 has all 14).
    pub(crate) fn same_schedule(&self, other: &Oracle) -> bool {
        self.seconds == other.seconds
            && self.minutes == other.minutes
            && self.hours == other.hours
            && self.months == other.months
            && self.years == other.years
            && self.hour_is_star == other.hour_is_star
            && (days_from_civil(2000, 1, 1)..days_from_civil(2028, 1, 1)).all(|days| {
                let (year, month, day) = civil_from_days(days);
                self.day_fields_match(year, month, day) == other.day_fields_match(year, month, day)
            })
    }

    /// Whether the schedule fires at all: without a year field, some day in 2000..=2027 (a
    /// 28-year stretch with every kind of year: 7 starting weekdays, leap or not) matches;
    /// with one, some day of a listed year matches.
    pub(crate) fn ever_fires(&self) -> bool {
        let years: Vec<i64> = match &self.years {
            None => (2000..=2027).collect(),
            Some(set) => (YEAR_MIN..=YEAR_MAX)
                .filter(|y| set[(y - YEAR_MIN) as usize])
                .collect(),
        };
        years.into_iter().any(|year| {
            (1..=12).any(|month| {
                (1..=days_in_month(year, month)).any(|day| self.day_matches(year, month, day))
            })
        })
    }

    /// The smallest fire time strictly after `t`, looking no further than `horizon_days`
    /// days past `t`'s day. `None` means nothing fires in that window.
    pub(crate) fn next_after(&self, t: Timestamp, horizon_days: i64) -> Option<Timestamp> {
        // The smallest whole second strictly after t.
        let first = floor_second(t) + 1;
        let first_day = first.div_euclid(DAY);
        for days in first_day..=first_day + horizon_days {
            let (year, month, day) = civil_from_days(days);
            if !self.day_matches(year, month, day) {
                continue;
            }
            for second_of_day in 0..DAY {
                let instant = days * DAY + second_of_day;
                if instant >= first
                    && self.time_matches(
                        second_of_day / 3600,
                        second_of_day / 60 % 60,
                        second_of_day % 60,
                    )
                {
                    return Some(timestamp(instant));
                }
            }
        }
        None
    }

    /// The largest fire time strictly before `t`, looking no further than `horizon_days`
    /// days before `t`'s day. `None` means nothing fires in that window.
    pub(crate) fn prev_before(&self, t: Timestamp, horizon_days: i64) -> Option<Timestamp> {
        // The largest whole second strictly before t.
        let last = ceil_second(t) - 1;
        let last_day = last.div_euclid(DAY);
        for days in (last_day - horizon_days..=last_day).rev() {
            let (year, month, day) = civil_from_days(days);
            if !self.day_matches(year, month, day) {
                continue;
            }
            for second_of_day in (0..DAY).rev() {
                let instant = days * DAY + second_of_day;
                if instant <= last
                    && self.time_matches(
                        second_of_day / 3600,
                        second_of_day / 60 % 60,
                        second_of_day % 60,
                    )
                {
                    return Some(timestamp(instant));
                }
            }
        }
        None
    }

    /// Every UTC fire time in `[from, to]` by testing each second: the slowest possible
    /// reference, used to check the day-by-day enumeration above on short windows.
    pub(crate) fn fire_times_by_seconds(&self, from: i64, to: i64) -> Vec<i64> {
        (from..=to)
            .filter(|&s| self.matches_local_seconds(s))
            .collect()
    }
}

/// A time zone seen through a window of instants, with the DST rules of the notes applied to
/// each instant.
pub(crate) struct ZoneOracle<'a> {
    oracle: &'a Oracle,
    /// First and last instant (Unix seconds) this view may be asked about.
    low: i64,
    high: i64,
    /// The UTC offset in force at `low - 2 days`, in seconds.
    initial_offset: i64,
    /// Every transition after that: (instant, offset from that instant on).
    transitions: Vec<(i64, i64)>,
}

impl<'a> ZoneOracle<'a> {
    /// A view of `tz` that answers for instants in `[low, high]`.
    pub(crate) fn new(oracle: &'a Oracle, tz: &TimeZone, low: i64, high: i64) -> ZoneOracle<'a> {
        // Two days of margin on each side: fold checks look back up to a day, and gap checks
        // look at the instant before.
        let from = timestamp(low - 2 * DAY);
        let initial_offset = i64::from(tz.to_offset(from).seconds());
        let transitions = tz
            .following(from)
            .map(|transition| {
                (
                    transition.timestamp().as_second(),
                    i64::from(transition.offset().seconds()),
                )
            })
            .take_while(|&(at, _)| at <= high + 2 * DAY)
            .collect();
        ZoneOracle {
            oracle,
            low,
            high,
            initial_offset,
            transitions,
        }
    }

    /// The UTC offset in force at instant `s`.
    fn offset_at(&self, s: i64) -> i64 {
        assert!(
            s >= self.low - 2 * DAY && s <= self.high + 2 * DAY,
            "oracle window too small"
        );
        self.transitions
            .iter()
            .take_while(|&&(at, _)| at <= s)
            .last()
            .map_or(self.initial_offset, |&(_, offset)| offset)
    }

    /// The wall-clock time at instant `s`, as seconds since 1970-01-01T00:00:00 local.
    fn local(&self, s: i64) -> i64 {
        s + self.offset_at(s)
    }

    /// Whether some instant before `s` showed the same wall-clock time as `s` does. Any such
    /// instant is `local(s) - o` for an offset `o` in force at it, so trying each offset that
    /// occurs in the window is enough.
    fn wall_time_seen_before(&self, s: i64) -> bool {
        let local = self.local(s);
        let mut offsets: Vec<i64> = self.transitions.iter().map(|&(_, o)| o).collect();
        offsets.push(self.initial_offset);
        offsets
            .into_iter()
            .any(|o| local - o < s && self.offset_at(local - o) == o)
    }

    /// The rules of the notes, applied to one instant.
    pub(crate) fn fires(&self, s: i64) -> bool {
        let local = self.local(s);
        if self.oracle.hour_is_star {
            // Every real instant whose wall-clock time matches; gap times do not exist.
            return self.oracle.matches_local_seconds(local);
        }
        // Wall-clock times skipped just before s (a spring-forward gap) fire at s.
        let local_before = self.local(s - 1);
        if local - local_before > 1
            && (local_before + 1..local).any(|gap| self.oracle.matches_local_seconds(gap))
        {
            return true;
        }
        // Otherwise s fires when its wall-clock time matches and this is its first
        // occurrence.
        self.oracle.matches_local_seconds(local) && !self.wall_time_seen_before(s)
    }

    /// Whether instant `s` is a transition (the offset changes between `s - 1` and `s`).
    fn is_transition(&self, s: i64) -> bool {
        self.transitions.iter().any(|&(at, _)| at == s)
    }

    /// The first instant after `s` at which the local date, hour or minute that `s` shows
    /// could change: the next wall-clock boundary of the coarsest field that does not match,
    /// or the next transition, whichever comes first. Every instant in between shows the same
    /// non-matching date/hour/minute and is not a transition, so none of them fires.
    fn skip_forward(&self, s: i64) -> i64 {
        let local = self.local(s);
        let unit = self.mismatch_unit(local);
        if unit == 1 || self.is_transition(s) {
            return s + 1;
        }
        let boundary = s + (unit - local.rem_euclid(unit));
        let next_transition = self
            .transitions
            .iter()
            .map(|&(at, _)| at)
            .find(|&at| at > s)
            .unwrap_or(i64::MAX);
        boundary.min(next_transition)
    }

    /// The mirror image of `skip_forward`: the instant to look at next going backwards.
    fn skip_backward(&self, s: i64) -> i64 {
        let local = self.local(s);
        let unit = self.mismatch_unit(local);
        if unit == 1 || self.is_transition(s) {
            return s - 1;
        }
        // The instant showing the start of the current date/hour/minute; instants in
        // [that, s] do not fire, so continue just before it, but never skip a transition.
        let start = s - local.rem_euclid(unit);
        let last_transition = self
            .transitions
            .iter()
            .map(|&(at, _)| at)
            .rev()
            .find(|&at| at <= s)
            .unwrap_or(i64::MIN);
        start.max(last_transition + 1) - 1
    }

    /// A day if the local date does not match, an hour if the hour does not, a minute if the
    /// minute does not, else one second.
    fn mismatch_unit(&self, local: i64) -> i64 {
        let (year, month, day) = civil_from_days(local.div_euclid(DAY));
        let second_of_day = local.rem_euclid(DAY);
        if !self.oracle.day_matches(year, month, day) {
            DAY
        } else if !self.oracle.hours[(second_of_day / 3600) as usize] {
            3600
        } else if !self.oracle.minutes[(second_of_day / 60 % 60) as usize] {
            60
        } else {
            1
        }
    }

    /// The first fire time strictly after `t` and no later than the window's end.
    pub(crate) fn next_after(&self, t: Timestamp) -> Option<Timestamp> {
        let mut s = floor_second(t) + 1;
        assert!(s >= self.low, "oracle window too small");
        while s <= self.high {
            if self.fires(s) {
                return Some(timestamp(s));
            }
            s = self.skip_forward(s);
        }
        None
    }

    /// The last fire time strictly before `t` and no earlier than the window's start.
    pub(crate) fn prev_before(&self, t: Timestamp) -> Option<Timestamp> {
        let mut s = ceil_second(t) - 1;
        assert!(s <= self.high, "oracle window too small");
        while s >= self.low {
            if self.fires(s) {
                return Some(timestamp(s));
            }
            s = self.skip_backward(s);
        }
        None
    }

    /// Every fire time in the window, testing each instant: the slowest possible reference.
    pub(crate) fn fire_times_by_seconds(&self) -> Vec<i64> {
        (self.low..=self.high).filter(|&s| self.fires(s)).collect()
    }
}

/// Parses one field: a comma list of `*`, `v`, `a-b`, `*/n`, `a/n`, `a-b/n`. Returns a
/// `Vec<bool>` indexed `0..=max`.
fn parse_set(
    text: &str,
    min: i64,
    max: i64,
    names: Option<(&[&str], i64)>,
) -> Result<Vec<bool>, String> {
    let mut set = vec![false; max as usize + 1];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => {
                let step: i64 = step.parse().map_err(|_| format!("bad step {step}"))?;
                if step < 1 {
                    return Err("step 0".into());
                }
                (range, Some(step))
            }
            None => (item, None),
        };
        let (first, last) = if range == "*" {
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, min, max, names)?, value(b, min, max, names)?)
        } else {
            let a = value(range, min, max, names)?;
            // `a/n` runs to the field's maximum.
            if step.is_some() { (a, max) } else { (a, a) }
        };
        if first > last {
            return Err(format!("wrap-around range {range}"));
        }
        let mut v = first;
        while v <= last {
            set[v as usize] = true;
            v += step.unwrap_or(1);
        }
    }
    Ok(set)
}

fn value(text: &str, min: i64, max: i64, names: Option<(&[&str], i64)>) -> Result<i64, String> {
    if let Some((names, base)) = names
        && let Some(index) = names.iter().position(|n| n.eq_ignore_ascii_case(text))
    {
        return Ok(index as i64 + base);
    }
    let is_digits = !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit());
    match text.parse::<i64>() {
        Ok(v) if is_digits && (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("bad value {text}")),
    }
}

fn parse_day_of_month(text: &str) -> Result<(DayOfMonth, bool), String> {
    let upper = text.to_ascii_uppercase();
    let parsed = match upper.as_str() {
        "*" | "?" => return Ok((DayOfMonth::Days(vec![true; 32]), false)),
        "L" => DayOfMonth::Last,
        "LW" => DayOfMonth::LastWeekday,
        _ if upper.starts_with("L-") => DayOfMonth::LastMinus(value(&upper[2..], 0, 30, None)?),
        _ if upper.ends_with('W') => {
            DayOfMonth::NearestWeekday(value(&upper[..upper.len() - 1], 1, 31, None)?)
        }
        _ => DayOfMonth::Days(parse_set(text, 1, 31, None)?),
    };
    Ok((parsed, true))
}

fn parse_day_of_week(text: &str) -> Result<(DayOfWeek, bool), String> {
    let upper = text.to_ascii_uppercase();
    let weekday_value = |t: &str| value(t, 0, 7, Some((&WEEKDAY_NAMES, 0))).map(|v| v % 7);
    let parsed = match upper.as_str() {
        "*" | "?" => return Ok((DayOfWeek::Days(vec![true; 7]), false)),
        _ if upper.ends_with('L') => DayOfWeek::Last(weekday_value(&upper[..upper.len() - 1])?),
        _ if upper.contains('#') => {
            let (x, n) = upper.split_once('#').unwrap();
            DayOfWeek::Nth(weekday_value(x)?, value(n, 1, 5, None)?)
        }
        _ => {
            let set = parse_set(text, 0, 7, Some((&WEEKDAY_NAMES, 0)))?;
            // 7 is Sunday too.
            DayOfWeek::Days((0..7).map(|d| set[d] || (d == 0 && set[7])).collect())
        }
    };
    Ok((parsed, true))
}

/// The instant `s` seconds after the epoch.
pub(crate) fn timestamp(s: i64) -> Timestamp {
    Timestamp::from_second(s).expect("instant in jiff's range")
}

/// The largest whole second <= t.
pub(crate) fn floor_second(t: Timestamp) -> i64 {
    // jiff keeps the sub-second part with the sign of the whole.
    let s = t.as_second();
    if t.subsec_nanosecond() < 0 { s - 1 } else { s }
}

/// The smallest whole second >= t.
pub(crate) fn ceil_second(t: Timestamp) -> i64 {
    let s = t.as_second();
    if t.subsec_nanosecond() > 0 { s + 1 } else { s }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let shifted_month = (month + 9) % 12; // March = 0
    let day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The inverse of `days_from_civil`.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

pub(crate) fn is_leap_year(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

pub(crate) fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// 0 = Sunday .. 6 = Saturday. 1970-01-01 was a Thursday.
pub(crate) fn weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// Checks of the oracle itself: its calendar arithmetic against jiff, and its fast searches
/// against second-by-second scans.
mod oracle_self_tests {
    use jiff::civil::Date;
    use jiff::tz::TimeZone;

    use super::*;

    #[test]
    fn calendar_arithmetic_agrees_with_jiff() {
        let ranges = [(1890, 1910), (1965, 2110), (2390, 2410), (9990, 9999)];
        for (from, to) in ranges {
            let mut date = Date::new(from, 1, 1).unwrap();
            let mut days = days_from_civil(i64::from(from), 1, 1);
            while date.year() <= to {
                let (y, m, d) = civil_from_days(days);
                assert_eq!(
                    (y, m, d),
                    (
                        i64::from(date.year()),
                        i64::from(date.month()),
                        i64::from(date.day())
                    )
                );
                assert_eq!(days_from_civil(y, m, d), days);
                assert_eq!(
                    weekday(days),
                    i64::from(date.weekday().to_sunday_zero_offset())
                );
                assert_eq!(days_in_month(y, m), i64::from(date.days_in_month()));
                if date.year() == to && date.month() == 12 && date.day() == 31 {
                    break;
                }
                date = date.tomorrow().unwrap();
                days += 1;
            }
        }
    }

    #[test]
    fn day_by_day_search_agrees_with_second_by_second_scan() {
        let expressions = [
            "*/7 */13 */5 * * *",
            "0,30 59 23 L * *",
            "15 0-2 0,12 ? * MON-WED",
            "0 */20 1 1W * 5L",
            "59 59 23 * * *",
        ];
        // 2024-02-27T00:00:00Z: a leap-year month end and a few weekdays.
        let from = days_from_civil(2024, 2, 27) * DAY;
        let to = from + 3 * DAY;
        for expression in expressions {
            let oracle = Oracle::parse(expression).unwrap();
            let scanned = oracle.fire_times_by_seconds(from, to);
            let mut searched = Vec::new();
            let mut t = timestamp(from - 1);
            while let Some(next) = oracle.next_after(t, 10) {
                if next.as_second() > to {
                    break;
                }
                searched.push(next.as_second());
                t = next;
            }
            assert_eq!(searched, scanned, "{expression}");
            let mut backwards = Vec::new();
            let mut t = timestamp(to + 1);
            while let Some(prev) = oracle.prev_before(t, 10) {
                if prev.as_second() < from {
                    break;
                }
                backwards.push(prev.as_second());
                t = prev;
            }
            backwards.reverse();
            assert_eq!(backwards, scanned, "{expression} backwards");
        }
    }

    #[test]
    fn civil_and_second_based_matching_agree() {
        let oracle = Oracle::parse("*/20 0-10,50 1,23 L-1 FEB-MAR,DEC 3#2").unwrap();
        let from = days_from_civil(2028, 2, 27) * DAY;
        for s in (from..from + 4 * DAY).step_by(10) {
            let civil = TimeZone::UTC.to_datetime(timestamp(s));
            assert_eq!(
                oracle.matches_civil(civil),
                oracle.matches_local_seconds(s),
                "{civil}"
            );
        }
        let expected_hits = [
            "2028-02-28T01:00:00",
            "2028-02-28T01:50:40",
            "2028-02-28T23:10:00",
            "2028-03-08T01:00:00",
        ];
        for hit in expected_hits {
            assert!(oracle.matches_civil(hit.parse().unwrap()), "{hit}");
        }
        assert!(!oracle.matches_civil("2028-02-29T01:00:00".parse().unwrap()));
        assert!(!oracle.matches_civil("2028-02-28T02:00:00".parse().unwrap()));
    }

    #[test]
    fn zone_offsets_agree_with_jiff() {
        let tz = TimeZone::get("America/New_York").unwrap();
        let oracle = Oracle::parse("* * * * * *").unwrap();
        // The 2026 spring-forward and fall-back transitions, ten hours either side.
        for transition in [1_772_953_200, 1_793_512_800] {
            let (low, high) = (transition - 36_000, transition + 36_000);
            let zone = ZoneOracle::new(&oracle, &tz, low, high);
            for s in (low..=high).step_by(61) {
                let civil = tz.to_datetime(timestamp(s));
                let local = zone.local(s);
                let (y, m, d) = civil_from_days(local.div_euclid(DAY));
                let second_of_day = local.rem_euclid(DAY);
                assert_eq!(
                    (y, m, d, second_of_day),
                    (
                        i64::from(civil.year()),
                        i64::from(civil.month()),
                        i64::from(civil.day()),
                        i64::from(civil.hour()) * 3600
                            + i64::from(civil.minute()) * 60
                            + i64::from(civil.second())
                    )
                );
            }
        }
    }

    #[test]
    fn zone_skipping_search_agrees_with_second_by_second_scan() {
        let cases = [
            // 2026 transitions: 03-08T07:00Z, 11-01T06:00Z, 10-25T01:00Z, 04-04T15:00Z.
            ("America/New_York", "0 30 2 * * *", 1_772_953_200),
            ("America/New_York", "0 */20 1-3 * * *", 1_772_953_200),
            ("America/New_York", "0 30 1 * * *", 1_793_512_800),
            ("America/New_York", "0 30 * * * *", 1_793_512_800),
            ("America/New_York", "0 0 * * * *", 1_772_953_200),
            ("Europe/London", "0 15 1 * * *", 1_792_890_000),
            ("Australia/Lord_Howe", "0 45 1 * * *", 1_775_314_800),
            ("Australia/Lord_Howe", "0 15 * * * *", 1_775_314_800),
            ("Australia/Lord_Howe", "0 0 2 * * *", 1_775_314_800),
        ];
        for (zone_name, expression, center) in cases {
            let tz = TimeZone::get(zone_name).unwrap();
            let oracle = Oracle::parse(expression).unwrap();
            let (low, high) = (center - DAY, center + DAY);
            let zone = ZoneOracle::new(&oracle, &tz, low, high);
            let scanned = zone.fire_times_by_seconds();
            let mut searched = Vec::new();
            let mut t = timestamp(low - 1);
            while let Some(next) = zone.next_after(t) {
                searched.push(next.as_second());
                t = next;
            }
            assert_eq!(searched, scanned, "{zone_name} {expression}");
            let mut backwards = Vec::new();
            let mut t = timestamp(high + 1);
            while let Some(prev) = zone.prev_before(t) {
                backwards.push(prev.as_second());
                t = prev;
            }
            backwards.reverse();
            assert_eq!(backwards, scanned, "{zone_name} {expression} backwards");
        }
    }
}
