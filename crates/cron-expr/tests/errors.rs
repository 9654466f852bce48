//! Bad expressions: the error names the field, the token, the column and what was expected,
//! and nothing panics.
//!
//! Columns are 1-based and were counted by hand. Where the notes leave open which character of
//! a malformed item is "the offending token" (a bad step, an empty list item), the test only
//! asks that the column points into the offending field.

use std::ops::RangeInclusive;

use cron_expr::{Field, Schedule, Timestamp};

fn field_name(field: Option<Field>) -> &'static str {
    match field {
        None => "(whole expression)",
        Some(Field::Second) => "second",
        Some(Field::Minute) => "minute",
        Some(Field::Hour) => "hour",
        Some(Field::DayOfMonth) => "day-of-month",
        Some(Field::Month) => "month",
        Some(Field::DayOfWeek) => "day-of-week",
        Some(Field::Year) => "year",
    }
}

/// The message style of the conventions: lowercase start, no trailing period.
fn assert_message_style(expression: &str, message: &str) {
    assert!(!message.is_empty(), "{expression:?}: empty message");
    assert!(
        !message.starts_with(|c: char| c.is_uppercase()),
        "{expression:?}: message should start lowercase: {message}"
    );
    assert!(
        !message.ends_with('.'),
        "{expression:?}: message should not end with a period: {message}"
    );
}

/// `expression` is rejected in `field`, the column lies in `columns`, and the message contains
/// each of `parts` (case-insensitively).
fn check_error(
    expression: &str,
    field: Option<Field>,
    columns: RangeInclusive<usize>,
    parts: &[&str],
) {
    let error = match Schedule::parse(expression) {
        Ok(schedule) => panic!("{expression:?} should be rejected, parsed as {schedule}"),
        Err(error) => error,
    };
    let message = error.to_string();
    assert_message_style(expression, &message);
    assert_eq!(
        field_name(error.field()),
        field_name(field),
        "{expression:?}: wrong field in {message:?}"
    );
    assert!(
        columns.contains(&error.column()),
        "{expression:?}: column {} not in {columns:?} ({message:?})",
        error.column()
    );
    let lowercase = message.to_lowercase();
    if let Some(field) = field {
        assert!(
            lowercase.contains(field_name(Some(field))),
            "{expression:?}: message should name the field {:?}: {message:?}",
            field_name(Some(field))
        );
    }
    // A part may offer alternative wordings separated by `|`.
    for part in parts {
        assert!(
            part.split('|')
                .any(|wording| lowercase.contains(&wording.to_lowercase())),
            "{expression:?}: message should contain {part:?}: {message:?}"
        );
    }
}

/// A single, unambiguous column that the message also states.
fn check_error_at(expression: &str, field: Field, column: usize, parts: &[&str]) {
    let column_text = format!("column {column}");
    let mut all = parts.to_vec();
    all.push(&column_text);
    check_error(expression, Some(field), column..=column, &all);
}

#[test]
fn the_documented_example() {
    // "31 10-15 1 * * MON-FRX": MON-FRX starts at column 16, so FRX is at column 20.
    let error = Schedule::parse("31 10-15 1 * * MON-FRX").unwrap_err();
    assert_eq!(
        error.to_string(),
        r#"day-of-week: invalid value "FRX" at column 20 (expected 0-7 or SUN-SAT)"#
    );
    assert!(matches!(error.field(), Some(Field::DayOfWeek)));
    assert_eq!(error.column(), 20);
}

#[test]
fn values_out_of_range() {
    check_error_at("60 * * * * *", Field::Second, 1, &["60", "0-59"]);
    check_error_at("0 60 * * * *", Field::Minute, 3, &["60", "0-59"]);
    check_error_at("0 0 24 * * *", Field::Hour, 5, &["24", "0-23"]);
    check_error_at("0 0 0 0 * *", Field::DayOfMonth, 7, &["1-31"]);
    check_error_at("0 0 0 32 * *", Field::DayOfMonth, 7, &["32", "1-31"]);
    check_error_at("0 0 0 * 13 *", Field::Month, 9, &["13", "1-12"]);
    check_error_at("0 0 0 * 0 *", Field::Month, 9, &["1-12"]);
    check_error_at("0 0 0 * * 8", Field::DayOfWeek, 11, &["8", "0-7"]);
    check_error_at("0 0 0 * * * 1969", Field::Year, 13, &["1969", "1970-2099"]);
    check_error_at("0 0 0 * * * 2100", Field::Year, 13, &["2100", "1970-2099"]);
    check_error_at("0 0 0 * * 1,2,9", Field::DayOfWeek, 15, &["9", "0-7"]);
    check_error_at("0 0 0 * * 1-8", Field::DayOfWeek, 13, &["8", "0-7"]);
    check_error_at("0 0 10-25 * * *", Field::Hour, 8, &["25", "0-23"]);
    check_error_at("0 0 0 1,2,40 * *", Field::DayOfMonth, 11, &["40", "1-31"]);
    check_error_at(
        "0 0 0 * * * 2020,2200",
        Field::Year,
        18,
        &["2200", "1970-2099"],
    );
    // Five fields: the first field is the minute.
    check_error_at("60 * * * *", Field::Minute, 1, &["60", "0-59"]);
    check_error_at("0 0 * * 8", Field::DayOfWeek, 9, &["8", "0-7"]);
}

#[test]
fn invalid_names_and_tokens() {
    check_error_at(
        "0 0 0 * * FRX",
        Field::DayOfWeek,
        11,
        &["FRX", "0-7", "SUN-SAT"],
    );
    check_error_at(
        "0 0 0 * * MON-FRX",
        Field::DayOfWeek,
        15,
        &["FRX", "SUN-SAT"],
    );
    check_error_at("0 0 0 * JANX *", Field::Month, 9, &["JANX", "JAN-DEC"]);
    check_error_at("0 0 0 * JAN-FEX *", Field::Month, 13, &["FEX", "JAN-DEC"]);
    check_error_at("0 0 0 * * MONDAY", Field::DayOfWeek, 11, &["MONDAY"]);
    check_error_at("0 0 0 * * 1,MONDAY", Field::DayOfWeek, 13, &["MONDAY"]);
    check_error_at("abc * * * * *", Field::Second, 1, &["abc"]);
    check_error_at("0 xyz * * * *", Field::Minute, 3, &["xyz"]);
    check_error_at("0 0 0 * * * abc", Field::Year, 13, &["abc"]);
    // Names belong to their own field only.
    check_error_at("0 0 0 * MON *", Field::Month, 9, &["MON"]);
    check_error_at("0 0 0 JAN * *", Field::DayOfMonth, 7, &["JAN"]);
    check_error_at("0 0 JAN * * *", Field::Hour, 5, &["JAN"]);
    // `?` only in the day fields.
    check_error_at("? 0 0 * * *", Field::Second, 1, &["?"]);
    check_error_at("0 0 0 * ? *", Field::Month, 9, &["?"]);
    check_error_at("0 0 ? * * *", Field::Hour, 5, &["?"]);
}

#[test]
fn wrap_around_ranges_are_rejected_and_say_so() {
    check_error(
        "0 0 0 * * FRI-MON",
        Some(Field::DayOfWeek),
        11..=17,
        &["FRI-MON", "wrap|backwards"],
    );
    check_error(
        "0 0 22-2 * * *",
        Some(Field::Hour),
        5..=8,
        &["22-2", "wrap|backwards"],
    );
    check_error(
        "0 0 0 * NOV-FEB *",
        Some(Field::Month),
        9..=15,
        &["NOV-FEB", "wrap|backwards"],
    );
    check_error(
        "0 50-10 * * * *",
        Some(Field::Minute),
        3..=7,
        &["50-10", "wrap|backwards"],
    );
    check_error(
        "0 0 0 25-5 * *",
        Some(Field::DayOfMonth),
        7..=10,
        &["25-5", "wrap|backwards"],
    );
    check_error(
        "0 0 0 * * * 2030-2020",
        Some(Field::Year),
        13..=21,
        &["2030-2020", "wrap|backwards"],
    );
    check_error(
        "0 0 0 * * 6-1/2",
        Some(Field::DayOfWeek),
        11..=15,
        &["6-1", "wrap|backwards"],
    );
}

#[test]
fn malformed_items() {
    check_error("*/0 * * * * *", Some(Field::Second), 1..=3, &["step"]);
    check_error("0 0 0 1/0 * *", Some(Field::DayOfMonth), 7..=9, &["step"]);
    check_error("0 0 0 * * */0", Some(Field::DayOfWeek), 11..=13, &["step"]);
    check_error("0 0 0 1,,2 * *", Some(Field::DayOfMonth), 7..=10, &[]);
    check_error("0 0 0 1, * *", Some(Field::DayOfMonth), 7..=9, &[]);
    check_error("0 0 0 ,1 * *", Some(Field::DayOfMonth), 7..=8, &[]);
    check_error("0 0 0 1- * *", Some(Field::DayOfMonth), 7..=9, &[]);
    check_error("0 0 0 -1 * *", Some(Field::DayOfMonth), 7..=8, &[]);
    check_error("0 0 0 1-2-3 * *", Some(Field::DayOfMonth), 7..=11, &[]);
    check_error("0 0 0 1/2/3 * *", Some(Field::DayOfMonth), 7..=11, &[]);
    check_error("*/ * * * * *", Some(Field::Second), 1..=3, &[]);
    check_error("/5 * * * * *", Some(Field::Second), 1..=2, &[]);
    check_error("0 0 0 * * 5#6", Some(Field::DayOfWeek), 11..=13, &[]);
    check_error("0 0 0 * * 5#0", Some(Field::DayOfWeek), 11..=13, &[]);
    check_error("0 0 0 * * 5#", Some(Field::DayOfWeek), 11..=13, &[]);
    check_error("0 0 0 * * #2", Some(Field::DayOfWeek), 11..=12, &[]);
    check_error("0 0 0 * * 8L", Some(Field::DayOfWeek), 11..=12, &[]);
    check_error("0 0 0 * * 9#1", Some(Field::DayOfWeek), 11..=13, &[]);
    check_error("0 0 0 32W * *", Some(Field::DayOfMonth), 7..=9, &["32"]);
    check_error("0 0 0 0W * *", Some(Field::DayOfMonth), 7..=8, &[]);
    check_error("0 0 0 L-x * *", Some(Field::DayOfMonth), 7..=9, &[]);
    check_error("0 0 0 LX * *", Some(Field::DayOfMonth), 7..=8, &[]);
    check_error("0 0 0 W * *", Some(Field::DayOfMonth), 7..=7, &[]);
    check_error("0 0 0 5L * *", Some(Field::DayOfMonth), 7..=8, &[]);
    check_error("0 0 0 * * 5W", Some(Field::DayOfWeek), 11..=12, &[]);
    check_error("0 0 0 1#2 * *", Some(Field::DayOfMonth), 7..=9, &[]);
    check_error("L * * * * *", Some(Field::Second), 1..=1, &[]);
    check_error("0 0 0 * L *", Some(Field::Month), 9..=9, &[]);
    check_error("1.5 * * * * *", Some(Field::Second), 1..=3, &[]);
    check_error("+5 * * * * *", Some(Field::Second), 1..=2, &[]);
    check_error(
        "99999999999999999999 * * * * *",
        Some(Field::Second),
        1..=20,
        &[],
    );
    check_error(
        "*/99999999999999999999 * * * * *",
        Some(Field::Second),
        1..=22,
        &[],
    );
}

#[test]
fn wrong_number_of_fields() {
    for expression in ["", "   "] {
        check_error(expression, None, 1..=usize::MAX, &[]);
    }
    for expression in ["*", "* * * *", "* * * * * * * *", "0 0 0 1 1 * 2030 extra"] {
        check_error(expression, None, 1..=usize::MAX, &["field"]);
    }
}

#[test]
fn unknown_macros() {
    for expression in ["@fortnightly", "@", "@daily2", "@Weekly2"] {
        let error = Schedule::parse(expression).expect_err(expression);
        let message = error.to_string();
        assert_message_style(expression, &message);
        assert!(message.contains(expression), "{expression:?}: {message:?}");
        assert_eq!(error.column(), 1, "{expression:?}: {message:?}");
    }
}

#[test]
fn never_firing_expressions_are_rejected() {
    // The error points at the day field that can never match (day-of-month when it is
    // restricted, else day-of-week), at its column.
    for (expression, column) in [
        ("0 0 0 30 2 *", 7),
        ("0 0 0 31 4 *", 7),
        ("0 0 0 31 2,4,6 *", 7),
        ("0 0 0 30-31 FEB *", 7),
        ("0 0 0 31 APR,JUN,SEP,NOV ?", 7),
        ("0 0 0 30W 2 *", 7),
        ("0 0 0 31W 9 *", 7),
        ("5 4 3 31 11 ?", 7),
        ("0 0 31 2 *", 5),
    ] {
        check_error_at(expression, Field::DayOfMonth, column, &["can never fire"]);
    }
    check_error_at(
        "0 0 0 ? 2 MON#5 2026",
        Field::DayOfWeek,
        11,
        &["can never fire"],
    );
    // Rejected one way or another (the notes do not say whether `L-30` is a valid token).
    assert!(Schedule::parse("0 0 0 L-30 2 *").is_err());
}

#[test]
fn rarely_firing_expressions_are_accepted() {
    for expression in [
        "0 0 0 29 2 *",
        "0 0 0 30 2 MON",
        "0 0 0 31 2,3 *",
        "0 0 0 29W 2 *",
        "0 0 0 L-28 2 *",
        "0 0 0 ? 2 1#5",
        "0 0 0 31 * *",
        "0 0 0 1 1 * 1970",
        "0 0 0 1 1 * 2099",
    ] {
        if let Err(error) = Schedule::parse(expression) {
            panic!("{expression:?} fires and should parse: {error}");
        }
    }
}

/// Odd inputs must give `Ok` or `Err`, never a panic, and errors must stay well-formed.
#[test]
fn nothing_panics() {
    let long_list = (0..60).map(|v| v.to_string()).collect::<Vec<_>>().join(",");
    let long_expression = format!("{long_list} {long_list} * * * *");
    let very_long = "1,".repeat(5_000) + "1 * * * * *";
    let inputs = [
        "\t",
        "\n",
        "@",
        "@@",
        "-",
        ",",
        "/",
        "#",
        "* * * * * /",
        "- - - - - -",
        ", , , , , ,",
        "0 0 0 * * 5##3",
        "0 0 0 * * 5#3#4",
        "0 0 0 LL * *",
        "0 0 0 L-L * *",
        "0 0 0 L--1 * *",
        "0 0 0 LW5 * *",
        "0 0 0 WW * *",
        "0 0 0 * * LL",
        "0 0 0 * * L#",
        "0 0 0 * * 1-99999999999",
        "0 0 0 * * MÖN",
        "0 0 0 * * ＭＯＮ",
        "٣ * * * * *",
        "0 0 0 * * 𝟙",
        "\u{0} * * * * *",
        "é * * * * *",
        "0 0 0 * * * 99999",
        "0 0 0 * * * -1",
        "0 0 0 * * * 2030/0",
        "*/-1 * * * * *",
        "1-*/2 * * * * *",
        "*-5 * * * * *",
        "0 0 0 ?/2 * *",
        "0 0 0 ? * ?",
        "0\u{a0}0 0 * * *",
        &long_expression,
        &very_long,
    ];
    let t: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
    for input in inputs {
        match Schedule::parse(input) {
            Ok(schedule) => {
                let text = schedule.to_string();
                assert_eq!(
                    Schedule::parse(&text).as_ref().ok(),
                    Some(&schedule),
                    "{input:?}"
                );
                assert!(
                    schedule.next_after(t).is_none_or(|next| next > t),
                    "{input:?}"
                );
            }
            Err(error) => {
                let message = error.to_string();
                assert_message_style(input, &message);
                assert!(error.column() >= 1, "{input:?}: column 0");
                assert!(
                    error.column() <= input.len() + 1,
                    "{input:?}: column {} past the end",
                    error.column()
                );
            }
        }
    }
}
