//! The canonical text of a schedule: what [`crate::Schedule`]'s `Display` writes.

use std::fmt::{self, Write};

use crate::schedule::{ALL_MONTHS, ALL_SECONDS, FIRST_YEAR, Fields, LAST_YEAR};

const MONTH_NAMES: [&str; 13] = [
    "", "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEK_DAY_NAMES: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// Writes six fields (seven with a year), separated by single spaces.
pub(crate) fn write(fields: &Fields, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let plain = |value: u32| value.to_string();
    write_set(
        f,
        bits_of(fields.seconds),
        0,
        59,
        ALL_SECONDS == fields.seconds,
        &plain,
    )?;
    f.write_char(' ')?;
    write_set(
        f,
        bits_of(fields.minutes),
        0,
        59,
        ALL_SECONDS == fields.minutes,
        &plain,
    )?;
    f.write_char(' ')?;
    write_set(
        f,
        bits_of(u64::from(fields.hours)),
        0,
        23,
        fields.hour_is_wildcard,
        &plain,
    )?;
    f.write_char(' ')?;
    write_month_days(fields, f)?;
    f.write_char(' ')?;
    let month_name = |value: u32| MONTH_NAMES[value as usize].to_owned();
    write_set(
        f,
        bits_of(u64::from(fields.months)),
        1,
        12,
        fields.months == ALL_MONTHS,
        &month_name,
    )?;
    f.write_char(' ')?;
    write_week_days(fields, f)?;
    if let Some(years) = &fields.years {
        f.write_char(' ')?;
        let values: Vec<u32> = years.iter().map(|year| year as u32).collect();
        write_set(
            f,
            values,
            FIRST_YEAR as u32,
            LAST_YEAR as u32,
            years.is_full(),
            &plain,
        )?;
    }
    Ok(())
}

fn write_month_days(fields: &Fields, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let rules = &fields.days;
    if !rules.month_day_restricted {
        return f.write_char('*');
    }
    let mut items = Vec::new();
    let days = bits_of(u64::from(rules.month_days));
    if !days.is_empty() {
        items.push(set_text(&days, 1, 31, false, &|value| value.to_string()));
    }
    for offset in bits_of(u64::from(rules.before_last_day)) {
        items.push(if offset == 0 {
            "L".to_owned()
        } else {
            format!("L-{offset}")
        });
    }
    for day in bits_of(u64::from(rules.nearest_weekday)) {
        items.push(format!("{day}W"));
    }
    if rules.last_weekday_of_month {
        items.push("LW".to_owned());
    }
    f.write_str(&items.join(","))
}

fn write_week_days(fields: &Fields, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let rules = &fields.days;
    if !rules.week_day_restricted {
        return f.write_char('*');
    }
    let mut items = Vec::new();
    let days = bits_of(u64::from(rules.week_days));
    if !days.is_empty() {
        // Steps are written as if the field ran to 7 (Sunday again): `MON/2` is 1,3,5 here but
        // 1,3,5,7 in crons whose `a/n` runs to 7, so that set is written `MON-FRI/2`.
        items.push(set_text(&days, 0, 7, false, &|value| {
            WEEK_DAY_NAMES[value as usize].to_owned()
        }));
    }
    for day in bits_of(u64::from(rules.last_of_week_day)) {
        items.push(format!("{day}L"));
    }
    for bit in bits_of(rules.nth_week_day) {
        items.push(format!(
            "{}#{}",
            WEEK_DAY_NAMES[(bit % 7) as usize],
            bit / 7 + 1
        ));
    }
    f.write_str(&items.join(","))
}

fn write_set(
    f: &mut fmt::Formatter<'_>,
    values: Vec<u32>,
    min: u32,
    max: u32,
    full: bool,
    name: &dyn Fn(u32) -> String,
) -> fmt::Result {
    f.write_str(&set_text(&values, min, max, full, name))
}

/// The shortest of the forms we write for a set: `*`, a step (`*/n`, `a/n`, `a-b/n`) or a list
/// of values and ranges.
pub(crate) fn set_text(
    values: &[u32],
    min: u32,
    max: u32,
    full: bool,
    name: &dyn Fn(u32) -> String,
) -> String {
    if full {
        return "*".to_owned();
    }
    let list = list_text(values, name);
    if let Some(step) = arithmetic_step(values) {
        let (first, last) = (values[0], values[values.len() - 1]);
        let stepped = if last + step > max {
            if first == min {
                format!("*/{step}")
            } else {
                format!("{}/{step}", name(first))
            }
        } else {
            format!("{}-{}/{step}", name(first), name(last))
        };
        if stepped.len() < list.len() {
            return stepped;
        }
    }
    list
}

/// The common difference of at least three values in arithmetic progression with a step above 1.
fn arithmetic_step(values: &[u32]) -> Option<u32> {
    if values.len() < 3 {
        return None;
    }
    let step = values[1] - values[0];
    (step > 1 && values.windows(2).all(|pair| pair[1] - pair[0] == step)).then_some(step)
}

/// Values as a comma-separated list, runs of three or more written as ranges.
fn list_text(values: &[u32], name: &dyn Fn(u32) -> String) -> String {
    runs_text(values, name, "-").join(",")
}

/// One item per value, except that runs of three or more consecutive values become one item
/// `first<joiner>last` (`MON-FRI`, `Monday through Friday`).
pub(crate) fn runs_text(values: &[u32], name: &dyn Fn(u32) -> String, joiner: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut index = 0;
    while index < values.len() {
        let mut end = index;
        while end + 1 < values.len() && values[end + 1] == values[end] + 1 {
            end += 1;
        }
        if end - index >= 2 {
            items.push(format!(
                "{}{joiner}{}",
                name(values[index]),
                name(values[end])
            ));
        } else {
            items.extend(values[index..=end].iter().map(|&value| name(value)));
        }
        index = end + 1;
    }
    items
}

/// The set bits of a word, in increasing order.
pub(crate) fn bits_of(mut word: u64) -> Vec<u32> {
    let mut bits = Vec::new();
    while word != 0 {
        bits.push(word.trailing_zeros());
        word &= word - 1;
    }
    bits
}
