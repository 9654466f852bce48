//! The parsed schedule: one bit set per field plus the special day rules, and the search for
//! fire times over civil (wall-clock) time by field arithmetic. The day rules are in `days`.

mod days;

pub(crate) use self::days::DayRules;
use crate::calendar::{Civil, SECONDS_PER_DAY, civil_from_days, days_from_civil, days_in_month};

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

#[cfg(test)]
mod tests {
    use super::*;

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
