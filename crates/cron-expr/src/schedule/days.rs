//! The day rules: which days of a month the day-of-month and day-of-week fields select, the
//! special forms (`L`, `L-n`, `nW`, `LW`, `xL`, `x#n`) included.

use super::{Fields, weekday_of_day_number};
use crate::calendar::{days_in_month, weekday};

/// The day-of-month and day-of-week rules. Bit sets use the field's own numbering: days of the
/// month 1-31 in bits 1-31, weekdays 0 (Sunday) - 6 in bits 0-6.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DayRules {
    /// Plain days of the month.
    pub(crate) month_days: u32,
    /// `L-n` offsets from the last day: bit `n` set for `L-n` (bit 0 is `L`).
    pub(crate) before_last_day: u32,
    /// `nW`: bit `n` set for the weekday nearest day `n`.
    pub(crate) nearest_weekday: u32,
    /// `LW`: the last weekday (Monday-Friday) of the month.
    pub(crate) last_weekday_of_month: bool,
    /// Plain days of the week.
    pub(crate) week_days: u8,
    /// `xL`: bit `x` set for the last weekday `x` of the month.
    pub(crate) last_of_week_day: u8,
    /// `x#n`: bit `(n - 1) * 7 + x` set for the n-th (1-5) weekday `x` of the month.
    pub(crate) nth_week_day: u64,
    /// The day-of-month field was anything but `*` or `?`.
    pub(crate) month_day_restricted: bool,
    /// The day-of-week field was anything but `*` or `?`.
    pub(crate) week_day_restricted: bool,
}

impl DayRules {
    /// Whether matching a day needs its weekday (`L` and `L-n` do not).
    pub(super) fn need_weekday(&self) -> bool {
        self.week_day_restricted || self.nearest_weekday != 0 || self.last_weekday_of_month
    }
}

impl Fields {
    /// Whether `day` of `month` of `year`, whose day number is `days`, matches the day rules,
    /// by direct checks; only `nW` and `LW` build the month's mask.
    pub(super) fn day_matches(&self, year: i32, month: u32, day: u32, days: i64) -> bool {
        let rules = &self.days;
        let weekday = weekday_of_day_number(days);
        let month_side = || {
            if rules.month_days & (1 << day) != 0 {
                return true;
            }
            let length = days_in_month(year, month);
            if rules.before_last_day & (1 << (length - day)) != 0 {
                return true;
            }
            if rules.nearest_weekday != 0 || rules.last_weekday_of_month {
                let first_weekday = weekday_of_day_number(days - i64::from(day) + 1);
                return special_month_days(rules, length, first_weekday) & (1 << day) != 0;
            }
            false
        };
        let week_side = || {
            rules.week_days & (1 << weekday) != 0
                || (rules.last_of_week_day & (1 << weekday) != 0
                    && day + 7 > days_in_month(year, month))
                || rules.nth_week_day & (1 << ((day - 1) / 7 * 7 + weekday)) != 0
        };
        if rules.month_day_restricted && rules.week_day_restricted {
            month_side() || week_side()
        } else {
            month_side() && week_side()
        }
    }

    /// The days of a month that match the day rules, as bits 1-31.
    pub(crate) fn day_mask(&self, year: i32, month: u32) -> u32 {
        self.day_mask_from(year, month, weekday(year, month, 1))
    }

    /// [`Fields::day_mask`], given the weekday of the month's first day.
    pub(super) fn day_mask_from(&self, year: i32, month: u32, first_weekday: u32) -> u32 {
        let length = days_in_month(year, month);
        let valid = (((1u64 << (length + 1)) - 1) as u32) & !1;
        let rules = &self.days;
        let month_part = if rules.month_day_restricted {
            let mut mask = rules.month_days;
            if rules.before_last_day | rules.nearest_weekday != 0 || rules.last_weekday_of_month {
                mask |= special_month_days(rules, length, first_weekday);
            }
            mask & valid
        } else {
            valid
        };
        let week_part = if rules.week_day_restricted {
            let mut mask = spread_week_days(rules.week_days, first_weekday);
            if rules.last_of_week_day != 0 || rules.nth_week_day != 0 {
                mask |= special_week_days(rules, length, first_weekday);
            }
            mask & valid
        } else {
            valid
        };
        if rules.month_day_restricted && rules.week_day_restricted {
            month_part | week_part
        } else {
            month_part & week_part
        }
    }
}

/// The days of a month whose weekday is in `week_days`, given the weekday of the 1st.
#[inline]
fn spread_week_days(week_days: u8, first_weekday: u32) -> u32 {
    // Bit i of `first_week` says whether day i + 1 matches: day i + 1 falls on weekday
    // (first_weekday + i) % 7, so rotate the weekday set right by `first_weekday`.
    let week_days = u32::from(week_days);
    let first_week = ((week_days >> first_weekday) | (week_days << (7 - first_weekday))) & 0x7f;
    // Repeat the pattern for five weeks (days 1-35) and move day 1 to bit 1; multiplying by
    // a constant with bits 0, 7, 14, 21, 28 copies the 7-bit pattern without carries.
    (((u64::from(first_week) * 0x1020_4081) << 1) & 0xffff_fffe) as u32
}

/// Days selected by `L-n`, `nW` and `LW` in a month of `length` days.
fn special_month_days(rules: &DayRules, length: u32, first_weekday: u32) -> u32 {
    let weekday_of = |day: u32| (first_weekday + day - 1) % 7;
    let mut mask = 0u32;
    let mut offsets = rules.before_last_day;
    while offsets != 0 {
        let offset = offsets.trailing_zeros();
        offsets &= offsets - 1;
        if offset < length {
            mask |= 1 << (length - offset);
        }
    }
    let mut days = rules.nearest_weekday;
    while days != 0 {
        let day = days.trailing_zeros();
        days &= days - 1;
        if day > length {
            continue;
        }
        // The nearest Monday-Friday to `day`, never leaving the month: a Saturday moves back to
        // Friday unless that is in the previous month (then forward to Monday), a Sunday moves
        // forward to Monday unless that is in the next month (then back to Friday).
        let nearest = match weekday_of(day) {
            6 if day == 1 => 3,
            6 => day - 1,
            0 if day == length => day - 2,
            0 => day + 1,
            _ => day,
        };
        mask |= 1 << nearest;
    }
    if rules.last_weekday_of_month {
        let last = match weekday_of(length) {
            6 => length - 1,
            0 => length - 2,
            _ => length,
        };
        mask |= 1 << last;
    }
    mask
}

/// Days selected by `xL` and `x#n` in a month of `length` days.
fn special_week_days(rules: &DayRules, length: u32, first_weekday: u32) -> u32 {
    let mut mask = 0u32;
    let mut last = rules.last_of_week_day;
    let last_weekday = (first_weekday + length - 1) % 7;
    while last != 0 {
        let week_day = last.trailing_zeros();
        last &= last - 1;
        mask |= 1 << (length - (last_weekday + 7 - week_day) % 7);
    }
    let mut nth = rules.nth_week_day;
    while nth != 0 {
        let bit = nth.trailing_zeros();
        nth &= nth - 1;
        let (week, week_day) = (bit / 7, bit % 7);
        let day = 1 + (week_day + 7 - first_weekday) % 7 + 7 * week;
        if day <= length {
            mask |= 1 << day;
        }
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spreads_week_days_over_the_month() {
        // November 2026 starts on a Sunday (0); Mondays are the 2nd, 9th, 16th, 23rd, 30th.
        let mondays = spread_week_days(1 << 1, 0);
        assert_eq!(
            mondays,
            (1 << 2) | (1 << 9) | (1 << 16) | (1 << 23) | (1 << 30)
        );
        // A month starting on Saturday (6): Sundays are the 2nd, 9th, ...
        let sundays = spread_week_days(1, 6);
        assert_eq!(sundays & 0b1111_1111_1110, (1 << 2) | (1 << 9));
    }
}
