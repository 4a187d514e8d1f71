//! The capture time format (`ts` and every other time field): RFC 3339, UTC, millisecond
//! precision, `Z` suffix (`2026-11-21T08:18:23.123Z`). [`timestamp`] writes it, [`parse_timestamp`]
//! reads it back; every reader of a capture's times goes through the latter.
//!
//! Format: RFC 3339 (<https://www.rfc-editor.org/rfc/rfc3339>), as documented in
//! `docs/capture-format.md`.

use chrono::{DateTime, Datelike as _, NaiveDate, NaiveTime, Timelike as _, Utc};

/// A time as the capture format writes it: RFC 3339, UTC, millisecond precision. Takes a
/// `std::time::SystemTime` or a `chrono::DateTime<Utc>`.
///
/// ```
/// let ts = phonehome_record::timestamp(std::time::SystemTime::UNIX_EPOCH);
/// assert_eq!(ts, "1970-01-01T00:00:00.000Z");
/// let at = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(1_500).expect("in range");
/// assert_eq!(phonehome_record::timestamp(at), "1970-01-01T00:00:01.500Z");
/// ```
pub fn timestamp(at: impl Into<DateTime<Utc>>) -> String {
    let at = at.into();
    capture_text(&at).unwrap_or_else(|| chrono_text(&at))
}

/// The capture's time format as chrono writes it: RFC 3339, UTC as `Z`, milliseconds.
fn chrono_text(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` written digit by digit (every record has a time: this is on the
/// recording path), for years 0–9999 outside a leap second; `None` otherwise (chrono's
/// formatter then writes it, as it writes this layout).
fn capture_text(at: &DateTime<Utc>) -> Option<String> {
    let year = u32::try_from(at.year()).ok().filter(|y| *y <= 9999)?;
    let nanos = at.nanosecond();
    if nanos >= 1_000_000_000 {
        return None;
    }
    let mut text = [0u8; 24];
    let mut put = |at: usize, value: u32, digits: u32| {
        for i in 0..digits {
            let digit = value / 10u32.pow(digits - 1 - i) % 10;
            text[at + i as usize] = b'0' + u8::try_from(digit).expect("a digit");
        }
    };
    put(0, year, 4);
    put(5, at.month(), 2);
    put(8, at.day(), 2);
    put(11, at.hour(), 2);
    put(14, at.minute(), 2);
    put(17, at.second(), 2);
    put(20, nanos / 1_000_000, 3);
    for (i, separator) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        text[i] = separator;
    }
    String::from_utf8(text.to_vec()).ok()
}

/// [`timestamp`] of now.
pub fn now() -> String {
    timestamp(std::time::SystemTime::now())
}

/// Reads a time written by [`timestamp`], or any other RFC 3339 time (another precision, an
/// offset such as `+02:00`: HAR files and older tools write those), as UTC. `None` when `ts`
/// is not an RFC 3339 time.
///
/// The capture's own layout (24 bytes, `YYYY-MM-DDTHH:MM:SS.mmmZ`) is read by position, with
/// no general parser: this is on the viewer's index path, once per record.
///
/// ```
/// use phonehome_record::parse_timestamp;
/// let at = parse_timestamp("1970-01-01T00:00:01.500Z").expect("a capture time");
/// assert_eq!(at.timestamp_millis(), 1_500);
/// let offset = parse_timestamp("1970-01-01T02:00:01.5+02:00").expect("RFC 3339");
/// assert_eq!(offset, at);
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
pub fn parse_timestamp(ts: &str) -> Option<DateTime<Utc>> {
    match capture_layout(ts.as_bytes()) {
        Some(at) => Some(at),
        None => DateTime::parse_from_rfc3339(ts)
            .ok()
            .map(|t| t.with_timezone(&Utc)),
    }
}

/// Milliseconds since midnight (UTC) of a capture time; `None` when `ts` is not one.
///
/// ```
/// let ms = phonehome_record::time_of_day_ms("2026-11-21T09:00:01.800Z");
/// assert_eq!(ms, Some(9 * 3_600_000 + 1_800));
/// ```
pub fn time_of_day_ms(ts: &str) -> Option<u32> {
    let time = parse_timestamp(ts)?.time();
    // A leap second reads as 999 ms rather than a second more.
    let millis = (time.nanosecond() / 1_000_000).min(999);
    Some(time.num_seconds_from_midnight() * 1000 + millis)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` read by position; `None` for any other layout (the general
/// parser then decides).
fn capture_layout(b: &[u8]) -> Option<DateTime<Utc>> {
    if b.len() != 24
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'.'
        || b[23] != b'Z'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0u32, |n, d| {
            d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0'))
        })
    };
    let year = i32::try_from(number(0..4)?).ok()?;
    let date = NaiveDate::from_ymd_opt(year, number(5..7)?, number(8..10)?)?;
    let time = NaiveTime::from_hms_milli_opt(
        number(11..13)?,
        number(14..16)?,
        number(17..19)?,
        number(20..23)?,
    )?;
    Some(date.and_time(time).and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_time_reads_back() {
        for millis in [0, 1_500, 1_764_000_000_123, 253_402_300_799_999] {
            let at = DateTime::<Utc>::from_timestamp_millis(millis).expect("in range");
            assert_eq!(parse_timestamp(&timestamp(at)), Some(at), "{millis}");
        }
    }

    proptest::proptest! {
        /// The capture's layout written digit by digit is chrono's RFC 3339 text, to the
        /// millisecond (cut, not rounded), for any time of years 0–9999.
        #[test]
        fn written_as_chrono_writes_it(
            secs in -62_167_219_200i64..253_402_300_800,
            nanos in 0u32..1_000_000_000,
        ) {
            let at = DateTime::<Utc>::from_timestamp(secs, nanos).expect("in range");
            proptest::prop_assert_eq!(timestamp(at), chrono_text(&at));
        }
    }

    #[test]
    fn outside_four_digit_years_chrono_writes_it() {
        for secs in [-62_167_219_201i64, 253_402_300_800] {
            let at = DateTime::<Utc>::from_timestamp(secs, 0).expect("in range");
            assert_eq!(timestamp(at), chrono_text(&at));
        }
    }

    #[test]
    fn other_rfc3339_times_are_read_as_utc() {
        let at = |ts| parse_timestamp(ts).map(|t| t.timestamp_millis());
        // Fractional seconds of any precision, or none; offsets; a lowercase `t`/`z`.
        assert_eq!(at("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(at("1970-01-01T00:00:01.5Z"), Some(1_500));
        assert_eq!(at("1970-01-01T00:00:01.123456789Z"), Some(1_123));
        assert_eq!(at("1970-01-01T01:00:01.250+01:00"), Some(1_250));
        assert_eq!(at("1970-01-01t00:00:02.000z"), Some(2_000));
    }

    #[test]
    fn what_is_not_a_time_is_none() {
        for ts in [
            "",
            "garbage",
            "2026-11-21",
            "2026-11-21T09:00:01.800",  // no offset
            "2026-13-21T09:00:01.800Z", // month 13
            "2026-02-30T09:00:01.800Z", // 30 February
            "2026-11-21T25:00:01.800Z", // hour 25
            "2026-11-21T09:00:01.8x0Z", // a letter among the digits
            "2026-11-21T09:00:01.-80Z", // a sign among the digits
            "+026-11-21T09:00:01.800Z", // a sign in the year
            "2026-11-21 09:00:01.800Z trailing",
        ] {
            assert_eq!(parse_timestamp(ts), None, "{ts:?}");
            assert_eq!(time_of_day_ms(ts), None, "{ts:?}");
        }
    }

    #[test]
    fn the_time_of_day_is_in_milliseconds_since_midnight() {
        assert_eq!(time_of_day_ms("2026-11-21T00:00:00.000Z"), Some(0));
        assert_eq!(
            time_of_day_ms("2026-11-21T23:59:59.999Z"),
            Some(86_400_000 - 1)
        );
        assert_eq!(
            time_of_day_ms("2026-11-21T09:00:01+01:00"),
            Some(8 * 3_600_000 + 1_000)
        );
    }
}
