//! Calendar dates as screening records write them (`YYYY-MM-DD`, the
//! proleptic Gregorian calendar) and whole days between two of them — all
//! a postmenstrual age needs, without a time zone in sight.

use std::fmt;

/// A calendar day.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: i32,
    pub month: u32,
    pub day: u32,
}

fn leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

impl Date {
    /// Parses exactly `YYYY-MM-DD` (a real day of a year 1900–2199), or
    /// says what is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a date as YYYY-MM-DD");
        let bytes = text.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let digits = |range: std::ops::Range<usize>| -> Result<u32, String> {
            let part = &text[range];
            if !part.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            part.parse().map_err(|_| bad())
        };
        let (year, month, day) = (digits(0..4)? as i32, digits(5..7)?, digits(8..10)?);
        if !(1900..=2199).contains(&year) {
            return Err(format!("{text}: year {year} is outside 1900–2199"));
        }
        if !(1..=12).contains(&month) {
            return Err(format!("{text}: there is no month {month}"));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(format!("{text}: month {month} of {year} has no day {day}"));
        }
        Ok(Self { year, month, day })
    }

    /// Days since 1970-01-01 (negative before), by the civil-from-days
    /// arithmetic of eras of 400 years.
    pub fn days_since_epoch(self) -> i64 {
        let year = i64::from(self.year) - i64::from(self.month <= 2);
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month = i64::from(self.month);
        let day_of_year =
            (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        era * 146_097 + day_of_era - 719_468
    }

    /// Whole days from `earlier` to `self` (negative when `self` is earlier).
    /// The date `days` days later (earlier when negative): the inverse of
    /// [`Self::days_since_epoch`] (civil-from-days over 400-year eras).
    pub fn plus_days(self, days: i64) -> Date {
        let z = self.days_since_epoch() + days + 719_468;
        let era = z.div_euclid(146_097);
        let day_of_era = z - era * 146_097;
        let year_of_era =
            (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
        let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
        let shifted_month = (5 * day_of_year + 2) / 153;
        let day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
        let month = if shifted_month < 10 {
            shifted_month + 3
        } else {
            shifted_month - 9
        };
        let year = year_of_era + era * 400 + i64::from(month <= 2);
        Date {
            year: year as i32,
            month: month as u32,
            day: day as u32,
        }
    }

    pub fn days_after(self, earlier: Date) -> i64 {
        self.days_since_epoch() - earlier.days_since_epoch()
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adding_days_inverts_counting_them() {
        let d = |t: &str| Date::parse(t).unwrap();
        assert_eq!(d("2024-02-28").plus_days(1), d("2024-02-29"));
        assert_eq!(d("2023-02-28").plus_days(1), d("2023-03-01"));
        assert_eq!(d("2026-12-31").plus_days(1), d("2027-01-01"));
        assert_eq!(d("2026-01-10").plus_days(41), d("2026-02-20"));
        assert_eq!(d("2000-03-01").plus_days(-1), d("2000-02-29"));
        let start = d("1999-11-20");
        for k in 0..1500 {
            assert_eq!(start.plus_days(k).days_after(start), k);
        }
    }

    #[test]
    fn dates_parse_exactly_and_count_days_across_leap_years() {
        let d = |t: &str| Date::parse(t).unwrap();
        assert_eq!(d("1970-01-01").days_since_epoch(), 0);
        assert_eq!(d("2000-03-01").days_since_epoch(), 11_017);
        assert_eq!(d("1969-12-31").days_since_epoch(), -1);
        // 2024 is a leap year: 29 February exists, 60 days to 1 March.
        assert_eq!(d("2024-03-01").days_after(d("2024-01-01")), 60);
        assert_eq!(d("2023-03-01").days_after(d("2023-01-01")), 59);
        assert_eq!(d("2026-12-03").days_after(d("2026-10-01")), 63);
        assert_eq!(d("2026-10-01").days_after(d("2026-12-03")), -63);
        assert_eq!(d("2026-02-05").to_string(), "2026-02-05");
        for bad in [
            "2026-2-05",
            "2026/02/05",
            "2026-02-29",
            "1900-02-29",
            "2026-13-01",
            "2026-04-31",
            "2026-00-10",
            "20260205",
            "1899-12-31",
            "２０２６-02-05",
            "",
        ] {
            assert!(Date::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(Date::parse("2000-02-29").is_ok());
    }
}
