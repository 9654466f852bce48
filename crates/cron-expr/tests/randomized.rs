//! A bounded randomized comparison with the oracle, with a fixed seed so every run checks the
//! same inputs. Its generator is written separately from the proptest one (a tiny xorshift,
//! denser fields, more lists) so the two do not share blind spots.

use cron_expr::{Schedule, TimeZone, Timestamp};

use crate::oracle::{Oracle, ZoneOracle, floor_second, timestamp};

/// Marsaglia's xorshift64: tiny, deterministic, good enough to pick test inputs.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `low..=high`.
    fn range(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }

    fn percent(&mut self, chance: u64) -> bool {
        self.next() % 100 < chance
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[(self.next() % items.len() as u64) as usize]
    }
}

const MONTH_NAMES: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

fn value_text(rng: &mut XorShift, value: i64, names: Option<(&[&str], i64)>) -> String {
    match names {
        Some((list, base)) if rng.percent(40) && ((value - base) as usize) < list.len() => {
            let name = list[(value - base) as usize];
            if rng.percent(50) {
                name.to_lowercase()
            } else {
                name.to_string()
            }
        }
        _ => value.to_string(),
    }
}

/// `*`, or a list of 1-3 items of the plain grammar. `top` bounds `*/n` steps.
fn random_field(
    rng: &mut XorShift,
    min: i64,
    max: i64,
    names: Option<(&[&str], i64)>,
    star_chance: u64,
) -> String {
    if rng.percent(star_chance) {
        return "*".to_string();
    }
    let count = rng.range(1, 3);
    let mut items = Vec::new();
    for _ in 0..count {
        let a = rng.range(min, max);
        let b = rng.range(a, max);
        let item = match rng.range(0, 4) {
            0 => value_text(rng, a, names),
            1 => format!(
                "{}-{}",
                value_text(rng, a, names),
                value_text(rng, b, names)
            ),
            2 => format!("*/{}", rng.range(1, (max - min).max(1))),
            3 => format!(
                "{}-{}/{}",
                value_text(rng, a, names),
                value_text(rng, b, names),
                rng.range(1, (b - a).max(1))
            ),
            _ => format!(
                "{}/{}",
                value_text(rng, a, names),
                rng.range(1, (max - a).max(1))
            ),
        };
        items.push(item);
    }
    items.join(",")
}

fn random_expression(rng: &mut XorShift) -> String {
    if rng.percent(3) {
        return rng
            .pick(&[
                "@yearly",
                "@annually",
                "@monthly",
                "@weekly",
                "@daily",
                "@midnight",
                "@hourly",
            ])
            .to_string();
    }
    let second = random_field(rng, 0, 59, None, 40);
    let minute = random_field(rng, 0, 59, None, 40);
    let hour = random_field(rng, 0, 23, None, 40);
    let day_of_month = match rng.range(0, 9) {
        0..=3 => "*".to_string(),
        4 => "?".to_string(),
        5 => rng.pick(&["L", "LW"]).to_string(),
        6 => format!("L-{}", rng.range(1, 30)),
        7 => format!("{}W", rng.range(1, 31)),
        _ => random_field(rng, 1, 31, None, 0),
    };
    let day_of_week = match rng.range(0, 9) {
        0..=3 => "*".to_string(),
        4 if day_of_month != "?" => "?".to_string(),
        5 => format!("{}L", rng.range(0, 6)),
        6 => format!("{}#{}", rng.range(0, 6), rng.range(1, 5)),
        // Day-of-week items without `a/n` (the notes leave its upper end open) and with steps
        // of at most 6 (is the span 6 or 7?).
        _ => loop {
            let field = random_field(rng, 0, 7, Some((&WEEKDAY_NAMES, 0)), 0);
            let bare_start_step = field
                .split(',')
                .any(|item| item.contains('/') && !item.contains('-') && !item.starts_with('*'));
            let step_past_6 = field.split(',').any(|item| {
                item.split_once('/')
                    .is_some_and(|(_, n)| n.parse::<i64>().unwrap() > 6)
            });
            if !bare_start_step && !step_past_6 {
                break field;
            }
        },
    };
    let month = random_field(rng, 1, 12, Some((&MONTH_NAMES, 1)), 60);
    match rng.range(0, 9) {
        0 => format!("{minute} {hour} {day_of_month} {month} {day_of_week}"),
        1 => {
            let first = rng.range(2018, 2034);
            let year = match rng.range(0, 3) {
                0 => "*".to_string(),
                1 => first.to_string(),
                2 => format!("{first}-{}", rng.range(first, 2040)),
                _ => format!("{}/{}", first, rng.range(1, 4)),
            };
            format!("{second} {minute} {hour} {day_of_month} {month} {day_of_week} {year}")
        }
        _ => format!("{second} {minute} {hour} {day_of_month} {month} {day_of_week}"),
    }
}

/// 2020-01-01T00:00:00Z .. 2030-01-01T00:00:00Z.
fn random_start(rng: &mut XorShift) -> Timestamp {
    let s = rng.range(1_577_836_800, 1_893_456_000);
    let nanos = if rng.percent(20) {
        rng.range(1, 999_999_999) as i32
    } else {
        0
    };
    Timestamp::new(s, nanos).unwrap()
}

#[test]
fn random_expressions_agree_with_oracle_in_utc() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut compared = 0;
    for _ in 0..1_500 {
        let expression = random_expression(&mut rng);
        let reference = Oracle::parse(&expression)
            .unwrap_or_else(|e| panic!("generator bug: oracle rejects {expression:?}: {e}"));
        let parsed = Schedule::parse(&expression);
        if !reference.has_year_field() {
            assert_eq!(
                parsed.is_ok(),
                reference.ever_fires(),
                "{expression:?}: parse result {parsed:?}"
            );
        }
        let Ok(schedule) = parsed else { continue };
        let t = random_start(&mut rng);
        let horizon = 12_200;
        match reference.next_after(t, horizon) {
            Some(expected) => assert_eq!(
                schedule.next_after(t),
                Some(expected),
                "next_after of {expression:?} from {t}"
            ),
            None => assert!(
                schedule
                    .next_after(t)
                    .is_none_or(|n| n.as_second() > t.as_second() + horizon * 86_400),
                "next_after of {expression:?} from {t}"
            ),
        }
        match reference.prev_before(t, horizon) {
            Some(expected) => assert_eq!(
                schedule.prev_before(t),
                Some(expected),
                "prev_before of {expression:?} before {t}"
            ),
            None => assert!(
                schedule
                    .prev_before(t)
                    .is_none_or(|p| p.as_second() < t.as_second() - horizon * 86_400),
                "prev_before of {expression:?} before {t}"
            ),
        }
        let whole = timestamp(floor_second(t));
        assert_eq!(
            schedule.matches(whole),
            reference.matches_utc(whole),
            "matches of {expression:?} at {whole}"
        );
        let text = schedule.to_string();
        assert_eq!(
            Schedule::parse(&text).ok().as_ref(),
            Some(&schedule),
            "{expression:?} displays as {text:?}"
        );
        compared += 1;
    }
    // The generator must mostly produce firing expressions, or the test checks little.
    assert!(compared > 1_000, "only {compared} expressions compared");
}

#[test]
fn random_expressions_agree_with_oracle_in_time_zones() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let zones = [
        "America/New_York",
        "Europe/London",
        "Australia/Lord_Howe",
        "Europe/Berlin",
        "America/Havana",
    ];
    let mut compared = 0;
    for _ in 0..300 {
        let expression = random_expression(&mut rng);
        let Ok(schedule) = Schedule::parse(&expression) else {
            continue;
        };
        let reference = Oracle::parse(&expression).unwrap();
        let zone_name = rng.pick(&zones);
        let tz = TimeZone::get(zone_name).unwrap();
        // Within two days of the first or second transition of a year in 2020..=2029.
        let year_start = timestamp((rng.range(2020, 2029) - 1970) * 31_556_952);
        let transition = tz
            .following(year_start)
            .nth(rng.range(0, 1) as usize)
            .unwrap();
        let t = timestamp(transition.timestamp().as_second() + rng.range(-2 * 86_400, 2 * 86_400));
        let (low, high) = (t.as_second() - 2 * 86_400, t.as_second() + 2 * 86_400);
        let window = ZoneOracle::new(&reference, &tz, low, high);
        match window.next_after(t) {
            Some(expected) => assert_eq!(
                schedule.next_after_in(t, &tz),
                Some(expected),
                "next_after_in of {expression:?} in {zone_name} from {t}"
            ),
            None => assert!(
                schedule
                    .next_after_in(t, &tz)
                    .is_none_or(|n| n.as_second() > high),
                "next_after_in of {expression:?} in {zone_name} from {t}"
            ),
        }
        match window.prev_before(t) {
            Some(expected) => assert_eq!(
                schedule.prev_before_in(t, &tz),
                Some(expected),
                "prev_before_in of {expression:?} in {zone_name} before {t}"
            ),
            None => assert!(
                schedule
                    .prev_before_in(t, &tz)
                    .is_none_or(|p| p.as_second() < low),
                "prev_before_in of {expression:?} in {zone_name} before {t}"
            ),
        }
        for _ in 0..4 {
            let s = rng.range(low + 1, high - 1);
            assert_eq!(
                schedule.matches_in(timestamp(s), &tz),
                window.fires(s),
                "matches_in of {expression:?} in {zone_name} at {}",
                timestamp(s)
            );
        }
        compared += 1;
    }
    assert!(compared > 200, "only {compared} expressions compared");
}

/// Random strings from cron's alphabet: whatever parses must behave, whatever does not must
/// give a well-formed error, and nothing may panic.
#[test]
fn token_soup_never_panics() {
    let mut rng = XorShift(0x2545_F491_4F6C_DD1D);
    let tokens = [
        "*", "?", "/", "-", ",", "L", "W", "#", "0", "1", "5", "7", "12", "23", "29", "31", "59",
        "60", "99", "MON", "fri", "JAN", "dec", "@daily", "@hourly", "@", " ", " ", " ", " ", "\t",
        "2030", "1969", "L-3", "LW", "5L", "2#3", "15W", "*/5",
    ];
    let t: Timestamp = "2026-06-15T12:34:56Z".parse().unwrap();
    let mut accepted = 0;
    for _ in 0..5_000 {
        let length = rng.range(1, 16);
        let input: String = (0..length).map(|_| rng.pick(&tokens)).collect();
        match Schedule::parse(&input) {
            Ok(schedule) => {
                accepted += 1;
                let text = schedule.to_string();
                assert_eq!(
                    Schedule::parse(&text).ok().as_ref(),
                    Some(&schedule),
                    "{input:?} displays as {text:?}"
                );
                assert!(schedule.next_after(t).is_none_or(|n| n > t), "{input:?}");
                assert!(schedule.prev_before(t).is_none_or(|p| p < t), "{input:?}");
            }
            Err(error) => {
                let message = error.to_string();
                assert!(!message.is_empty(), "{input:?}");
                assert!(
                    error.column() >= 1 && error.column() <= input.len() + 1,
                    "{input:?}: column {}",
                    error.column()
                );
            }
        }
    }
    assert!(accepted > 0, "token soup never produced a valid expression");
}
