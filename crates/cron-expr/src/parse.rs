//! The parser: text to [`Fields`], without allocating unless it fails. The day fields' special
//! forms are in `days`.

mod days;

use self::days::{can_fire, parse_month_day_special, parse_week_day_special};
use crate::error::{Field, ParseError, ParseErrorKind};
use crate::schedule::{
    ALL_MONTH_DAYS, ALL_WEEK_DAYS, DayRules, FIRST_YEAR, Fields, LAST_YEAR, YearSet,
};

/// Parses a whole expression: a macro, or 5, 6 or 7 whitespace-separated fields.
pub(crate) fn parse(expr: &str) -> Result<Fields, ParseError> {
    let mut tokens: [(usize, &str); 7] = [(0, ""); 7];
    let mut count = 0;
    for (offset, token) in split_fields(expr) {
        if count == 7 {
            return Err(error_at(
                expr,
                None,
                offset,
                token,
                ParseErrorKind::FieldCount(split_fields(expr).count()),
            ));
        }
        tokens[count] = (offset, token);
        count += 1;
    }
    if count == 0 {
        return Err(ParseError::new(None, 1, expr, ParseErrorKind::Empty));
    }
    if tokens[0].1.starts_with('@') {
        let (offset, token) = tokens[0];
        if count > 1 {
            let kind = ParseErrorKind::InvalidSpecial("a macro must be the whole expression");
            return Err(error_at(expr, None, offset, token, kind));
        }
        return match expand_macro(token) {
            Some(expansion) => parse(expansion),
            None => Err(error_at(
                expr,
                None,
                offset,
                token,
                ParseErrorKind::UnknownMacro,
            )),
        };
    }
    if count < 5 {
        let kind = ParseErrorKind::FieldCount(count);
        return Err(ParseError::new(None, 1, expr.trim(), kind));
    }
    let fields = &tokens[..count];
    // With five fields the seconds field is implied: fire at second 0.
    let (seconds, rest) = if count == 5 {
        (1, fields)
    } else {
        (parse_field(expr, fields[0], &SECOND)?.values, &fields[1..])
    };
    let minutes = parse_field(expr, rest[0], &MINUTE)?.values;
    let hours = parse_field(expr, rest[1], &HOUR)?.values as u32;
    let month_day = parse_field(expr, rest[2], &DAY_OF_MONTH)?;
    let months = parse_field(expr, rest[3], &MONTH)?.values as u16;
    let week_day = parse_field(expr, rest[4], &DAY_OF_WEEK)?;
    let years = match rest.get(5) {
        Some(&token) => Some(parse_years(expr, token)?),
        None => None,
    };
    let days = DayRules {
        month_days: if month_day.restricted {
            month_day.values as u32
        } else {
            ALL_MONTH_DAYS
        },
        before_last_day: month_day.before_last,
        nearest_weekday: month_day.nearest_weekday,
        last_weekday_of_month: month_day.last_weekday,
        week_days: if week_day.restricted {
            week_day.values as u8
        } else {
            ALL_WEEK_DAYS
        },
        last_of_week_day: week_day.last_of_week_day,
        nth_week_day: week_day.nth,
        month_day_restricted: month_day.restricted,
        week_day_restricted: week_day.restricted,
    };
    let fields_value = Fields {
        seconds,
        minutes,
        hours,
        days,
        months,
        years,
        hour_is_wildcard: rest[1].1 == "*",
    };
    if !can_fire(&fields_value) {
        let (offset, token) = if month_day.restricted {
            rest[2]
        } else {
            rest[4]
        };
        let field = if month_day.restricted {
            Field::DayOfMonth
        } else {
            Field::DayOfWeek
        };
        return Err(error_at(
            expr,
            Some(field),
            offset,
            token,
            ParseErrorKind::NeverFires,
        ));
    }
    Ok(fields_value)
}

/// The expansion of a `@macro`, matched case-insensitively.
fn expand_macro(token: &str) -> Option<&'static str> {
    const MACROS: [(&str, &str); 7] = [
        ("@yearly", "0 0 0 1 1 *"),
        ("@annually", "0 0 0 1 1 *"),
        ("@monthly", "0 0 0 1 * *"),
        ("@weekly", "0 0 0 * * 0"),
        ("@daily", "0 0 0 * * *"),
        ("@midnight", "0 0 0 * * *"),
        ("@hourly", "0 0 * * * *"),
    ];
    MACROS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(token))
        .map(|&(_, expansion)| expansion)
}

/// Splits on ASCII whitespace, yielding each token with its byte offset. Bytes of multi-byte
/// UTF-8 characters are never ASCII, so slicing at these offsets is always valid.
fn split_fields(expr: &str) -> impl Iterator<Item = (usize, &str)> + '_ {
    let bytes = expr.as_bytes();
    let mut position = 0;
    std::iter::from_fn(move || {
        while position < bytes.len() && bytes[position].is_ascii_whitespace() {
            position += 1;
        }
        if position == bytes.len() {
            return None;
        }
        let start = position;
        while position < bytes.len() && !bytes[position].is_ascii_whitespace() {
            position += 1;
        }
        Some((start, &expr[start..position]))
    })
}

/// Builds an error, turning a byte offset into a 1-based character column. Only error paths
/// pay for counting characters.
fn error_at(
    expr: &str,
    field: Option<Field>,
    offset: usize,
    token: &str,
    kind: ParseErrorKind,
) -> ParseError {
    let column = expr[..offset].chars().count() + 1;
    ParseError::new(field, column, token, kind)
}

/// How one field is written: its range and its names.
struct FieldSpec {
    field: Field,
    min: u32,
    max: u32,
    /// Names for values `min..`, three letters each, matched case-insensitively.
    names: &'static [u32],
}

const SECOND: FieldSpec = FieldSpec {
    field: Field::Second,
    min: 0,
    max: 59,
    names: &[],
};
const MINUTE: FieldSpec = FieldSpec {
    field: Field::Minute,
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: FieldSpec = FieldSpec {
    field: Field::Hour,
    min: 0,
    max: 23,
    names: &[],
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    field: Field::DayOfMonth,
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: FieldSpec = FieldSpec {
    field: Field::Month,
    min: 1,
    max: 12,
    names: &[
        pack(b"JAN"),
        pack(b"FEB"),
        pack(b"MAR"),
        pack(b"APR"),
        pack(b"MAY"),
        pack(b"JUN"),
        pack(b"JUL"),
        pack(b"AUG"),
        pack(b"SEP"),
        pack(b"OCT"),
        pack(b"NOV"),
        pack(b"DEC"),
    ],
};
/// Day-of-week values run 0-7; both 0 and 7 are Sunday and are stored as 0.
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    field: Field::DayOfWeek,
    min: 0,
    max: 7,
    names: &[
        pack(b"SUN"),
        pack(b"MON"),
        pack(b"TUE"),
        pack(b"WED"),
        pack(b"THU"),
        pack(b"FRI"),
        pack(b"SAT"),
    ],
};

/// What a field parsed to. The special forms are only ever set for the day fields.
#[derive(Default)]
struct ParsedField {
    /// Plain values as a bit set in the field's own numbering.
    values: u64,
    /// False when the field was exactly `*` or `?`.
    restricted: bool,
    before_last: u32,
    nearest_weekday: u32,
    last_weekday: bool,
    last_of_week_day: u8,
    nth: u64,
}

/// The pieces of one list item, with their positions for error messages.
struct Item<'a> {
    expr: &'a str,
    offset: usize,
    text: &'a str,
    spec: &'a FieldSpec,
}

impl Item<'_> {
    fn error(&self, offset: usize, token: &str, kind: ParseErrorKind) -> ParseError {
        error_at(self.expr, Some(self.spec.field), offset, token, kind)
    }

    fn whole_error(&self, kind: ParseErrorKind) -> ParseError {
        self.error(self.offset, self.text, kind)
    }
}

fn parse_field(
    expr: &str,
    (offset, token): (usize, &str),
    spec: &FieldSpec,
) -> Result<ParsedField, ParseError> {
    let mut parsed = ParsedField {
        restricted: true,
        ..ParsedField::default()
    };
    let is_day_field = matches!(spec.field, Field::DayOfMonth | Field::DayOfWeek);
    let bytes = token.as_bytes();
    if bytes.len() == 1 && (bytes[0] == b'?' || bytes[0] == b'*') {
        if bytes[0] == b'?' && !is_day_field {
            return Err(error_at(
                expr,
                Some(spec.field),
                offset,
                token,
                ParseErrorKind::QuestionMarkNotAllowed,
            ));
        }
        parsed.restricted = !is_day_field;
        parsed.values = range_bits(
            spec.min,
            if spec.field == Field::DayOfWeek {
                6
            } else {
                spec.max
            },
            1,
        );
        return Ok(parsed);
    }
    // Items are split by hand: `str::split` costs more than the rest of the parse.
    let mut start = 0;
    while start <= bytes.len() {
        let end = find_byte(bytes, start, b',').unwrap_or(bytes.len());
        let text = &token[start..end];
        let item = Item {
            expr,
            offset: offset + start,
            text,
            spec,
        };
        start = end + 1;
        if text.is_empty() {
            return Err(error_at(
                expr,
                Some(spec.field),
                item.offset,
                token,
                ParseErrorKind::EmptyItem,
            ));
        }
        if text.as_bytes() == b"?" {
            let kind = if is_day_field {
                ParseErrorKind::InvalidSpecial("\"?\" must be the whole field")
            } else {
                ParseErrorKind::QuestionMarkNotAllowed
            };
            return Err(item.whole_error(kind));
        }
        match spec.field {
            Field::DayOfMonth if parse_month_day_special(&item, &mut parsed)? => continue,
            Field::DayOfWeek if parse_week_day_special(&item, &mut parsed)? => continue,
            _ => {}
        }
        parsed.values |= parse_plain_item(&item)?;
    }
    Ok(parsed)
}

/// Parses `*`, `a`, `a-b`, with an optional `/step`, into a bit set.
#[inline]
fn parse_plain_item(item: &Item<'_>) -> Result<u64, ParseError> {
    let spec = item.spec;
    let (base, step) = match find_byte(item.text.as_bytes(), 0, b'/') {
        Some(slash) => (&item.text[..slash], Some(&item.text[slash + 1..])),
        None => (item.text, None),
    };
    let highest = if spec.field == Field::DayOfWeek {
        6
    } else {
        spec.max
    };
    let (start, end) = if base.as_bytes() == b"*" {
        (spec.min, highest)
    } else if let Some((first, last)) = split_range(base) {
        let start = parse_value(item, item.offset, first)?;
        let last_offset = item.offset + first.len() + 1;
        let mut end = parse_value(item, last_offset, last)?;
        // A day-of-week range may end on Sunday written as 0 or SUN: `FRI-SUN` means 5-7.
        if spec.field == Field::DayOfWeek && end == 0 && start > 0 {
            end = 7;
        }
        if start > end {
            return Err(item.error(item.offset, base, ParseErrorKind::WrappingRange));
        }
        (start, end)
    } else {
        let value = parse_value(item, item.offset, base)?;
        // `a/n` runs from `a` to the end of the field.
        (
            value,
            if step.is_some() {
                highest.max(value)
            } else {
                value
            },
        )
    };
    let step = match step {
        None => 1,
        Some(text) => {
            let step_offset = item.offset + base.len() + 1;
            let span = highest - spec.min;
            match parse_number(text) {
                Some(step) if (1..=span.max(1)).contains(&step) => step,
                _ => return Err(item.error(step_offset, text, ParseErrorKind::InvalidStep)),
            }
        }
    };
    let mut bits = range_bits(start, end, step);
    if spec.field == Field::DayOfWeek && bits & (1 << 7) != 0 {
        bits = (bits & !(1 << 7)) | 1;
    }
    Ok(bits)
}

/// Splits `a-b`, but not a leading minus sign (which is simply invalid).
fn split_range(text: &str) -> Option<(&str, &str)> {
    let dash = find_byte(text.as_bytes(), 1, b'-')?;
    Some((&text[..dash], &text[dash + 1..]))
}

/// The first position of `wanted` in `bytes` at or after `from`. Tokens are a few bytes long,
/// where a plain loop beats the generic substring search.
#[inline]
fn find_byte(bytes: &[u8], from: usize, wanted: u8) -> Option<usize> {
    let mut index = from;
    while index < bytes.len() {
        if bytes[index] == wanted {
            return Some(index);
        }
        index += 1;
    }
    None
}

/// A three-letter upper-case name packed into an integer, so that names compare as numbers.
const fn pack(name: &[u8; 3]) -> u32 {
    name[0] as u32 | (name[1] as u32) << 8 | (name[2] as u32) << 16
}

/// The packed upper-case form of `text`, or `None` for anything but three ASCII letters.
#[inline]
fn packed_name(text: &str) -> Option<u32> {
    match *text.as_bytes() {
        [a, b, c]
            if a.is_ascii_alphabetic() && b.is_ascii_alphabetic() && c.is_ascii_alphabetic() =>
        {
            Some(pack(&[
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ]))
        }
        _ => None,
    }
}

/// Parses one value: a number or (for months and weekdays) a three-letter name.
#[inline]
fn parse_value(item: &Item<'_>, offset: usize, text: &str) -> Result<u32, ParseError> {
    let spec = item.spec;
    if text.is_empty() {
        return Err(item.error(offset, item.text, ParseErrorKind::EmptyItem));
    }
    if let Some(value) = parse_number(text) {
        if value < spec.min || value > spec.max {
            return Err(item.error(offset, text, ParseErrorKind::OutOfRange));
        }
        return Ok(value);
    }
    if text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(item.error(offset, text, ParseErrorKind::OutOfRange));
    }
    let index =
        packed_name(text).and_then(|packed| spec.names.iter().position(|&name| name == packed));
    match index {
        Some(index) => Ok(spec.min + index as u32),
        None => Err(item.error(offset, text, ParseErrorKind::InvalidValue)),
    }
}

/// A decimal number of at most four digits (anything longer is out of every range).
fn parse_number(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    text.bytes().try_fold(0u32, |value, byte| {
        byte.is_ascii_digit()
            .then(|| value * 10 + u32::from(byte - b'0'))
    })
}

/// The bit set of `start, start + step, ...` up to `end`.
fn range_bits(start: u32, end: u32, step: u32) -> u64 {
    if step == 1 {
        return (u64::MAX >> (63 - end)) & (u64::MAX << start);
    }
    let mut bits = 0;
    let mut value = start;
    while value <= end {
        bits |= 1 << value;
        value += step;
    }
    bits
}

/// The optional year field: `*`, values, ranges and steps over 1970-2099.
fn parse_years(expr: &str, (offset, token): (usize, &str)) -> Result<YearSet, ParseError> {
    const YEAR: FieldSpec = FieldSpec {
        field: Field::Year,
        min: FIRST_YEAR as u32,
        max: LAST_YEAR as u32,
        names: &[],
    };
    let mut years = YearSet::EMPTY;
    if token == "?" {
        return Err(error_at(
            expr,
            Some(Field::Year),
            offset,
            token,
            ParseErrorKind::QuestionMarkNotAllowed,
        ));
    }
    let mut item_offset = offset;
    for text in token.split(',') {
        let item = Item {
            expr,
            offset: item_offset,
            text,
            spec: &YEAR,
        };
        item_offset += text.len() + 1;
        if text.is_empty() {
            return Err(error_at(
                expr,
                Some(Field::Year),
                item.offset,
                token,
                ParseErrorKind::EmptyItem,
            ));
        }
        // Years do not fit a 64-bit set, so expand the item by hand.
        let (base, step) = match text.split_once('/') {
            Some((base, step)) => (base, Some(step)),
            None => (text, None),
        };
        let (start, end) = if base == "*" {
            (YEAR.min, YEAR.max)
        } else if let Some((first, last)) = split_range(base) {
            let start = parse_value(&item, item.offset, first)?;
            let end = parse_value(&item, item.offset + first.len() + 1, last)?;
            if start > end {
                return Err(item.error(item.offset, base, ParseErrorKind::WrappingRange));
            }
            (start, end)
        } else {
            let value = parse_value(&item, item.offset, base)?;
            (value, if step.is_some() { YEAR.max } else { value })
        };
        let step = match step {
            None => 1,
            Some(text) => match parse_number(text) {
                Some(step) if (1..=YEAR.max - YEAR.min).contains(&step) => step,
                _ => {
                    return Err(item.error(
                        item.offset + base.len() + 1,
                        text,
                        ParseErrorKind::InvalidStep,
                    ));
                }
            },
        };
        let mut year = start;
        while year <= end {
            years.insert(year as i32);
            year += step;
        }
    }
    Ok(years)
}
