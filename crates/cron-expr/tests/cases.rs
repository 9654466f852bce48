//! The table: one line per case, expression + start time -> the next fire times.
//!
//! Every expected time was worked out by hand from a calendar (weekdays checked with
//! `date -u -d`), not copied from the implementation. Each helper first checks that the
//! oracle agrees with the table, so a slip in the table shows up as an oracle/table mismatch
//! rather than as a false implementation bug.

use cron_expr::{Schedule, TimeZone, Timestamp};

use crate::oracle::{Oracle, ZoneOracle};

/// How far the oracle may look for the next UTC fire time (about 55 years).
const HORIZON_DAYS: i64 = 20_000;

fn ts(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|e| panic!("bad timestamp {text:?} in the table: {e}"))
}

fn parse(expression: &str) -> Schedule {
    Schedule::parse(expression).unwrap_or_else(|e| panic!("{expression:?} should parse: {e}"))
}

fn oracle(expression: &str) -> Oracle {
    Oracle::parse(expression).unwrap_or_else(|e| panic!("oracle rejects {expression:?}: {e}"))
}

fn zone(name: &str) -> TimeZone {
    TimeZone::get(name).unwrap_or_else(|e| panic!("no time zone {name}: {e}"))
}

/// `expected` are the next fire times after `start` in UTC, in order. Each one must also be
/// reachable back with `prev_before` and must match.
fn check(expression: &str, start: &str, expected: &[&str]) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    let start = ts(start);
    let expected: Vec<Timestamp> = expected.iter().map(|t| ts(t)).collect();

    let mut from_oracle = Vec::new();
    let mut t = start;
    while from_oracle.len() < expected.len() {
        let next = reference
            .next_after(t, HORIZON_DAYS)
            .unwrap_or_else(|| panic!("table/oracle mismatch: oracle finds no more fire times for {expression:?} after {t}"));
        from_oracle.push(next);
        t = next;
    }
    assert_eq!(
        from_oracle, expected,
        "table/oracle mismatch for {expression:?} from {start}"
    );

    let mut chained = Vec::new();
    let mut t = start;
    while chained.len() < expected.len() {
        match schedule.next_after(t) {
            Some(next) => chained.push(next),
            None => break,
        }
        t = chained[chained.len() - 1];
    }
    assert_eq!(
        chained, expected,
        "next_after chain of {expression:?} from {start}"
    );
    let iterated: Vec<Timestamp> = schedule
        .iter_after(start)
        .take(expected.len() + 1)
        .collect();
    assert_eq!(
        &iterated[..expected.len().min(iterated.len())],
        &expected[..],
        "iter_after of {expression:?} from {start}"
    );
    for pair in expected.windows(2) {
        assert_eq!(
            schedule.prev_before(pair[1]),
            Some(pair[0]),
            "prev_before({}) of {expression:?}",
            pair[1]
        );
    }
    for &fire in &expected {
        assert!(schedule.matches(fire), "{expression:?} should match {fire}");
        let after = fire
            .checked_add(jiff::SignedDuration::from_secs(1))
            .unwrap();
        assert_eq!(
            schedule.matches(after),
            reference.matches_utc(after),
            "matches of {expression:?} at {after}"
        );
    }
}

/// The schedule never fires after `start`; the oracle proves it (the schedule has a year
/// field, so nothing can fire after 2099).
fn check_none_after(expression: &str, start: &str) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    assert!(
        reference.has_year_field(),
        "table error: a None case needs a year field"
    );
    let start = ts(start);
    let to_2100 = (ts("2100-01-01T00:00:00Z").as_second() - start.as_second()) / 86_400 + 2;
    assert_eq!(
        reference.next_after(start, to_2100.max(1)),
        None,
        "table/oracle mismatch for {expression:?}"
    );
    assert_eq!(
        schedule.next_after(start),
        None,
        "next_after of {expression:?} from {start}"
    );
    assert_eq!(
        schedule.iter_after(start).next(),
        None,
        "iter_after of {expression:?} from {start}"
    );
}

/// `expected` are the previous fire times before `start`, latest first.
fn check_prev(expression: &str, start: &str, expected: &[&str]) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    let start = ts(start);
    let expected: Vec<Timestamp> = expected.iter().map(|t| ts(t)).collect();

    let mut from_oracle = Vec::new();
    let mut t = start;
    while from_oracle.len() < expected.len() {
        let prev = reference.prev_before(t, HORIZON_DAYS).unwrap_or_else(|| {
            panic!("table/oracle mismatch: oracle finds no fire time for {expression:?} before {t}")
        });
        from_oracle.push(prev);
        t = prev;
    }
    assert_eq!(
        from_oracle, expected,
        "table/oracle mismatch for {expression:?} before {start}"
    );

    let mut chained = Vec::new();
    let mut t = start;
    while chained.len() < expected.len() {
        match schedule.prev_before(t) {
            Some(prev) => chained.push(prev),
            None => break,
        }
        t = chained[chained.len() - 1];
    }
    assert_eq!(
        chained, expected,
        "prev_before chain of {expression:?} before {start}"
    );
    for pair in expected.windows(2) {
        assert_eq!(
            schedule.next_after(pair[1]),
            Some(pair[0]),
            "next_after({}) of {expression:?}",
            pair[1]
        );
    }
}

/// Nothing fires before `start` (year field only, so the oracle can prove it).
fn check_none_before(expression: &str, start: &str) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    assert!(
        reference.has_year_field(),
        "table error: a None case needs a year field"
    );
    let start = ts(start);
    let since_1970 = start.as_second() / 86_400 + 2;
    assert_eq!(
        reference.prev_before(start, since_1970),
        None,
        "table/oracle mismatch for {expression:?}"
    );
    assert_eq!(
        schedule.prev_before(start),
        None,
        "prev_before of {expression:?} before {start}"
    );
}

/// Like `check`, in a time zone: `expected` are instants (written with their local offset
/// for readability).
fn check_in(expression: &str, zone_name: &str, start: &str, expected: &[&str]) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    let tz = zone(zone_name);
    let start = ts(start);
    let expected: Vec<Timestamp> = expected.iter().map(|t| ts(t)).collect();

    let high = expected.last().map_or(start.as_second(), |t| t.as_second()) + 86_400;
    let window = ZoneOracle::new(&reference, &tz, start.as_second() - 86_400, high);
    let mut from_oracle = Vec::new();
    let mut t = start;
    while from_oracle.len() < expected.len() {
        let Some(next) = window.next_after(t) else {
            break;
        };
        from_oracle.push(next);
        t = next;
    }
    assert_eq!(
        from_oracle, expected,
        "table/oracle mismatch for {expression:?} in {zone_name} from {start}"
    );

    let mut chained = Vec::new();
    let mut t = start;
    while chained.len() < expected.len() {
        match schedule.next_after_in(t, &tz) {
            Some(next) => chained.push(next),
            None => break,
        }
        t = chained[chained.len() - 1];
    }
    assert_eq!(
        chained, expected,
        "next_after_in of {expression:?} in {zone_name} from {start}"
    );
    let iterated: Vec<Timestamp> = schedule
        .iter_after_in(start, &tz)
        .take(expected.len())
        .collect();
    assert_eq!(
        iterated, expected,
        "iter_after_in of {expression:?} in {zone_name} from {start}"
    );
    for pair in expected.windows(2) {
        assert_eq!(
            schedule.prev_before_in(pair[1], &tz),
            Some(pair[0]),
            "prev_before_in({}) of {expression:?} in {zone_name}",
            pair[1]
        );
    }
    for &fire in &expected {
        assert!(
            schedule.matches_in(fire, &tz),
            "{expression:?} in {zone_name} should match {fire}"
        );
    }
}

/// Like `check_prev`, in a time zone.
fn check_prev_in(expression: &str, zone_name: &str, start: &str, expected: &[&str]) {
    let schedule = parse(expression);
    let reference = oracle(expression);
    let tz = zone(zone_name);
    let start = ts(start);
    let expected: Vec<Timestamp> = expected.iter().map(|t| ts(t)).collect();

    let low = expected.last().map_or(start.as_second(), |t| t.as_second()) - 86_400;
    let window = ZoneOracle::new(&reference, &tz, low, start.as_second() + 86_400);
    let mut from_oracle = Vec::new();
    let mut t = start;
    while from_oracle.len() < expected.len() {
        let Some(prev) = window.prev_before(t) else {
            break;
        };
        from_oracle.push(prev);
        t = prev;
    }
    assert_eq!(
        from_oracle, expected,
        "table/oracle mismatch for {expression:?} in {zone_name} before {start}"
    );

    let mut chained = Vec::new();
    let mut t = start;
    while chained.len() < expected.len() {
        match schedule.prev_before_in(t, &tz) {
            Some(prev) => chained.push(prev),
            None => break,
        }
        t = chained[chained.len() - 1];
    }
    assert_eq!(
        chained, expected,
        "prev_before_in of {expression:?} in {zone_name} before {start}"
    );
}

/// Whether `expression` fires at instant `at` in UTC.
fn check_matches(expression: &str, at: &str, expected: bool) {
    let at = ts(at);
    assert_eq!(
        oracle(expression).matches_utc(at),
        expected,
        "table/oracle mismatch for {expression:?} at {at}"
    );
    assert_eq!(
        parse(expression).matches(at),
        expected,
        "matches of {expression:?} at {at}"
    );
}

/// Whether `expression` fires at instant `at` in a time zone.
fn check_matches_in(expression: &str, zone_name: &str, at: &str, expected: bool) {
    let tz = zone(zone_name);
    let at = ts(at);
    let reference = oracle(expression);
    let window = ZoneOracle::new(
        &reference,
        &tz,
        at.as_second() - 86_400,
        at.as_second() + 86_400,
    );
    assert_eq!(
        window.fires(at.as_second()),
        expected,
        "table/oracle mismatch for {expression:?} in {zone_name} at {at}"
    );
    assert_eq!(
        parse(expression).matches_in(at, &tz),
        expected,
        "matches_in of {expression:?} in {zone_name} at {at}"
    );
}

#[test]
#[rustfmt::skip]
fn seed_example() {
    // 2026-11-29 is a Sunday: Monday 30 fires at 01:10:31 .. 01:15:31, then Tuesday.
    check("31 10-15 1 * * MON-FRI", "2026-11-29T00:00:00Z", &["2026-11-30T01:10:31Z", "2026-11-30T01:11:31Z", "2026-11-30T01:12:31Z", "2026-11-30T01:13:31Z", "2026-11-30T01:14:31Z", "2026-11-30T01:15:31Z", "2026-12-01T01:10:31Z"]);
    check("31 10-15 1 * * MON-FRI", "2026-11-27T01:15:31Z", &["2026-11-30T01:10:31Z"]);
    check("31 10-15 1 * * MON-FRI", "2026-11-30T01:12:00Z", &["2026-11-30T01:12:31Z", "2026-11-30T01:13:31Z"]);
}

#[test]
#[rustfmt::skip]
fn single_values_and_wildcards() {
    check("* * * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z", "2026-01-01T00:00:03Z"]);
    check("* * * * * *", "2026-12-31T23:59:59Z", &["2027-01-01T00:00:00Z", "2027-01-01T00:00:01Z"]);
    check("0 * * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]);
    check("30 * * * * *", "2026-01-01T00:00:30Z", &["2026-01-01T00:01:30Z", "2026-01-01T00:02:30Z"]);
    check("30 * * * * *", "2026-01-01T00:00:29Z", &["2026-01-01T00:00:30Z"]);
    check("0 0 12 * * *", "2026-01-01T12:00:00Z", &["2026-01-02T12:00:00Z", "2026-01-03T12:00:00Z"]);
    check("0 0 12 * * *", "2026-01-01T11:59:59Z", &["2026-01-01T12:00:00Z", "2026-01-02T12:00:00Z"]);
    check("59 59 23 * * *", "2026-02-28T23:59:58Z", &["2026-02-28T23:59:59Z", "2026-03-01T23:59:59Z"]);
    check("0 0 0 1 1 *", "2026-06-15T00:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]);
    check("7 8 9 10 11 *", "2026-01-01T00:00:00Z", &["2026-11-10T09:08:07Z", "2027-11-10T09:08:07Z"]);
    check("0 0 0 ? * *", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
    check("0 0 0 * * ?", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn five_fields_mean_seconds_zero() {
    check("* * * * *", "2026-01-01T00:00:30Z", &["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]);
    check("30 4 * * *", "2026-01-01T00:00:00Z", &["2026-01-01T04:30:00Z", "2026-01-02T04:30:00Z"]);
    check("0 9 * * MON-FRI", "2026-11-27T10:00:00Z", &["2026-11-30T09:00:00Z", "2026-12-01T09:00:00Z"]);
    check("*/15 * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:15:00Z", "2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z", "2026-01-01T01:00:00Z"]);
    check("0 0 L * *", "2026-01-01T00:00:00Z", &["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn sub_second_start_times() {
    check("* * * * * *", "2026-01-01T00:00:00.5Z", &["2026-01-01T00:00:01Z", "2026-01-01T00:00:02Z"]);
    check("* * * * * *", "2026-01-01T00:00:00.999999999Z", &["2026-01-01T00:00:01Z"]);
    check("0 0 0 * * *", "2026-01-01T00:00:00.000000001Z", &["2026-01-02T00:00:00Z"]);
    check("0 0 0 * * *", "2025-12-31T23:59:59.999Z", &["2026-01-01T00:00:00Z"]);
    check_prev("* * * * * *", "2026-01-01T00:00:00.5Z", &["2026-01-01T00:00:00Z", "2025-12-31T23:59:59Z"]);
    check_prev("0 0 0 * * *", "2026-01-01T00:00:00.000000001Z", &["2026-01-01T00:00:00Z", "2025-12-31T00:00:00Z"]);
    check_prev("0 0 0 * * *", "2026-01-01T00:00:00Z", &["2025-12-31T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn lists_ranges_and_steps() {
    check("0 5,10,55 * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:55:00Z", "2026-01-01T01:05:00Z"]);
    check("0 55,5,10 * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z", "2026-01-01T00:55:00Z"]);
    check("0 0 9-11 * * *", "2026-01-01T10:30:00Z", &["2026-01-01T11:00:00Z", "2026-01-02T09:00:00Z", "2026-01-02T10:00:00Z"]);
    check("0 0 5-5 * * *", "2026-01-01T10:30:00Z", &["2026-01-02T05:00:00Z", "2026-01-03T05:00:00Z"]);
    check("*/15 * * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:00:15Z", "2026-01-01T00:00:30Z", "2026-01-01T00:00:45Z", "2026-01-01T00:01:00Z"]);
    check("0 */20 * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:20:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:00:00Z"]);
    check("*/7 * * * * *", "2026-01-01T00:00:50Z", &["2026-01-01T00:00:56Z", "2026-01-01T00:01:00Z", "2026-01-01T00:01:07Z"]);
    check("5/20 * * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:00:05Z", "2026-01-01T00:00:25Z", "2026-01-01T00:00:45Z", "2026-01-01T00:01:05Z"]);
    check("0 10-40/15 * * * *", "2026-01-01T00:00:00Z", &["2026-01-01T00:10:00Z", "2026-01-01T00:25:00Z", "2026-01-01T00:40:00Z", "2026-01-01T01:10:00Z"]);
    check("0 0 */6 * * *", "2026-01-01T00:00:00Z", &["2026-01-01T06:00:00Z", "2026-01-01T12:00:00Z", "2026-01-01T18:00:00Z", "2026-01-02T00:00:00Z"]);
    check("0 0 20/3 * * *", "2026-01-01T00:00:00Z", &["2026-01-01T20:00:00Z", "2026-01-01T23:00:00Z", "2026-01-02T20:00:00Z"]);
    check("0 0 0 */10 * *", "2026-01-01T00:00:00Z", &["2026-01-11T00:00:00Z", "2026-01-21T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-11T00:00:00Z", "2026-02-21T00:00:00Z", "2026-03-01T00:00:00Z"]);
    check("0 0 0 1 */3 *", "2026-01-01T00:00:00Z", &["2026-04-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-10-01T00:00:00Z", "2027-01-01T00:00:00Z"]);
    check("0 0 0 1 2/5 *", "2026-01-01T00:00:00Z", &["2026-02-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-02-01T00:00:00Z"]);
    check("0 0 0 1 3-11/4 *", "2026-01-01T00:00:00Z", &["2026-03-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-11-01T00:00:00Z", "2027-03-01T00:00:00Z"]);
    check("0 0,30 8-9,17 * * *", "2026-01-01T08:15:00Z", &["2026-01-01T08:30:00Z", "2026-01-01T09:00:00Z", "2026-01-01T09:30:00Z", "2026-01-01T17:00:00Z", "2026-01-01T17:30:00Z", "2026-01-02T08:00:00Z"]);
    check("0 0 1-3,*/12 * * *", "2026-01-01T00:00:00Z", &["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z", "2026-01-01T03:00:00Z", "2026-01-01T12:00:00Z", "2026-01-02T00:00:00Z"]);
    check("0 0 0 1,15-16,28 * *", "2026-02-10T00:00:00Z", &["2026-02-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn month_names_case_insensitive() {
    check("0 0 0 1 JAN,jul *", "2026-02-01T00:00:00Z", &["2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z"]);
    check("0 0 0 15 mar-May *", "2026-01-01T00:00:00Z", &["2026-03-15T00:00:00Z", "2026-04-15T00:00:00Z", "2026-05-15T00:00:00Z", "2027-03-15T00:00:00Z"]);
    check("0 0 0 1 Dec *", "2026-01-01T00:00:00Z", &["2026-12-01T00:00:00Z", "2027-12-01T00:00:00Z"]);
    check("0 0 0 1 feb-AUG/3 *", "2026-01-01T00:00:00Z", &["2026-02-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-08-01T00:00:00Z", "2027-02-01T00:00:00Z"]);
    check("0 0 0 1 jun,1 *", "2026-01-01T00:00:00Z", &["2026-06-01T00:00:00Z", "2027-01-01T00:00:00Z"]);
    check("0 0 0 1 sEp-12 *", "2026-01-01T00:00:00Z", &["2026-09-01T00:00:00Z", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-09-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn weekdays_names_and_sunday_as_0_or_7() {
    // 2026-11-27 is a Friday.
    check("0 0 9 * * MON-FRI", "2026-11-27T10:00:00Z", &["2026-11-30T09:00:00Z", "2026-12-01T09:00:00Z", "2026-12-02T09:00:00Z"]);
    check("0 0 9 * * sat,SUN", "2026-11-27T10:00:00Z", &["2026-11-28T09:00:00Z", "2026-11-29T09:00:00Z", "2026-12-05T09:00:00Z"]);
    check("0 0 9 * * mon-fri", "2026-11-27T08:00:00Z", &["2026-11-27T09:00:00Z", "2026-11-30T09:00:00Z"]);
    check("0 0 0 * * 0", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("0 0 0 * * 7", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("0 0 0 * * SUN", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("0 0 0 * * 5-7", "2026-11-27T00:00:00Z", &["2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z", "2026-12-04T00:00:00Z"]);
    check("0 0 0 * * 0,7", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("0 0 0 * * 7,1", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-11-30T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("0 0 0 * * */2", "2026-11-27T00:00:00Z", &["2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z", "2026-12-01T00:00:00Z", "2026-12-03T00:00:00Z"]);
    check("0 0 0 * * 1-5/2", "2026-11-27T00:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-04T00:00:00Z"]);
    check("0 0 0 * * Mon,wed,FRI", "2026-11-27T00:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-04T00:00:00Z"]);
    check("0 0 0 * * SUN-SAT", "2026-11-27T00:00:00Z", &["2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"]);
    check("0 0 0 * * 0-7", "2026-11-27T00:00:00Z", &["2026-11-28T00:00:00Z", "2026-11-29T00:00:00Z"]);
    check("0 0 0 * * tue-THU", "2026-11-27T00:00:00Z", &["2026-12-01T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-03T00:00:00Z", "2026-12-08T00:00:00Z"]);
    check("0 0 0 * * MON-WED/2", "2026-11-27T00:00:00Z", &["2026-11-30T00:00:00Z", "2026-12-02T00:00:00Z", "2026-12-07T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn either_day_field_rule() {
    // Both restricted: the 13th OR a Friday (January 2026 starts on a Thursday).
    check("0 0 0 13 * FRI", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-13T00:00:00Z", "2026-01-16T00:00:00Z", "2026-01-23T00:00:00Z", "2026-01-30T00:00:00Z", "2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z"]);
    // Only one restricted: that one alone decides.
    check("0 0 0 13 * *", "2026-01-01T00:00:00Z", &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z", "2026-03-13T00:00:00Z"]);
    check("0 0 0 13 * ?", "2026-01-01T00:00:00Z", &["2026-01-13T00:00:00Z", "2026-02-13T00:00:00Z"]);
    check("0 0 0 ? * FRI", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z"]);
    check("0 0 0 * * FRI", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-16T00:00:00Z"]);
    // `*/2` counts as restricted: odd days OR Mondays.
    check("0 0 0 */2 * MON", "2026-01-01T00:00:00Z", &["2026-01-03T00:00:00Z", "2026-01-05T00:00:00Z", "2026-01-07T00:00:00Z", "2026-01-09T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-12T00:00:00Z", "2026-01-13T00:00:00Z"]);
    check("0 0 0 1 * */6", "2026-01-01T00:00:00Z", &["2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z", "2026-01-10T00:00:00Z", "2026-01-11T00:00:00Z", "2026-01-17T00:00:00Z"]);
    check("0 0 0 1 * */6", "2026-01-25T00:00:00Z", &["2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-07T00:00:00Z"]);
    // `1-31` is not `*`: every day.
    check("0 0 0 1-31 * MON", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z"]);
    check("0 0 0 15 * 0-6", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
    // With the special forms.
    check("0 0 0 1 * 1#2", "2026-01-01T00:00:00Z", &["2026-01-12T00:00:00Z", "2026-02-01T00:00:00Z", "2026-02-09T00:00:00Z", "2026-03-01T00:00:00Z", "2026-03-09T00:00:00Z"]);
    check("0 0 0 L * MON", "2026-01-25T00:00:00Z", &["2026-01-26T00:00:00Z", "2026-01-31T00:00:00Z", "2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z"]);
    check("0 0 0 15W * 5L", "2026-02-01T00:00:00Z", &["2026-02-16T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-16T00:00:00Z", "2026-03-27T00:00:00Z"]);
    // Only February: the 30th never exists, Mondays do.
    check("0 0 0 30 2 MON", "2026-01-01T00:00:00Z", &["2026-02-02T00:00:00Z", "2026-02-09T00:00:00Z", "2026-02-16T00:00:00Z", "2026-02-23T00:00:00Z", "2027-02-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn last_day_of_month() {
    check("0 0 0 L * *", "2026-01-01T00:00:00Z", &["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z"]);
    check("0 0 0 L * *", "2028-01-31T00:00:00Z", &["2028-02-29T00:00:00Z", "2028-03-31T00:00:00Z"]);
    check("0 0 0 L 2 *", "2099-03-01T00:00:00Z", &["2100-02-28T00:00:00Z", "2101-02-28T00:00:00Z", "2102-02-28T00:00:00Z", "2103-02-28T00:00:00Z", "2104-02-29T00:00:00Z"]);
    check("59 59 23 L * ?", "2026-04-30T23:59:58Z", &["2026-04-30T23:59:59Z", "2026-05-31T23:59:59Z"]);
    check("0 0 0 L-2 * *", "2026-01-01T00:00:00Z", &["2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z", "2026-03-29T00:00:00Z", "2026-04-28T00:00:00Z"]);
    check("0 0 0 L-1 2 *", "2027-03-01T00:00:00Z", &["2028-02-28T00:00:00Z", "2029-02-27T00:00:00Z"]);
    // Day 1 of 31-day months only: L-30 is before day 1 elsewhere.
    check("0 0 0 L-30 * *", "2026-01-01T00:00:00Z", &["2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-08-01T00:00:00Z", "2026-10-01T00:00:00Z", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"]);
    // February 1 of leap years only.
    check("0 0 0 L-28 2 *", "2026-01-01T00:00:00Z", &["2028-02-01T00:00:00Z", "2032-02-01T00:00:00Z"]);
    check("0 0 0 31 * *", "2026-01-01T00:00:00Z", &["2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z", "2026-12-31T00:00:00Z"]);
    check("0 0 0 30 * *", "2026-01-31T00:00:00Z", &["2026-03-30T00:00:00Z", "2026-04-30T00:00:00Z"]);
    check("0 0 0 29-31 * *", "2027-01-31T00:00:00Z", &["2027-03-29T00:00:00Z", "2027-03-30T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn nearest_weekday() {
    // 2026: Feb 15 and Mar 15 are Sundays (-> Monday 16), Aug 15 a Saturday (-> Friday 14).
    check("0 0 0 15W * *", "2026-01-01T00:00:00Z", &["2026-01-15T00:00:00Z", "2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-15T00:00:00Z", "2026-05-15T00:00:00Z", "2026-06-15T00:00:00Z", "2026-07-15T00:00:00Z", "2026-08-14T00:00:00Z"]);
    // 1W never goes back into the previous month: Saturday Aug 1 -> Monday Aug 3.
    check("0 0 0 1W * *", "2026-01-01T00:00:00Z", &["2026-02-02T00:00:00Z", "2026-03-02T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-07-01T00:00:00Z", "2026-08-03T00:00:00Z", "2026-09-01T00:00:00Z"]);
    // 31W: only 31-day months; Sunday May 31 -> Friday 29, Saturday Jan/Oct 31 -> Friday 30.
    check("0 0 0 31W * *", "2026-01-01T00:00:00Z", &["2026-01-30T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-29T00:00:00Z", "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z", "2026-10-30T00:00:00Z", "2026-12-31T00:00:00Z"]);
    // 29W in February: leap years only; Sunday 2032-02-29 -> Friday 27.
    check("0 0 0 29W 2 *", "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-27T00:00:00Z", "2036-02-29T00:00:00Z"]);
    // 30W in a 30-day month: Sunday Nov 30 2025 -> Friday 28; Sunday Aug 30 2026 -> Monday 31.
    check("0 0 0 30W 11 *", "2025-01-01T00:00:00Z", &["2025-11-28T00:00:00Z", "2026-11-30T00:00:00Z"]);
    check("0 0 0 30W 8 *", "2026-01-01T00:00:00Z", &["2026-08-31T00:00:00Z"]);
    check("0 0 0 LW * *", "2026-01-01T00:00:00Z", &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z", "2026-04-30T00:00:00Z", "2026-05-29T00:00:00Z", "2026-06-30T00:00:00Z"]);
    check("0 30 17 LW * ?", "2026-01-30T17:30:00Z", &["2026-02-27T17:30:00Z"]);
}

#[test]
#[rustfmt::skip]
fn last_and_nth_weekday_of_month() {
    check("0 0 0 * * 5L", "2026-01-01T00:00:00Z", &["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z", "2026-04-24T00:00:00Z", "2026-05-29T00:00:00Z"]);
    check("0 0 0 ? * 0L", "2026-01-01T00:00:00Z", &["2026-01-25T00:00:00Z", "2026-02-22T00:00:00Z", "2026-03-29T00:00:00Z", "2026-04-26T00:00:00Z"]);
    check("0 0 0 ? * 1#1", "2026-01-01T00:00:00Z", &["2026-01-05T00:00:00Z", "2026-02-02T00:00:00Z", "2026-03-02T00:00:00Z", "2026-04-06T00:00:00Z"]);
    check("0 0 0 * * 5#3", "2026-01-01T00:00:00Z", &["2026-01-16T00:00:00Z", "2026-02-20T00:00:00Z", "2026-03-20T00:00:00Z", "2026-04-17T00:00:00Z"]);
    check("0 0 0 ? * 2#5", "2026-01-01T00:00:00Z", &["2026-03-31T00:00:00Z", "2026-06-30T00:00:00Z", "2026-09-29T00:00:00Z", "2026-12-29T00:00:00Z"]);
    check("0 0 0 ? * 0#1", "2026-01-01T00:00:00Z", &["2026-01-04T00:00:00Z", "2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]);
    // Five Mondays in February: only when Feb 29 is a Monday (2016, 2044).
    check("0 0 0 ? 2 1#5", "2026-01-01T00:00:00Z", &["2044-02-29T00:00:00Z"]);
    check_prev("0 0 0 ? 2 1#5", "2026-01-01T00:00:00Z", &["2016-02-29T00:00:00Z"]);
    check("0 0 12 ? * 6L", "2026-10-31T12:00:00Z", &["2026-11-28T12:00:00Z", "2026-12-26T12:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn leap_years() {
    check("0 0 0 29 2 *", "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z"]);
    // 2100 is not a leap year.
    check("0 0 0 29 2 *", "2096-03-01T00:00:00Z", &["2104-02-29T00:00:00Z", "2108-02-29T00:00:00Z"]);
    // 2000 was.
    check("0 0 0 29 2 *", "1999-01-01T00:00:00Z", &["2000-02-29T00:00:00Z", "2004-02-29T00:00:00Z"]);
    check("0 0 0 29 2 *", "2028-02-29T00:00:00Z", &["2032-02-29T00:00:00Z"]);
    check("0 0 0 28-29 2 *", "2027-02-28T00:00:00Z", &["2028-02-28T00:00:00Z", "2028-02-29T00:00:00Z", "2029-02-28T00:00:00Z"]);
    check_prev("0 0 0 29 2 *", "2104-02-29T00:00:00Z", &["2096-02-29T00:00:00Z", "2092-02-29T00:00:00Z"]);
    check("0 0 0 1 3 *", "2028-02-28T12:00:00Z", &["2028-03-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn year_boundaries() {
    check("59 59 23 31 12 *", "2026-12-31T23:59:59Z", &["2027-12-31T23:59:59Z"]);
    check("0 0 0 * * *", "2026-12-31T12:00:00Z", &["2027-01-01T00:00:00Z", "2027-01-02T00:00:00Z"]);
    check("0 0 0 1 * *", "2026-12-01T00:00:00Z", &["2027-01-01T00:00:00Z", "2027-02-01T00:00:00Z"]);
    check_prev("0 0 0 31 12 *", "2027-01-01T00:00:00Z", &["2026-12-31T00:00:00Z", "2025-12-31T00:00:00Z"]);
    check_prev("0 0 0 1 1 *", "1970-01-01T00:00:00Z", &["1969-01-01T00:00:00Z", "1968-01-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn year_field() {
    check("0 0 0 1 1 * 2030", "2026-01-01T00:00:00Z", &["2030-01-01T00:00:00Z"]);
    check_none_after("0 0 0 1 1 * 2030", "2030-01-01T00:00:00Z");
    check("0 0 0 1 1 * 2027-2029", "2026-01-01T00:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z"]);
    check_none_after("0 0 0 1 1 * 2027-2029", "2029-01-01T00:00:00Z");
    check("0 0 0 1 1 * */10", "2026-01-01T00:00:00Z", &["2030-01-01T00:00:00Z", "2040-01-01T00:00:00Z", "2050-01-01T00:00:00Z"]);
    check_none_after("0 0 0 1 1 * */10", "2090-01-01T00:00:00Z");
    check("0 0 0 1 1 * 2031/20", "2026-01-01T00:00:00Z", &["2031-01-01T00:00:00Z", "2051-01-01T00:00:00Z", "2071-01-01T00:00:00Z", "2091-01-01T00:00:00Z"]);
    check("0 0 0 1 1 * 2026,2028,2035", "2026-01-01T00:00:00Z", &["2028-01-01T00:00:00Z", "2035-01-01T00:00:00Z"]);
    check("0 0 12 * * * 2099", "2099-12-30T12:00:00Z", &["2099-12-31T12:00:00Z"]);
    check_none_after("0 0 12 * * * 2099", "2099-12-31T12:00:00Z");
    // `*` in the year field means 1970-2099.
    check_none_after("0 0 0 * * * *", "2099-12-31T00:00:00Z");
    check("0 0 0 * * * *", "2099-12-30T00:00:00Z", &["2099-12-31T00:00:00Z"]);
    // Entirely in the past: parses, never fires again, but has previous fire times.
    check_none_after("0 0 0 1 1 * 1990", "2026-01-01T00:00:00Z");
    check_prev("0 0 0 1 1 * 1990", "2026-01-01T00:00:00Z", &["1990-01-01T00:00:00Z"]);
    check_none_before("0 0 0 1 1 * 1990", "1990-01-01T00:00:00Z");
    check_none_before("0 0 0 1 1 * 2030", "2026-01-01T00:00:00Z");
    check_none_after("* * * * * * 1970-2000", "2000-12-31T23:59:59Z");
    check("0 0 0 29 2 * 2028-2040", "2026-01-01T00:00:00Z", &["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z", "2040-02-29T00:00:00Z"]);
    check_none_after("0 0 0 29 2 * 2028-2040", "2040-02-29T00:00:00Z");
    check_prev("0 0 0 1 1 * 1970", "2000-01-01T00:00:00Z", &["1970-01-01T00:00:00Z"]);
    // Five fields are never a year: 7 fields with seconds.
    check("30 0 0 1 1 * 2027", "2026-01-01T00:00:00Z", &["2027-01-01T00:00:30Z"]);
}

#[test]
#[rustfmt::skip]
fn macros() {
    check("@yearly", "2026-06-15T00:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]);
    check("@annually", "2026-06-15T00:00:00Z", &["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z"]);
    check("@monthly", "2026-01-15T00:00:00Z", &["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]);
    // 2026-11-27 is a Friday; weekly is Sunday midnight.
    check("@weekly", "2026-11-27T00:00:00Z", &["2026-11-29T00:00:00Z", "2026-12-06T00:00:00Z"]);
    check("@daily", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
    check("@midnight", "2026-01-01T00:00:00Z", &["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"]);
    check("@hourly", "2026-01-01T00:30:00Z", &["2026-01-01T01:00:00Z", "2026-01-01T02:00:00Z"]);
    check_prev("@hourly", "2026-01-01T00:30:00Z", &["2026-01-01T00:00:00Z", "2025-12-31T23:00:00Z"]);
    check_prev("@yearly", "2026-01-01T00:00:00Z", &["2025-01-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn previous_fire_times() {
    check_prev("0 0 12 * * *", "2026-01-01T12:00:00Z", &["2025-12-31T12:00:00Z", "2025-12-30T12:00:00Z"]);
    check_prev("0 0 12 * * *", "2026-01-01T12:00:01Z", &["2026-01-01T12:00:00Z", "2025-12-31T12:00:00Z"]);
    check_prev("31 10-15 1 * * MON-FRI", "2026-12-01T01:10:31Z", &["2026-11-30T01:15:31Z", "2026-11-30T01:14:31Z"]);
    check_prev("31 10-15 1 * * MON-FRI", "2026-11-30T00:00:00Z", &["2026-11-27T01:15:31Z"]);
    check_prev("0 0 0 L * *", "2026-03-01T00:00:00Z", &["2026-02-28T00:00:00Z", "2026-01-31T00:00:00Z", "2025-12-31T00:00:00Z"]);
    check_prev("0 0 0 15W * *", "2026-04-01T00:00:00Z", &["2026-03-16T00:00:00Z", "2026-02-16T00:00:00Z", "2026-01-15T00:00:00Z"]);
    check_prev("0 0 0 * * 5#3", "2026-03-01T00:00:00Z", &["2026-02-20T00:00:00Z", "2026-01-16T00:00:00Z"]);
    check_prev("0 0 0 13 * FRI", "2026-01-13T00:00:00Z", &["2026-01-09T00:00:00Z", "2026-01-02T00:00:00Z"]);
    check_prev("*/15 * * * * *", "2026-01-01T00:00:00Z", &["2025-12-31T23:59:45Z", "2025-12-31T23:59:30Z"]);
    check_prev("0 0 0 1 1 * 2027-2029", "2040-01-01T00:00:00Z", &["2029-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2027-01-01T00:00:00Z"]);
    check_none_before("0 0 0 1 1 * 2027-2029", "2027-01-01T00:00:00Z");
}

#[test]
#[rustfmt::skip]
fn end_of_time() {
    // jiff's last instant is 9999-12-30T22:00:00.999999999Z; nothing fires after it.
    let yearly = parse("0 0 0 1 1 *");
    assert_eq!(yearly.next_after(ts("9999-06-01T00:00:00Z")), None);
    assert_eq!(
        yearly.prev_before(ts("9999-06-01T00:00:00Z")),
        Some(ts("9999-01-01T00:00:00Z"))
    );
    let late = parse("0 0 22 30 12 *");
    assert_eq!(
        late.next_after(ts("9999-06-01T00:00:00Z")),
        Some(ts("9999-12-30T22:00:00Z"))
    );
    assert_eq!(late.next_after(ts("9999-12-30T22:00:00Z")), None);
    assert_eq!(
        parse("0 0 0 31 12 *").next_after(ts("9999-06-01T00:00:00Z")),
        None
    );
    let every_second = parse("* * * * * *");
    assert_eq!(
        every_second.next_after(ts("9999-12-30T21:59:59Z")),
        Some(ts("9999-12-30T22:00:00Z"))
    );
    assert_eq!(every_second.next_after(Timestamp::MAX), None);
    assert_eq!(every_second.iter_after(Timestamp::MAX).next(), None);
    assert_eq!(
        every_second.prev_before(Timestamp::MAX),
        Some(ts("9999-12-30T22:00:00Z"))
    );
    assert_eq!(
        parse("0 0 0 29 2 *").next_after(ts("9997-01-01T00:00:00Z")),
        None
    );
    // And nothing before jiff's first instant, -009999-01-02T01:59:59Z.
    assert_eq!(every_second.prev_before(Timestamp::MIN), None);
    assert_eq!(
        every_second.next_after(Timestamp::MIN),
        Some(ts("-009999-01-02T02:00:00Z"))
    );
    // Far from the search's usual range, in a time zone too: no panic, sensible answers.
    let tz = zone("America/New_York");
    assert_eq!(yearly.next_after_in(ts("9999-06-01T00:00:00Z"), &tz), None);
    assert_eq!(every_second.next_after_in(Timestamp::MAX, &tz), None);
    assert_eq!(every_second.prev_before_in(Timestamp::MIN, &tz), None);
}

#[test]
#[rustfmt::skip]
fn matching_single_instants() {
    check_matches("31 10-15 1 * * MON-FRI", "2026-11-30T01:12:31Z", true);
    check_matches("31 10-15 1 * * MON-FRI", "2026-11-29T01:12:31Z", false);
    check_matches("31 10-15 1 * * MON-FRI", "2026-11-30T01:12:30Z", false);
    check_matches("31 10-15 1 * * MON-FRI", "2026-11-30T01:16:31Z", false);
    check_matches("0 0 0 L * *", "2028-02-29T00:00:00Z", true);
    check_matches("0 0 0 L * *", "2028-02-28T00:00:00Z", false);
    check_matches("0 0 0 13 * FRI", "2026-01-13T00:00:00Z", true);
    check_matches("0 0 0 13 * FRI", "2026-01-16T00:00:00Z", true);
    check_matches("0 0 0 13 * FRI", "2026-01-14T00:00:00Z", false);
    check_matches("0 0 0 1 1 * 1990", "1990-01-01T00:00:00Z", true);
    check_matches("0 0 0 1 1 * 1990", "1991-01-01T00:00:00Z", false);
    check_matches("@hourly", "2026-05-05T05:00:00Z", true);
    check_matches("@hourly", "2026-05-05T05:00:01Z", false);
}

#[test]
#[rustfmt::skip]
fn new_york_spring_forward() {
    // 2026-03-08: 02:00 EST becomes 03:00 EDT at 07:00Z; 02:00-02:59 local do not exist.
    check_in("0 30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00", "2026-03-10T02:30:00-04:00"]);
    check_in("0 0 2 * * *", "America/New_York", "2026-03-07T12:00:00Z", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]);
    // Several gap times collapse into one fire at the transition.
    check_in("0 0,30 2 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
    check_in("0 * 2 * * *", "America/New_York", "2026-03-08T01:59:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00", "2026-03-09T02:01:00-04:00"]);
    check_in("0 */15 2-3 * * *", "America/New_York", "2026-03-08T01:00:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-08T03:45:00-04:00", "2026-03-09T02:00:00-04:00"]);
    check_in("0 30 1-3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T01:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T03:30:00-04:00", "2026-03-09T01:30:00-04:00"]);
    // Hour `*`: gap times simply do not fire.
    check_in("0 30 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T00:30:00-05:00", "2026-03-08T01:30:00-05:00", "2026-03-08T03:30:00-04:00", "2026-03-08T04:30:00-04:00"]);
    check_in("0 0 * * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]);
    check_in("@hourly", "America/New_York", "2026-03-08T01:00:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]);
    // Only an hour field of exactly `*` is the exception: `*/1` and `0-23` follow the gap rule.
    check_in("0 15 */1 * * *", "America/New_York", "2026-03-08T01:30:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]);
    check_in("0 15 0-23 * * *", "America/New_York", "2026-03-08T01:30:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-08T03:15:00-04:00"]);
    // Times around the gap are untouched.
    check_in("59 59 1 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T01:59:59-05:00", "2026-03-09T01:59:59-04:00"]);
    check_in("0 0 3 * * *", "America/New_York", "2026-03-08T00:00:00-05:00", &["2026-03-08T03:00:00-04:00", "2026-03-09T03:00:00-04:00"]);
    check_prev_in("0 30 2 * * *", "America/New_York", "2026-03-09T00:00:00-04:00", &["2026-03-08T03:00:00-04:00", "2026-03-07T02:30:00-05:00"]);
    check_prev_in("0 30 * * * *", "America/New_York", "2026-03-08T04:00:00-04:00", &["2026-03-08T03:30:00-04:00", "2026-03-08T01:30:00-05:00"]);
    check_matches_in("0 30 2 * * *", "America/New_York", "2026-03-08T07:00:00Z", true);
    check_matches_in("0 30 * * * *", "America/New_York", "2026-03-08T07:00:00Z", false);
    check_matches_in("0 30 2 * * *", "America/New_York", "2026-03-08T06:59:59Z", false);
}

#[test]
#[rustfmt::skip]
fn new_york_fall_back() {
    // 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z; 01:00-01:59 local happen twice.
    check_in("0 30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z", &["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]);
    check_in("0 0 1 * * *", "America/New_York", "2026-11-01T00:30:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-02T01:00:00-05:00"]);
    check_in("0 0 2 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T02:00:00-05:00", "2026-11-02T02:00:00-05:00"]);
    check_in("0 */20 1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T01:20:00-04:00", "2026-11-01T01:40:00-04:00", "2026-11-02T01:00:00-05:00"]);
    // Started inside the second 01:xx: the repeated times have already fired.
    check_in("0 30 1 * * *", "America/New_York", "2026-11-01T01:10:00-05:00", &["2026-11-02T01:30:00-05:00"]);
    check_in("0 0 0-3 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"]);
    // Hour `*`: both occurrences fire.
    check_in("0 30 * * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:30:00-05:00"]);
    // Only an hour field of exactly `*` is the exception: `0-23` fires at first occurrences.
    check_in("0 30 0-23 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00"]);
    check_in("0 30 */1 * * *", "America/New_York", "2026-11-01T00:00:00-04:00", &["2026-11-01T00:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:30:00-05:00"]);
    check_in("@hourly", "America/New_York", "2026-11-01T00:30:00-04:00", &["2026-11-01T01:00:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"]);
    check_in("0 0,30 * * * *", "America/New_York", "2026-11-01T01:00:00-04:00", &["2026-11-01T01:30:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"]);
    check_prev_in("0 30 1 * * *", "America/New_York", "2026-11-01T02:00:00-05:00", &["2026-11-01T01:30:00-04:00", "2026-10-31T01:30:00-04:00"]);
    check_prev_in("0 30 * * * *", "America/New_York", "2026-11-01T02:00:00-05:00", &["2026-11-01T01:30:00-05:00", "2026-11-01T01:30:00-04:00", "2026-11-01T00:30:00-04:00"]);
    check_matches_in("0 30 1 * * *", "America/New_York", "2026-11-01T05:30:00Z", true);
    check_matches_in("0 30 1 * * *", "America/New_York", "2026-11-01T06:30:00Z", false);
    check_matches_in("0 30 * * * *", "America/New_York", "2026-11-01T06:30:00Z", true);
}

#[test]
#[rustfmt::skip]
fn london() {
    // 2026-03-29: 01:00 GMT becomes 02:00 BST at 01:00Z; 01:00-01:59 local do not exist.
    check_in("0 30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", &["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]);
    check_in("0 0 1 * * *", "Europe/London", "2026-03-28T12:00:00Z", &["2026-03-29T02:00:00+01:00", "2026-03-30T01:00:00+01:00"]);
    check_in("0 0 2 * * *", "Europe/London", "2026-03-28T12:00:00Z", &["2026-03-29T02:00:00+01:00", "2026-03-30T02:00:00+01:00"]);
    check_in("0 15 * * * *", "Europe/London", "2026-03-29T00:00:00Z", &["2026-03-29T00:15:00+00:00", "2026-03-29T02:15:00+01:00"]);
    // 2026-10-25: 02:00 BST becomes 01:00 GMT at 01:00Z; 01:00-01:59 local happen twice.
    check_in("0 30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z", &["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]);
    check_in("0 15 * * * *", "Europe/London", "2026-10-25T00:00:00+01:00", &["2026-10-25T00:15:00+01:00", "2026-10-25T01:15:00+01:00", "2026-10-25T01:15:00+00:00", "2026-10-25T02:15:00+00:00"]);
    check_in("@daily", "Europe/London", "2026-10-24T12:00:00Z", &["2026-10-25T00:00:00+01:00", "2026-10-26T00:00:00+00:00"]);
    check_prev_in("0 30 1 * * *", "Europe/London", "2026-10-26T00:00:00Z", &["2026-10-25T01:30:00+01:00", "2026-10-24T01:30:00+01:00"]);
    check_matches_in("0 0 1 * * *", "Europe/London", "2026-03-29T01:00:00Z", true);
}

#[test]
#[rustfmt::skip]
fn other_zones() {
    // Sao Paulo 2018-11-04: midnight did not exist (00:00 -03 became 01:00 -02 at 03:00Z).
    check_in("@daily", "America/Sao_Paulo", "2018-11-03T12:00:00Z", &["2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"]);
    // Lord Howe moves by 30 minutes: 2026-04-05 02:00 +11 becomes 01:30 +10:30 at 15:00Z.
    check_in("0 45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z", &["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]);
    check_in("0 45 * * * *", "Australia/Lord_Howe", "2026-04-05T01:00:00+11:00", &["2026-04-05T01:45:00+11:00", "2026-04-05T01:45:00+10:30", "2026-04-05T02:45:00+10:30"]);
    // 2026-10-04 02:00 +10:30 becomes 02:30 +11 at 15:30Z: 02:00-02:29 do not exist.
    check_in("0 15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", &["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]);
    check_in("0 15 * * * *", "Australia/Lord_Howe", "2026-10-04T01:00:00+10:30", &["2026-10-04T01:15:00+10:30", "2026-10-04T03:15:00+11:00"]);
    check_in("0 45 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z", &["2026-10-04T02:45:00+11:00", "2026-10-05T02:45:00+11:00"]);
    // A zone without DST behaves like a fixed offset.
    check_in("0 0 9 * * MON-FRI", "Asia/Kolkata", "2026-11-27T00:00:00Z", &["2026-11-27T09:00:00+05:30", "2026-11-30T09:00:00+05:30"]);
    check_in("0 0 0 L * *", "Asia/Tokyo", "2026-01-31T00:00:00+09:00", &["2026-02-28T00:00:00+09:00"]);
    check_in("0 0 0 1 1 *", "UTC", "2026-06-01T00:00:00Z", &["2027-01-01T00:00:00Z"]);
}

#[test]
#[rustfmt::skip]
fn explain_describes_something() {
    for expression in [
        "31 10-15 1 * * MON-FRI",
        "@daily",
        "0 0 0 L * *",
        "0 0 0 ? * 5#3",
        "0 0 0 1 1 * 2030",
    ] {
        assert!(
            !parse(expression).explain().trim().is_empty(),
            "{expression:?}"
        );
    }
}
