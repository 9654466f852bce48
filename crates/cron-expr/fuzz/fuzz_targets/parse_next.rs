//! Parses arbitrary bytes as a cron expression; whatever parses must keep the invariants of the
//! API notes: next_after(t) > t and fires, prev_before(t) < t and fires, the iterator is strictly
//! increasing and agrees with next_after, Display round-trips, and the same in a time zone.

#![no_main]

use std::sync::OnceLock;

use cron_expr::{Schedule, TimeZone, Timestamp};
use libfuzzer_sys::fuzz_target;

/// Fixed start times: ordinary, a leap day, just before a New York spring-forward and fall-back,
/// near the year-field limit and near the end of jiff's range.
const STARTS: [i64; 6] = [
    1_767_225_600,   // 2026-01-01T00:00:00Z
    1_709_208_000,   // 2024-02-29T12:00:00Z
    1_772_952_000,   // 2026-03-08T06:40:00Z
    1_793_509_200,   // 2026-11-01T05:00:00Z
    4_102_358_400,   // 2099-12-31T00:00:00Z
    253_402_000_000, // 9999-12-28T12:26:40Z
];

const ZONES: [&str; 5] = [
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe",
    "Pacific/Apia",
    "America/Sao_Paulo",
];

fn zones() -> &'static [TimeZone] {
    static ZONES_LOADED: OnceLock<Vec<TimeZone>> = OnceLock::new();
    ZONES_LOADED.get_or_init(|| ZONES.iter().map(|z| TimeZone::get(z).unwrap()).collect())
}

/// FNV-1a, to derive one more start time and a zone from the input itself.
fn hash(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let schedule = match Schedule::parse(text) {
        Ok(schedule) => schedule,
        Err(error) => {
            // Errors must render and point inside (or just past) the input.
            let message = error.to_string();
            assert!(!message.is_empty());
            assert!(
                error.column() >= 1 && error.column() <= text.len() + 1,
                "{text:?}: {message}"
            );
            return;
        }
    };

    // Display round trip.
    let canonical = schedule.to_string();
    let again = Schedule::parse(&canonical)
        .unwrap_or_else(|e| panic!("{text:?} displays as {canonical:?}, which fails: {e}"));
    assert_eq!(again, schedule, "{text:?} -> {canonical:?}");
    assert_eq!(
        again.to_string(),
        canonical,
        "{text:?}: Display not canonical"
    );
    let _ = schedule.explain();

    let h = hash(data);
    // 1970..2100, with a sub-second part half the time.
    let extra = Timestamp::new(
        (h % 4_102_444_800) as i64,
        if h & 1 == 1 { 500_000_000 } else { 0 },
    )
    .unwrap();
    let tz = &zones()[(h >> 32) as usize % ZONES.len()];

    let starts = STARTS
        .iter()
        .map(|&s| Timestamp::from_second(s).unwrap())
        .chain([extra]);
    for t in starts {
        check_utc(text, &schedule, t);
        check_zone(text, &schedule, t, tz);
    }
});

fn check_utc(text: &str, schedule: &Schedule, t: Timestamp) {
    let t_fires = t.subsec_nanosecond() == 0 && schedule.matches(t);
    let next = schedule.next_after(t);
    if let Some(next) = next {
        assert!(next > t, "{text:?}: next_after({t}) = {next}");
        assert!(
            schedule.matches(next),
            "{text:?}: next_after({t}) = {next} does not match"
        );
        let back = schedule.prev_before(next);
        if t_fires {
            assert_eq!(back, Some(t), "{text:?}: prev_before(next_after({t}))");
        } else {
            assert!(
                back.is_none_or(|b| b < t),
                "{text:?}: prev_before(next_after({t})) = {back:?}"
            );
        }
    }
    if let Some(prev) = schedule.prev_before(t) {
        assert!(prev < t, "{text:?}: prev_before({t}) = {prev}");
        assert!(
            schedule.matches(prev),
            "{text:?}: prev_before({t}) = {prev} does not match"
        );
        let forward = schedule.next_after(prev);
        let expected = if t_fires { Some(t) } else { next };
        assert_eq!(forward, expected, "{text:?}: next_after(prev_before({t}))");
    }
    let mut cursor = t;
    for (i, item) in schedule.iter_after(t).take(4).enumerate() {
        assert!(
            item > cursor,
            "{text:?}: iter_after({t}) not increasing at {i}"
        );
        assert_eq!(
            schedule.next_after(cursor),
            Some(item),
            "{text:?}: iter_after({t}) item {i}"
        );
        cursor = item;
    }
}

fn check_zone(text: &str, schedule: &Schedule, t: Timestamp, tz: &TimeZone) {
    let zone = tz.iana_name().unwrap_or("?");
    let next = schedule.next_after_in(t, tz);
    if let Some(next) = next {
        assert!(next > t, "{text:?} in {zone}: next_after_in({t}) = {next}");
        assert!(
            schedule.matches_in(next, tz),
            "{text:?} in {zone}: next_after_in({t}) = {next} does not match"
        );
        let back = schedule.prev_before_in(next, tz);
        assert!(
            back.is_none_or(|b| b <= t),
            "{text:?} in {zone}: prev_before_in(next_after_in({t})) = {back:?}"
        );
    }
    if let Some(prev) = schedule.prev_before_in(t, tz) {
        assert!(prev < t, "{text:?} in {zone}: prev_before_in({t}) = {prev}");
        assert!(
            schedule.matches_in(prev, tz),
            "{text:?} in {zone}: prev_before_in({t}) = {prev} does not match"
        );
        let t_fires = t.subsec_nanosecond() == 0 && schedule.matches_in(t, tz);
        let expected = if t_fires { Some(t) } else { next };
        let forward = schedule.next_after_in(prev, tz);
        assert_eq!(
            forward, expected,
            "{text:?} in {zone}: next_after_in(prev_before_in({t}))"
        );
    }
    let mut cursor = t;
    for (i, item) in schedule.iter_after_in(t, tz).take(4).enumerate() {
        assert!(
            item > cursor,
            "{text:?} in {zone}: iter_after_in({t}) not increasing at {i}"
        );
        assert_eq!(
            schedule.next_after_in(cursor, tz),
            Some(item),
            "{text:?} in {zone}: iter_after_in({t}) item {i}"
        );
        cursor = item;
    }
}
