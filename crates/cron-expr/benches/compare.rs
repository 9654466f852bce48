//! Side-by-side benchmarks: `cron-expr` against the `cron`, `croner` and `saffron` crates.
//!
//! Every criterion group holds the same piece of work done by each crate, so the report compares
//! them directly. Expressions are parsed and instants prepared before the timed closures, which
//! see their inputs through `black_box`. All times are UTC.
//!
//! Before a group is timed, each crate's answer is checked once against a value worked out by
//! hand (or, for the 1,000-element iterator, by a brute-force minute walk). A crate that answers
//! wrongly is still timed, but the check prints a line starting with `answer check: WRONG`, and
//! `docs/PERFORMANCE.md` marks that cell: a fast wrong answer is not a win.
//!
//! Not every pattern can be written for every peer. `saffron` has no seconds field (it takes five
//! fields and fires at second 0), has no `?`, and numbers weekdays 1-7 from Sunday; `cron` has no
//! `L` and no `#`. A crate that cannot express a pattern has no entry in that group.
//!
//! Run with `cargo bench -p cron-expr --bench compare`; it takes a few minutes.

use std::hint::black_box;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use cron_expr::{Schedule, Timestamp};

criterion_group! {
    name = benches;
    config = quick_config();
    targets = compare_crates
}
criterion_main!(benches);

/// The expression the parse group times: the example from the project's seed.
const PARSE_EXPRESSION: &str = "31 10-15 1 * * MON-FRI";

/// How many consecutive fire times the iterator group takes.
const ITERATED_FIRE_TIMES: usize = 1_000;

/// Where the iterator group starts: a Monday midnight, strictly before the first fire time.
const ITERATION_START: &str = "2026-05-11T00:00:00Z";

/// The patterns of the `matches` and `next_after` groups, as each crate writes them.
const CASES: [Case; 5] = [
    Case {
        name: "every_second",
        ours: "* * * * * *",
        cron: Some("* * * * * *"),
        croner: Some("* * * * * *"),
        saffron: None,
        fires_at: "2026-05-13T10:15:42Z",
        quiet_at: None,
        start: "2026-05-13T10:15:42Z",
        expected_next: "2026-05-13T10:15:43Z",
    },
    Case {
        name: "business_hours",
        ours: "0 */15 9-17 * * MON-FRI",
        cron: Some("0 */15 9-17 * * MON-FRI"),
        croner: Some("0 */15 9-17 * * MON-FRI"),
        saffron: Some("*/15 9-17 * * MON-FRI"),
        fires_at: "2026-05-13T10:15:00Z",
        // A Saturday.
        quiet_at: Some("2026-05-16T10:15:00Z"),
        // The last fire time of a Friday: the next one is after the weekend.
        start: "2026-05-15T17:45:00Z",
        expected_next: "2026-05-18T09:00:00Z",
    },
    Case {
        name: "sparse_feb29",
        ours: "0 0 0 29 2 *",
        cron: Some("0 0 0 29 2 *"),
        croner: Some("0 0 0 29 2 *"),
        saffron: Some("0 0 29 2 *"),
        fires_at: "2024-02-29T00:00:00Z",
        quiet_at: Some("2023-03-01T00:00:00Z"),
        // 2100 is not a leap year, so the search must run past it.
        start: "2097-01-01T00:00:00Z",
        expected_next: "2104-02-29T00:00:00Z",
    },
    Case {
        name: "last_day_of_month",
        ours: "0 0 12 L * *",
        cron: None,
        croner: Some("0 0 12 L * *"),
        saffron: Some("0 12 L * *"),
        fires_at: "2026-04-30T12:00:00Z",
        quiet_at: Some("2026-04-29T12:00:00Z"),
        start: "2026-01-31T12:00:00Z",
        expected_next: "2026-02-28T12:00:00Z",
    },
    Case {
        name: "third_friday",
        ours: "0 0 12 ? * 5#3",
        cron: None,
        croner: Some("0 0 12 ? * 5#3"),
        // saffron counts weekdays from Sunday = 1 and has no `?`.
        saffron: Some("0 12 * * FRI#3"),
        fires_at: "2026-05-15T12:00:00Z",
        // The fourth Friday.
        quiet_at: Some("2026-05-22T12:00:00Z"),
        start: "2026-05-15T12:00:00Z",
        expected_next: "2026-06-19T12:00:00Z",
    },
];

/// The business-hours case, which the iterator group also uses.
const BUSINESS_HOURS: &Case = &CASES[1];

/// One schedule as each crate writes it, with the instants its groups use.
struct Case {
    /// The suffix of the criterion group names.
    name: &'static str,
    /// The expression for `cron-expr`.
    ours: &'static str,
    /// The same schedule for each peer, or `None` where the peer cannot express it.
    cron: Option<&'static str>,
    croner: Option<&'static str>,
    saffron: Option<&'static str>,
    /// An instant at which the schedule fires: the input of the `matches` group.
    fires_at: &'static str,
    /// An instant at which it does not fire, where one exists: checked, not timed.
    quiet_at: Option<&'static str>,
    /// The input of the `next_after` group.
    start: &'static str,
    /// The smallest fire time strictly after `start`, worked out by hand.
    expected_next: &'static str,
}

/// Each crate's parsed form of one case.
struct ParsedCase {
    ours: Schedule,
    cron: Option<cron::Schedule>,
    croner: Option<croner::Cron>,
    saffron: Option<saffron::Cron>,
}

/// Short enough to run by hand in a few minutes; the groups are small and steady.
fn quick_config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50)
}

fn compare_crates(criterion: &mut Criterion) {
    bench_parse(criterion);
    for case in &CASES {
        let parsed = parse_case(case);
        bench_matches(criterion, case, &parsed);
        bench_next_after(criterion, case, &parsed);
    }
    bench_iterate_business_hours(criterion);
}

fn bench_parse(criterion: &mut Criterion) {
    let expression = PARSE_EXPRESSION;
    check_parses("parse", "cron-expr", Schedule::parse(expression).is_ok());
    check_parses(
        "parse",
        "cron",
        cron::Schedule::from_str(expression).is_ok(),
    );
    check_parses(
        "parse",
        "croner",
        croner::Cron::from_str(expression).is_ok(),
    );

    let mut group = criterion.benchmark_group("parse");
    group.bench_function("cron-expr", |bencher| {
        bencher.iter(|| Schedule::parse(black_box(expression)))
    });
    group.bench_function("cron", |bencher| {
        bencher.iter(|| cron::Schedule::from_str(black_box(expression)))
    });
    group.bench_function("croner", |bencher| {
        bencher.iter(|| croner::Cron::from_str(black_box(expression)))
    });
    // saffron: no seconds field, so `31 10-15 1 * * MON-FRI` has no saffron form.
    group.finish();
}

fn bench_matches(criterion: &mut Criterion, case: &Case, parsed: &ParsedCase) {
    let label = format!("matches_{}", case.name);
    let jiff_time = jiff_timestamp(case.fires_at);
    let chrono_time = chrono_timestamp(case.fires_at);

    check_matches(&label, "cron-expr", case, |text| {
        parsed.ours.matches(jiff_timestamp(text))
    });
    if let Some(schedule) = &parsed.cron {
        check_matches(&label, "cron", case, |text| {
            schedule.includes(chrono_timestamp(text))
        });
    }
    if let Some(schedule) = &parsed.croner {
        check_matches(&label, "croner", case, |text| {
            schedule
                .is_time_matching(&chrono_timestamp(text))
                .unwrap_or(false)
        });
    }
    if let Some(schedule) = &parsed.saffron {
        check_matches(&label, "saffron", case, |text| {
            schedule.contains(chrono_timestamp(text))
        });
    }

    let mut group = criterion.benchmark_group(label);
    let ours = &parsed.ours;
    group.bench_function("cron-expr", |bencher| {
        bencher.iter(|| black_box(ours).matches(black_box(jiff_time)))
    });
    if let Some(schedule) = &parsed.cron {
        group.bench_function("cron", |bencher| {
            bencher.iter(|| black_box(schedule).includes(black_box(chrono_time)))
        });
    }
    if let Some(schedule) = &parsed.croner {
        group.bench_function("croner", |bencher| {
            bencher.iter(|| black_box(schedule).is_time_matching(black_box(&chrono_time)))
        });
    }
    if let Some(schedule) = &parsed.saffron {
        group.bench_function("saffron", |bencher| {
            bencher.iter(|| black_box(schedule).contains(black_box(chrono_time)))
        });
    }
    group.finish();
}

fn bench_next_after(criterion: &mut Criterion, case: &Case, parsed: &ParsedCase) {
    let label = format!("next_after_{}", case.name);
    let jiff_start = jiff_timestamp(case.start);
    let chrono_start = chrono_timestamp(case.start);
    let expected = jiff_timestamp(case.expected_next).as_second();

    let answer = parsed.ours.next_after(jiff_start);
    check_answer(&label, "cron-expr", answer.map(|t| t.as_second()), expected);
    if let Some(schedule) = &parsed.cron {
        let answer = schedule.after(&chrono_start).next();
        check_answer(&label, "cron", answer.map(|t| t.timestamp()), expected);
    }
    if let Some(schedule) = &parsed.croner {
        let answer = schedule.find_next_occurrence(&chrono_start, false).ok();
        check_answer(&label, "croner", answer.map(|t| t.timestamp()), expected);
    }
    if let Some(schedule) = &parsed.saffron {
        let answer = schedule.next_after(chrono_start);
        check_answer(&label, "saffron", answer.map(|t| t.timestamp()), expected);
    }

    let mut group = criterion.benchmark_group(label);
    let ours = &parsed.ours;
    group.bench_function("cron-expr", |bencher| {
        bencher.iter(|| black_box(ours).next_after(black_box(jiff_start)))
    });
    if let Some(schedule) = &parsed.cron {
        group.bench_function("cron", |bencher| {
            bencher.iter(|| black_box(schedule).after(black_box(&chrono_start)).next())
        });
    }
    if let Some(schedule) = &parsed.croner {
        group.bench_function("croner", |bencher| {
            bencher
                .iter(|| black_box(schedule).find_next_occurrence(black_box(&chrono_start), false))
        });
    }
    if let Some(schedule) = &parsed.saffron {
        group.bench_function("saffron", |bencher| {
            bencher.iter(|| black_box(schedule).next_after(black_box(chrono_start)))
        });
    }
    group.finish();
}

fn bench_iterate_business_hours(criterion: &mut Criterion) {
    let label = format!("iter_{ITERATED_FIRE_TIMES}_{}", BUSINESS_HOURS.name);
    let parsed = parse_case(BUSINESS_HOURS);
    let jiff_start = jiff_timestamp(ITERATION_START);
    let chrono_start = chrono_timestamp(ITERATION_START);
    let expected = business_hours_oracle(jiff_start.as_second(), ITERATED_FIRE_TIMES);

    let ours: Vec<i64> = parsed
        .ours
        .iter_after(jiff_start)
        .take(ITERATED_FIRE_TIMES)
        .map(|t| t.as_second())
        .collect();
    check_sequence(&label, "cron-expr", &ours, &expected);
    if let Some(schedule) = &parsed.cron {
        let times: Vec<i64> = schedule
            .after(&chrono_start)
            .take(ITERATED_FIRE_TIMES)
            .map(|t| t.timestamp())
            .collect();
        check_sequence(&label, "cron", &times, &expected);
    }
    if let Some(schedule) = &parsed.croner {
        let times: Vec<i64> = schedule
            .iter_after(chrono_start)
            .take(ITERATED_FIRE_TIMES)
            .map(|t| t.timestamp())
            .collect();
        check_sequence(&label, "croner", &times, &expected);
    }
    if let Some(schedule) = &parsed.saffron {
        let times: Vec<i64> = schedule
            .clone()
            .iter_after(chrono_start)
            .take(ITERATED_FIRE_TIMES)
            .map(|t| t.timestamp())
            .collect();
        check_sequence(&label, "saffron", &times, &expected);
    }

    // Each closure walks the whole iterator and keeps the last fire time, so nothing is
    // allocated and nothing can be skipped.
    let mut group = criterion.benchmark_group(label);
    let ours = &parsed.ours;
    group.bench_function("cron-expr", |bencher| {
        bencher.iter(|| {
            black_box(ours)
                .iter_after(black_box(jiff_start))
                .take(ITERATED_FIRE_TIMES)
                .last()
        })
    });
    if let Some(schedule) = &parsed.cron {
        group.bench_function("cron", |bencher| {
            bencher.iter(|| {
                black_box(schedule)
                    .after(black_box(&chrono_start))
                    .take(ITERATED_FIRE_TIMES)
                    .last()
            })
        });
    }
    if let Some(schedule) = &parsed.croner {
        // `iter_after` clones the `Cron` into the iterator; that is part of this API's cost.
        group.bench_function("croner", |bencher| {
            bencher.iter(|| {
                black_box(schedule)
                    .iter_after(black_box(chrono_start))
                    .take(ITERATED_FIRE_TIMES)
                    .last()
            })
        });
    }
    if let Some(schedule) = &parsed.saffron {
        // saffron's `iter_after` takes the `Cron` by value; the clone is a few plain bytes.
        group.bench_function("saffron", |bencher| {
            bencher.iter(|| {
                black_box(schedule)
                    .clone()
                    .iter_after(black_box(chrono_start))
                    .take(ITERATED_FIRE_TIMES)
                    .last()
            })
        });
    }
    group.finish();
}

/// Parses one case in every crate. A peer that rejects its form of the expression is reported
/// and left out, rather than stopping the whole run.
fn parse_case(case: &Case) -> ParsedCase {
    let ours = Schedule::parse(case.ours)
        .unwrap_or_else(|error| panic!("cron-expr rejects {:?}: {error}", case.ours));
    ParsedCase {
        ours,
        cron: case
            .cron
            .and_then(|text| report_rejection(case, "cron", cron::Schedule::from_str(text))),
        croner: case
            .croner
            .and_then(|text| report_rejection(case, "croner", croner::Cron::from_str(text))),
        saffron: case
            .saffron
            .and_then(|text| report_rejection(case, "saffron", saffron::Cron::from_str(text))),
    }
}

fn report_rejection<T, E: std::fmt::Debug>(
    case: &Case,
    crate_name: &str,
    parsed: Result<T, E>,
) -> Option<T> {
    match parsed {
        Ok(schedule) => Some(schedule),
        Err(error) => {
            eprintln!(
                "answer check: WRONG {} {crate_name}: parse failed: {error:?}",
                case.name
            );
            None
        }
    }
}

/// The first `count` business-hours fire times strictly after `start_second`, found by walking
/// every minute: slow, but obviously right.
fn business_hours_oracle(start_second: i64, count: usize) -> Vec<i64> {
    const SECONDS_PER_DAY: i64 = 86_400;
    let mut fire_times = Vec::with_capacity(count);
    // Start at the first whole minute strictly after the start.
    let mut minute_start = start_second.div_euclid(60) * 60 + 60;
    while fire_times.len() < count {
        let day = minute_start.div_euclid(SECONDS_PER_DAY);
        let second_of_day = minute_start.rem_euclid(SECONDS_PER_DAY);
        // 1970-01-01 was a Thursday; 0 is Sunday.
        let weekday = (day + 4).rem_euclid(7);
        let hour = second_of_day / 3_600;
        let minute = second_of_day % 3_600 / 60;
        if (1..=5).contains(&weekday) && (9..=17).contains(&hour) && minute % 15 == 0 {
            fire_times.push(minute_start);
        }
        minute_start += 60;
    }
    fire_times
}

fn check_parses(label: &str, crate_name: &str, parsed: bool) {
    report(label, crate_name, parsed, || {
        "expression rejected".to_owned()
    });
}

/// Checks that `matches` holds at the case's fire time and fails at its quiet time.
fn check_matches(label: &str, crate_name: &str, case: &Case, matches: impl Fn(&str) -> bool) {
    let fires = matches(case.fires_at);
    let stays_quiet = case.quiet_at.is_none_or(|text| !matches(text));
    report(label, crate_name, fires && stays_quiet, || {
        if fires {
            format!(
                "matches {}, where it does not fire",
                case.quiet_at.unwrap_or_default()
            )
        } else {
            format!("does not match {}, where it fires", case.fires_at)
        }
    });
}

fn check_answer(label: &str, crate_name: &str, answer: Option<i64>, expected: i64) {
    report(label, crate_name, answer == Some(expected), || {
        format!(
            "got {}, expected {}",
            answer.map_or_else(|| "none".to_owned(), display_second),
            display_second(expected)
        )
    });
}

fn check_sequence(label: &str, crate_name: &str, answer: &[i64], expected: &[i64]) {
    report(label, crate_name, answer == expected, || {
        let position = answer
            .iter()
            .zip(expected)
            .position(|(got, want)| got != want)
            .unwrap_or(answer.len().min(expected.len()));
        format!(
            "{} fire times, first difference at index {position}: got {}, expected {}",
            answer.len(),
            answer
                .get(position)
                .map_or_else(|| "none".to_owned(), |&s| display_second(s)),
            expected
                .get(position)
                .map_or_else(|| "none".to_owned(), |&s| display_second(s)),
        )
    });
}

fn report(label: &str, crate_name: &str, correct: bool, describe: impl FnOnce() -> String) {
    if correct {
        eprintln!("answer check: ok {label} {crate_name}");
    } else {
        eprintln!("answer check: WRONG {label} {crate_name}: {}", describe());
    }
}

fn display_second(second: i64) -> String {
    Timestamp::from_second(second).map_or_else(|_| format!("second {second}"), |t| t.to_string())
}

fn jiff_timestamp(text: &str) -> Timestamp {
    text.parse()
        .unwrap_or_else(|error| panic!("bad instant {text:?} in the benchmark: {error}"))
}

fn chrono_timestamp(text: &str) -> DateTime<Utc> {
    text.parse()
        .unwrap_or_else(|error| panic!("bad instant {text:?} in the benchmark: {error}"))
}
