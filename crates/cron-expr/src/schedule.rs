//! The parsed schedule: one bit set per field plus the special day rules, and the search for
//! fire times over civil (wall-clock) time by field arithmetic.

use crate::calendar::{
    Civil, SECONDS_PER_DAY, civil_from_days, days_from_civil, days_in_month, weekday,
};

/// First year of the optional year field.
pub(crate) const FIRST_YEAR: i32 = 1970;
/// Last year of the optional year field.
pub(crate) const LAST_YEAR: i32 = 2099;

/// How far the search looks without a year field. The Gregorian calendar repeats every 400
/// years (146,097 days, exactly 20,871 weeks), so a schedule that fires at all fires within
/// any 400-year window; one more year covers a start late in a year.
const SEARCH_YEARS: i32 = 401;

/// The years 1970-2099 as a bit set; bit `i` is year `1970 + i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct YearSet(pub(crate) [u64; 3]);

impl YearSet {
    pub(crate) const EMPTY: YearSet = YearSet([0; 3]);

    pub(crate) fn insert(&mut self, year: i32) {
        let bit = (year - FIRST_YEAR) as usize;
        self.0[bit / 64] |= 1 << (bit % 64);
    }

    pub(crate) fn contains(&self, year: i32) -> bool {
        if !(FIRST_YEAR..=LAST_YEAR).contains(&year) {
            return false;
        }
        let bit = (year - FIRST_YEAR) as usize;
        self.0[bit / 64] & (1 << (bit % 64)) != 0
    }

    pub(crate) fn is_full(&self) -> bool {
        (FIRST_YEAR..=LAST_YEAR).all(|year| self.contains(year))
    }

    /// The smallest year in the set that is `>= year`.
    fn next_at_or_after(&self, year: i32) -> Option<i32> {
        let mut bit = (year.max(FIRST_YEAR) - FIRST_YEAR) as usize;
        while bit < 192 {
            let word = self.0[bit / 64] >> (bit % 64);
            if word != 0 {
                let found = FIRST_YEAR + (bit + word.trailing_zeros() as usize) as i32;
                return (found <= LAST_YEAR).then_some(found);
            }
            bit = (bit / 64 + 1) * 64;
        }
        None
    }

    /// The largest year in the set that is `<= year`.
    fn prev_at_or_before(&self, year: i32) -> Option<i32> {
        if year < FIRST_YEAR {
            return None;
        }
        let mut bit = (year.min(LAST_YEAR) - FIRST_YEAR) as isize;
        while bit >= 0 {
            let index = bit as usize;
            let word = self.0[index / 64] & (u64::MAX >> (63 - index % 64));
            if word != 0 {
                return Some(
                    FIRST_YEAR + ((index / 64) * 64 + 63 - word.leading_zeros() as usize) as i32,
                );
            }
            bit = (index / 64) as isize * 64 - 1;
        }
        None
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = i32> + '_ {
        (FIRST_YEAR..=LAST_YEAR).filter(|&year| self.contains(year))
    }
}

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

/// A parsed schedule. See the crate documentation for the dialect and the meaning of each
/// method on [`crate::Schedule`], which wraps this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Fields {
    pub(crate) seconds: u64,
    pub(crate) minutes: u64,
    pub(crate) hours: u32,
    pub(crate) days: DayRules,
    /// Months 1-12 in bits 1-12.
    pub(crate) months: u16,
    /// `None` when the expression has no year field: every year matches.
    pub(crate) years: Option<YearSet>,
    /// The hour field was exactly `*`, which changes how the schedule treats daylight-saving
    /// transitions (see the crate documentation). `0-23` selects the same hours but is not `*`.
    pub(crate) hour_is_wildcard: bool,
}

pub(crate) const ALL_SECONDS: u64 = (1 << 60) - 1;
pub(crate) const ALL_HOURS: u32 = (1 << 24) - 1;
pub(crate) const ALL_MONTHS: u16 = 0b1_1111_1111_1110;
/// Bits 1-31.
pub(crate) const ALL_MONTH_DAYS: u32 = !1;
pub(crate) const ALL_WEEK_DAYS: u8 = 0x7f;

impl Fields {
    /// Whether the hour field is `*`, which changes how the schedule treats daylight-saving
    /// transitions (see the crate documentation).
    pub(crate) fn hour_is_wildcard(&self) -> bool {
        self.hour_is_wildcard
    }

    /// Whether the wall-clock second `local` (seconds since the epoch, read with offset zero)
    /// matches every field. The cheap fields are checked first, the day rules last.
    pub(crate) fn matches(&self, local: i64) -> bool {
        let days = local.div_euclid(SECONDS_PER_DAY);
        let second_of_day = local.rem_euclid(SECONDS_PER_DAY) as u32;
        if self.seconds & (1 << (second_of_day % 60)) == 0
            || self.minutes & (1 << (second_of_day / 60 % 60)) == 0
            || self.hours & (1 << (second_of_day / 3600)) == 0
        {
            return false;
        }
        let (year, month, day) = civil_from_days(days);
        if self.months & (1 << month) == 0 || self.years.is_some_and(|years| !years.contains(year))
        {
            return false;
        }
        self.day_matches(year, month, day, days)
    }

    /// Whether `day` of `month` of `year`, whose day number is `days`, matches the day rules,
    /// by direct checks; only `nW` and `LW` build the month's mask.
    fn day_matches(&self, year: i32, month: u32, day: u32, days: i64) -> bool {
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
    fn day_mask_from(&self, year: i32, month: u32, first_weekday: u32) -> u32 {
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

    /// The first matching wall-clock second at or after `from` (seconds since the epoch, read
    /// with offset zero), searching at most the years the schedule can fire in (or 401 years
    /// without a year field).
    pub(crate) fn next_at_or_after(&self, from: i64) -> Option<i64> {
        self.next_cursor(Cursor::at(from))
            .map(|mut at| at.epoch_seconds())
    }

    /// [`Fields::next_at_or_after`] on a cursor: the first match at or after `at`. Iterators
    /// keep the cursor between calls and skip the conversion from epoch seconds.
    pub(crate) fn next_cursor(&self, mut at: Cursor) -> Option<Cursor> {
        let last_year = match self.years {
            Some(_) => LAST_YEAR,
            None => at.year.saturating_add(SEARCH_YEARS),
        };
        // Each pass either returns or moves `at` forward to the start of a later unit (second,
        // minute, hour, day, month or year), so the loop ends after a bounded number of passes.
        // The month's day mask is kept until the month changes.
        let mut mask_of: Option<(i32, u32, u32)> = None;
        loop {
            if let Some(years) = &self.years {
                let year = years.next_at_or_after(at.year)?;
                if year != at.year {
                    at.start_month(year, 1);
                }
            }
            if at.year > last_year {
                return None;
            }
            match next_bit(u64::from(self.months), at.month) {
                None => {
                    at.start_month(at.year + 1, 1);
                    continue;
                }
                Some(month) if month != at.month => at.start_month(at.year, month),
                Some(_) => {}
            }
            let mask = match mask_of {
                Some((year, month, mask)) if year == at.year && month == at.month => mask,
                _ => {
                    // Only weekday rules need the weekday, and with it the day number.
                    let first_weekday = if self.days.need_weekday() {
                        at.first_weekday_of_month()
                    } else {
                        0
                    };
                    let mask = self.day_mask_from(at.year, at.month, first_weekday);
                    mask_of = Some((at.year, at.month, mask));
                    mask
                }
            };
            match next_bit(u64::from(mask), at.day) {
                None => {
                    at.start_next_month();
                    continue;
                }
                Some(day) if day != at.day => at.start_day(day),
                Some(_) => {}
            }
            match next_bit(u64::from(self.hours), at.hour) {
                None => {
                    at.start_next_day();
                    continue;
                }
                Some(hour) if hour != at.hour => (at.hour, at.minute, at.second) = (hour, 0, 0),
                Some(_) => {}
            }
            match next_bit(self.minutes, at.minute) {
                None => {
                    at.start_next_hour();
                    continue;
                }
                Some(minute) if minute != at.minute => (at.minute, at.second) = (minute, 0),
                Some(_) => {}
            }
            match next_bit(self.seconds, at.second) {
                None => {
                    at.start_next_minute();
                    continue;
                }
                Some(second) => {
                    at.second = second;
                    return Some(at);
                }
            }
        }
    }

    /// The last matching wall-clock second at or before `from`; the mirror of
    /// [`Fields::next_at_or_after`].
    pub(crate) fn prev_at_or_before(&self, from: i64) -> Option<i64> {
        let mut at = Cursor::at(from);
        let first_year = match self.years {
            Some(_) => FIRST_YEAR,
            None => at.year.saturating_sub(SEARCH_YEARS),
        };
        let mut mask_of: Option<(i32, u32, u32)> = None;
        loop {
            if let Some(years) = &self.years {
                let year = years.prev_at_or_before(at.year)?;
                if year != at.year {
                    at.end_month(year, 12);
                }
            }
            if at.year < first_year {
                return None;
            }
            match prev_bit(u64::from(self.months), at.month) {
                None => {
                    at.end_month(at.year - 1, 12);
                    continue;
                }
                Some(month) if month != at.month => at.end_month(at.year, month),
                Some(_) => {}
            }
            let mask = match mask_of {
                Some((year, month, mask)) if year == at.year && month == at.month => mask,
                _ => {
                    // Only weekday rules need the weekday, and with it the day number.
                    let first_weekday = if self.days.need_weekday() {
                        at.first_weekday_of_month()
                    } else {
                        0
                    };
                    let mask = self.day_mask_from(at.year, at.month, first_weekday);
                    mask_of = Some((at.year, at.month, mask));
                    mask
                }
            };
            match prev_bit(u64::from(mask), at.day) {
                None => {
                    at.end_previous_month();
                    continue;
                }
                Some(day) if day != at.day => at.end_day(day),
                Some(_) => {}
            }
            match prev_bit(u64::from(self.hours), at.hour) {
                None => {
                    at.end_previous_day();
                    continue;
                }
                Some(hour) if hour != at.hour => (at.hour, at.minute, at.second) = (hour, 59, 59),
                Some(_) => {}
            }
            match prev_bit(self.minutes, at.minute) {
                None => {
                    at.end_previous_hour();
                    continue;
                }
                Some(minute) if minute != at.minute => (at.minute, at.second) = (minute, 59),
                Some(_) => {}
            }
            match prev_bit(self.seconds, at.second) {
                None => {
                    at.end_previous_minute();
                    continue;
                }
                Some(second) => {
                    at.second = second;
                    return Some(at.epoch_seconds());
                }
            }
        }
    }
}

impl DayRules {
    /// Whether matching a day needs its weekday (`L` and `L-n` do not).
    fn need_weekday(&self) -> bool {
        self.week_day_restricted || self.nearest_weekday != 0 || self.last_weekday_of_month
    }
}

/// The weekday (0 = Sunday) of a day number (days since 1970-01-01, a Thursday).
#[inline]
fn weekday_of_day_number(days: i64) -> u32 {
    (days + 4).rem_euclid(7) as u32
}

/// A position of the search: a civil date and time, and the day number of its date, kept in
/// step so that the result converts back to epoch seconds without calendar arithmetic. After a
/// jump to another month the day number is computed only when it is needed (a weekday rule or
/// the result), so a sparse search across years costs no calendar arithmetic per month.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    year: i32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    /// Days since 1970-01-01 of `year-month-day`, when `days_known` (moves within a month keep
    /// it in step; while unknown it is meaningless and recomputed on demand).
    days: i64,
    days_known: bool,
}

impl Cursor {
    pub(crate) fn at(seconds: i64) -> Cursor {
        let civil = Civil::from_epoch_seconds(seconds);
        Cursor {
            year: civil.year,
            month: civil.month,
            day: civil.day,
            hour: civil.hour,
            minute: civil.minute,
            second: civil.second,
            days: seconds.div_euclid(SECONDS_PER_DAY),
            days_known: true,
        }
    }

    fn day_number(&mut self) -> i64 {
        if !self.days_known {
            self.days = days_from_civil(self.year, self.month, self.day);
            self.days_known = true;
        }
        self.days
    }

    pub(crate) fn epoch_seconds(&mut self) -> i64 {
        self.day_number() * SECONDS_PER_DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }

    fn first_weekday_of_month(&mut self) -> u32 {
        weekday_of_day_number(self.day_number() - i64::from(self.day) + 1)
    }

    /// Midnight on the 1st of `month` of `year`.
    fn start_month(&mut self, year: i32, month: u32) {
        *self = Cursor {
            year,
            month,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            days: 0,
            days_known: false,
        };
    }

    /// The last second of the last day of `month` of `year`.
    fn end_month(&mut self, year: i32, month: u32) {
        let day = days_in_month(year, month);
        *self = Cursor {
            year,
            month,
            day,
            hour: 23,
            minute: 59,
            second: 59,
            days: 0,
            days_known: false,
        };
    }

    /// Midnight of `day` of the current month.
    fn start_day(&mut self, day: u32) {
        self.days += i64::from(day) - i64::from(self.day);
        (self.day, self.hour, self.minute, self.second) = (day, 0, 0, 0);
    }

    /// The last second of `day` of the current month.
    fn end_day(&mut self, day: u32) {
        self.days += i64::from(day) - i64::from(self.day);
        (self.day, self.hour, self.minute, self.second) = (day, 23, 59, 59);
    }

    fn start_next_month(&mut self) {
        if self.month == 12 {
            self.start_month(self.year + 1, 1);
        } else {
            self.start_month(self.year, self.month + 1);
        }
    }

    fn end_previous_month(&mut self) {
        if self.month == 1 {
            self.end_month(self.year - 1, 12);
        } else {
            self.end_month(self.year, self.month - 1);
        }
    }

    fn start_next_day(&mut self) {
        if self.day >= days_in_month(self.year, self.month) {
            self.start_next_month();
        } else {
            self.start_day(self.day + 1);
        }
    }

    fn end_previous_day(&mut self) {
        if self.day == 1 {
            self.end_previous_month();
        } else {
            self.end_day(self.day - 1);
        }
    }

    fn start_next_hour(&mut self) {
        if self.hour == 23 {
            self.start_next_day();
        } else {
            (self.hour, self.minute, self.second) = (self.hour + 1, 0, 0);
        }
    }

    fn end_previous_hour(&mut self) {
        if self.hour == 0 {
            self.end_previous_day();
        } else {
            (self.hour, self.minute, self.second) = (self.hour - 1, 59, 59);
        }
    }

    /// The next second.
    pub(crate) fn step_second(&mut self) {
        if self.second == 59 {
            self.start_next_minute();
        } else {
            self.second += 1;
        }
    }

    fn start_next_minute(&mut self) {
        if self.minute == 59 {
            self.start_next_hour();
        } else {
            (self.minute, self.second) = (self.minute + 1, 0);
        }
    }

    fn end_previous_minute(&mut self) {
        if self.minute == 0 {
            self.end_previous_hour();
        } else {
            (self.minute, self.second) = (self.minute - 1, 59);
        }
    }
}

/// The smallest set bit `>= from`, if any.
#[inline]
fn next_bit(set: u64, from: u32) -> Option<u32> {
    if from >= 64 {
        return None;
    }
    let rest = set & (u64::MAX << from);
    (rest != 0).then(|| rest.trailing_zeros())
}

/// The largest set bit `<= at_most`, if any.
#[inline]
fn prev_bit(set: u64, at_most: u32) -> Option<u32> {
    let rest = set & (u64::MAX >> (63 - at_most.min(63)));
    (rest != 0).then(|| 63 - rest.leading_zeros())
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

    #[test]
    fn finds_bits_both_ways() {
        assert_eq!(next_bit(0b1010, 0), Some(1));
        assert_eq!(next_bit(0b1010, 2), Some(3));
        assert_eq!(next_bit(0b1010, 4), None);
        assert_eq!(prev_bit(0b1010, 2), Some(1));
        assert_eq!(prev_bit(0b1010, 0), None);
        assert_eq!(prev_bit(1 << 59, 59), Some(59));
    }

    #[test]
    fn year_sets_search_both_ways() {
        let mut years = YearSet::EMPTY;
        for year in [1970, 2033, 2034, 2099] {
            years.insert(year);
        }
        assert_eq!(years.next_at_or_after(1900), Some(1970));
        assert_eq!(years.next_at_or_after(1971), Some(2033));
        assert_eq!(years.next_at_or_after(2035), Some(2099));
        assert_eq!(years.next_at_or_after(2100), None);
        assert_eq!(years.prev_at_or_before(3000), Some(2099));
        assert_eq!(years.prev_at_or_before(2098), Some(2034));
        assert_eq!(years.prev_at_or_before(2032), Some(1970));
        assert_eq!(years.prev_at_or_before(1969), None);
    }
}
