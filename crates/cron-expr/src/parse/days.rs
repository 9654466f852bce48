//! The day fields' special forms (`L`, `L-n`, `LW`, `nW`, `xL`, `x#n`), and the check that the
//! day rules select a day at all.

use super::{Item, ParsedField, find_byte, parse_number, parse_value};
use crate::error::{ParseError, ParseErrorKind};
use crate::schedule::Fields;

/// `L`, `L-n`, `LW` and `nW`; returns whether the item was one of them.
pub(super) fn parse_month_day_special(
    item: &Item<'_>,
    parsed: &mut ParsedField,
) -> Result<bool, ParseError> {
    let text = item.text;
    let upper_last = text.as_bytes().last().map(u8::to_ascii_uppercase);
    if text.eq_ignore_ascii_case("L") {
        parsed.before_last |= 1;
    } else if text.eq_ignore_ascii_case("LW") {
        parsed.last_weekday = true;
    } else if text.len() > 1 && text.as_bytes()[0].eq_ignore_ascii_case(&b'L') {
        let offset_text = text[1..].strip_prefix('-').ok_or_else(|| {
            item.whole_error(ParseErrorKind::InvalidSpecial(
                "expected L, L-n with n from 0 to 30, or LW",
            ))
        })?;
        match parse_number(offset_text) {
            Some(days) if days <= 30 => parsed.before_last |= 1 << days,
            _ => {
                let kind = ParseErrorKind::InvalidSpecial("expected L-n with n from 0 to 30");
                return Err(item.error(item.offset + 2, offset_text, kind));
            }
        }
    } else if upper_last == Some(b'W') {
        let day_text = &text[..text.len() - 1];
        match parse_number(day_text) {
            Some(day) if (1..=31).contains(&day) => parsed.nearest_weekday |= 1 << day,
            _ => {
                let kind =
                    ParseErrorKind::InvalidSpecial("expected nW with a day n from 1 to 31, or LW");
                return Err(item.whole_error(kind));
            }
        }
    } else {
        return Ok(false);
    }
    Ok(true)
}

/// `xL` and `x#n`; returns whether the item was one of them.
pub(super) fn parse_week_day_special(
    item: &Item<'_>,
    parsed: &mut ParsedField,
) -> Result<bool, ParseError> {
    let text = item.text;
    if let Some(hash) = find_byte(text.as_bytes(), 0, b'#') {
        let (day_text, nth_text) = (&text[..hash], &text[hash + 1..]);
        let week_day = parse_value(item, item.offset, day_text)? % 7;
        let nth_offset = item.offset + day_text.len() + 1;
        match parse_number(nth_text) {
            Some(nth) if (1..=5).contains(&nth) => parsed.nth |= 1 << ((nth - 1) * 7 + week_day),
            _ => {
                let kind = ParseErrorKind::InvalidSpecial("expected x#n with n from 1 to 5");
                return Err(item.error(nth_offset, nth_text, kind));
            }
        }
        return Ok(true);
    }
    if text.len() > 1 && text.as_bytes()[text.len() - 1].eq_ignore_ascii_case(&b'L') {
        let day_text = &text[..text.len() - 1];
        let week_day = parse_value(item, item.offset, day_text)? % 7;
        parsed.last_of_week_day |= 1 << week_day;
        return Ok(true);
    }
    if text.eq_ignore_ascii_case("L") {
        let kind = ParseErrorKind::InvalidSpecial(
            "write xL for the last weekday x of the month, e.g. 5L or FRIL",
        );
        return Err(item.whole_error(kind));
    }
    Ok(false)
}

/// Whether the schedule fires at least once. Seconds, minutes, hours, months and years always
/// hold a value after parsing, so only the day rules can make a schedule empty (`30 2`, i.e.
/// February 30). Most expressions contain a day rule that selects a day in every month, which is
/// checked first; the rest are checked month by month over a whole 400-year cycle (or the
/// years of the year field).
pub(super) fn can_fire(fields: &Fields) -> bool {
    let rules = &fields.days;
    let month_side_always = !rules.month_day_restricted
        || rules.month_days & 0x1fff_fffe != 0
        || rules.before_last_day & 0x0fff_ffff != 0
        || rules.nearest_weekday & 0x1fff_fffe != 0
        || rules.last_weekday_of_month;
    let week_side_always = !rules.week_day_restricted
        || rules.week_days != 0
        || rules.last_of_week_day != 0
        || rules.nth_week_day & ((1 << 28) - 1) != 0;
    let always = if rules.month_day_restricted && rules.week_day_restricted {
        month_side_always || week_side_always
    } else {
        month_side_always && week_side_always
    };
    if always {
        return true;
    }
    let has_day = |year: i32| {
        (1..=12).any(|month| fields.months & (1 << month) != 0 && fields.day_mask(year, month) != 0)
    };
    match &fields.years {
        Some(years) => years.iter().any(has_day),
        None => (2000..2400).any(has_day),
    }
}
