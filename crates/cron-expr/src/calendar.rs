//! Proleptic Gregorian calendar arithmetic on plain integers.
//!
//! The search for fire times works on broken-down civil times, so it needs fast conversions
//! between seconds since the Unix epoch and (year, month, day, hour, minute, second). These are
//! the well-known days-from-civil algorithms (Howard Hinnant, "chrono-Compatible Low-Level Date
//! Algorithms"); they are branch-light and do not allocate.

/// Seconds in one day.
pub(crate) const SECONDS_PER_DAY: i64 = 86_400;

/// A broken-down civil date and time with whole seconds, in no particular time zone.
///
/// Ordering is chronological because the fields are compared from the most significant down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Civil {
    pub(crate) year: i32,
    pub(crate) month: u32,
    pub(crate) day: u32,
    pub(crate) hour: u32,
    pub(crate) minute: u32,
    pub(crate) second: u32,
}

impl Civil {
    /// Converts seconds since the Unix epoch, read as a wall clock with offset zero.
    pub(crate) fn from_epoch_seconds(seconds: i64) -> Civil {
        let days = seconds.div_euclid(SECONDS_PER_DAY);
        let second_of_day = seconds.rem_euclid(SECONDS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
        }
    }

    /// The inverse of [`Civil::from_epoch_seconds`].
    #[cfg(test)]
    pub(crate) fn to_epoch_seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * SECONDS_PER_DAY
            + i64::from(self.hour * 3600 + self.minute * 60 + self.second)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(crate) fn days_from_civil(year: i32, month: u32, day: u32) -> i64 {
    let year = i64::from(year) - i64::from(month <= 2);
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The proleptic Gregorian date of a count of days since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i32, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let shifted_month = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * shifted_month + 2) / 5 + 1) as u32;
    let month = if shifted_month < 10 {
        shifted_month + 3
    } else {
        shifted_month - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year as i32, month, day)
}

/// Whether `year` has a February 29.
pub(crate) const fn is_leap_year(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// The number of days in a month (1-12) of a year.
pub(crate) const fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        2 => {
            if is_leap_year(year) {
                29
            } else {
                28
            }
        }
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The day of the week of a date, 0 = Sunday .. 6 = Saturday.
pub(crate) fn weekday(year: i32, month: u32, day: u32) -> u32 {
    // 1970-01-01 was a Thursday (4).
    (days_from_civil(year, month, day) + 4).rem_euclid(7) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_days_across_four_centuries() {
        let start = days_from_civil(1899, 12, 25);
        let mut expected = (1899, 12, 25);
        for days in start..start + 146_097 + 400 {
            assert_eq!(civil_from_days(days), expected, "day {days}");
            assert_eq!(days_from_civil(expected.0, expected.1, expected.2), days);
            // Step the expected date by one day the slow way.
            let (y, m, d) = expected;
            expected = if d < days_in_month(y, m) {
                (y, m, d + 1)
            } else if m < 12 {
                (y, m + 1, 1)
            } else {
                (y + 1, 1, 1)
            };
        }
    }

    #[test]
    fn knows_leap_years_and_weekdays() {
        assert!(is_leap_year(2000) && is_leap_year(2096) && is_leap_year(2104));
        assert!(!is_leap_year(2100) && !is_leap_year(1900) && !is_leap_year(2027));
        assert_eq!(weekday(1970, 1, 1), 4);
        assert_eq!(weekday(2026, 11, 29), 0);
        assert_eq!(weekday(2000, 2, 29), 2);
    }

    #[test]
    fn converts_epoch_seconds_both_ways() {
        for &(seconds, civil) in &[
            (
                0,
                Civil {
                    year: 1970,
                    month: 1,
                    day: 1,
                    hour: 0,
                    minute: 0,
                    second: 0,
                },
            ),
            (
                -1,
                Civil {
                    year: 1969,
                    month: 12,
                    day: 31,
                    hour: 23,
                    minute: 59,
                    second: 59,
                },
            ),
            (
                1_796_001_031,
                Civil {
                    year: 2026,
                    month: 11,
                    day: 30,
                    hour: 1,
                    minute: 10,
                    second: 31,
                },
            ),
            (
                951_782_400,
                Civil {
                    year: 2000,
                    month: 2,
                    day: 29,
                    hour: 0,
                    minute: 0,
                    second: 0,
                },
            ),
        ] {
            assert_eq!(Civil::from_epoch_seconds(seconds), civil);
            assert_eq!(civil.to_epoch_seconds(), seconds);
        }
    }
}
