//! Plain-English descriptions of schedules, for `scheduler cron explain`.

use crate::display::{bits_of, runs_text};
use crate::schedule::{ALL_HOURS, ALL_MONTHS, ALL_SECONDS, Fields};

const MONTHS: [&str; 13] = [
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEK_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const ORDINALS: [&str; 5] = ["first", "second", "third", "fourth", "fifth"];

/// Describes when the schedule fires, e.g. "at second 31 of minutes 10 through 15 past hour 1,
/// on Monday through Friday".
pub(crate) fn explain(fields: &Fields) -> String {
    let mut parts = vec![time_of_day(fields), days(fields)];
    if fields.months != ALL_MONTHS {
        let months = bits_of(u64::from(fields.months));
        parts.push(format!(
            "in {}",
            phrase_list(&months, &|month| MONTHS[month as usize].to_owned())
        ));
    }
    if let Some(years) = &fields.years {
        let years: Vec<u32> = years.iter().map(|year| year as u32).collect();
        let noun = if years.len() == 1 { "" } else { "the years " };
        parts.push(format!(
            "in {noun}{}",
            phrase_list(&years, &|year| year.to_string())
        ));
    }
    parts.join(", ")
}

fn time_of_day(fields: &Fields) -> String {
    let seconds = bits_of(fields.seconds);
    let minutes = bits_of(fields.minutes);
    let hours = bits_of(u64::from(fields.hours));
    if seconds.len() == 1 && minutes.len() == 1 && hours.len() == 1 {
        return format!("at {:02}:{:02}:{:02}", hours[0], minutes[0], seconds[0]);
    }
    let number = |value: u32| value.to_string();
    let second = if fields.seconds == ALL_SECONDS {
        "every second".to_owned()
    } else {
        let phrase = unit_phrase("second", &seconds, 59, &number);
        if phrase.starts_with("every") {
            phrase
        } else {
            format!("at {phrase}")
        }
    };
    let minute = if fields.minutes == ALL_SECONDS {
        "of every minute".to_owned()
    } else {
        format!("of {}", unit_phrase("minute", &minutes, 59, &number))
    };
    let hour = if fields.hours == ALL_HOURS {
        "of every hour".to_owned()
    } else {
        format!("past {}", unit_phrase("hour", &hours, 23, &number))
    };
    format!("{second} {minute} {hour}")
}

fn days(fields: &Fields) -> String {
    let rules = &fields.days;
    let mut month_side = Vec::new();
    if rules.month_day_restricted {
        let days = bits_of(u64::from(rules.month_days));
        if !days.is_empty() {
            month_side.push(format!(
                "on {} of the month",
                unit_phrase("day", &days, 31, &|day| day.to_string())
            ));
        }
        for offset in bits_of(u64::from(rules.before_last_day)) {
            month_side.push(match offset {
                0 => "on the last day of the month".to_owned(),
                1 => "on the day before the last day of the month".to_owned(),
                _ => format!("{offset} days before the last day of the month"),
            });
        }
        for day in bits_of(u64::from(rules.nearest_weekday)) {
            month_side.push(format!("on the weekday nearest day {day} of the month"));
        }
        if rules.last_weekday_of_month {
            month_side.push("on the last weekday of the month".to_owned());
        }
    }
    let mut week_side = Vec::new();
    if rules.week_day_restricted {
        let days = bits_of(u64::from(rules.week_days));
        if !days.is_empty() {
            week_side.push(format!(
                "on {}",
                phrase_list(&days, &|day| WEEK_DAYS[day as usize].to_owned())
            ));
        }
        for day in bits_of(u64::from(rules.last_of_week_day)) {
            week_side.push(format!(
                "on the last {} of the month",
                WEEK_DAYS[day as usize]
            ));
        }
        for bit in bits_of(rules.nth_week_day) {
            week_side.push(format!(
                "on the {} {} of the month",
                ORDINALS[(bit / 7) as usize],
                WEEK_DAYS[(bit % 7) as usize]
            ));
        }
    }
    let all: Vec<String> = month_side.into_iter().chain(week_side).collect();
    if all.is_empty() {
        "every day".to_owned()
    } else {
        all.join(" or ")
    }
}

/// "minute 5", "minutes 10 through 15", "every 15th minute", "minutes 1, 2 and 7".
fn unit_phrase(unit: &str, values: &[u32], max: u32, name: &dyn Fn(u32) -> String) -> String {
    if values.len() == 1 {
        return format!("{unit} {}", name(values[0]));
    }
    if values.len() >= 3 {
        let step = values[1] - values[0];
        let progression = step > 1 && values.windows(2).all(|pair| pair[1] - pair[0] == step);
        let first_possible = if unit == "day" { 1 } else { 0 };
        if progression && values[0] == first_possible && values[values.len() - 1] + step > max {
            return format!("every {} {unit}", ordinal_number(step));
        }
    }
    format!("{unit}s {}", phrase_list(values, name))
}

/// "Monday", "Monday and Friday", "Monday through Friday", "1, 2 and 5 through 9".
fn phrase_list(values: &[u32], name: &dyn Fn(u32) -> String) -> String {
    let mut items = runs_text(values, name, " through ");
    match items.len() {
        0 => String::new(),
        1 => items.remove(0),
        _ => {
            let last = items.pop().unwrap_or_default();
            format!("{} and {last}", items.join(", "))
        }
    }
}

fn ordinal_number(value: u32) -> String {
    let suffix = match (value % 10, value % 100) {
        (1, 11) | (2, 12) | (3, 13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{value}{suffix}")
}
