//! Cron schedules (a source's `schedule`, a sync window's `schedule`):
//! standard five fields (`*/5 * * * *`), or six with seconds first
//! (`0 */5 * * * *`, as earlier releases required), read by `croner`, in an
//! IANA `timeZone` (UTC when not given), as Argo CD's sync windows are.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// A parsed schedule in its time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

/// Why a schedule or time zone was refused: one line, saying the forms
/// accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error(
        "`{pattern}` is not a cron schedule ({reason}); five fields: minute hour day-of-month month day-of-week, e.g. `*/5 * * * *` (six, with seconds first, are accepted too)"
    )]
    Pattern { pattern: String, reason: String },
    #[error("`{0}` is not an IANA time zone (e.g. `Europe/Berlin`, `America/New_York`, `UTC`)")]
    Zone(String),
}

/// An IANA time zone by name.
pub fn zone(name: &str) -> Result<Tz, ScheduleError> {
    name.parse::<Tz>()
        .map_err(|_| ScheduleError::Zone(name.to_string()))
}

impl Schedule {
    /// `pattern` in `zone` (an IANA name; UTC when `None`).
    pub fn parse(pattern: &str, zone: Option<&str>) -> Result<Schedule, ScheduleError> {
        let zone = match zone {
            None => Tz::UTC,
            Some(z) => self::zone(z)?,
        };
        let parser = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build();
        let cron = parser.parse(pattern).map_err(|e| ScheduleError::Pattern {
            pattern: pattern.to_string(),
            reason: one_line(&e.to_string()),
        })?;
        Ok(Schedule { cron, zone })
    }

    /// The first time after `now` the schedule fires.
    pub fn next_after(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let local = now.with_timezone(&self.zone);
        self.cron
            .find_next_occurrence(&local, false)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    /// Whether the schedule fired in `(now - span, now]`: a window of
    /// `span` opened at that time is open at `now`.
    pub fn fired_within(&self, now: DateTime<Utc>, span: chrono::Duration) -> bool {
        let local = now.with_timezone(&self.zone);
        self.cron
            .find_previous_occurrence(&local, true)
            .is_ok_and(|t| now - t.with_timezone(&Utc) < span)
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    #[test]
    fn five_and_six_fields_mean_the_same() {
        let five = Schedule::parse("*/5 * * * *", None).unwrap();
        let six = Schedule::parse("0 */5 * * * *", None).unwrap();
        let now = at(2026, 12, 5, 10, 2);
        assert_eq!(five.next_after(now), Some(at(2026, 12, 5, 10, 5)));
        assert_eq!(six.next_after(now), five.next_after(now));
        let daily = Schedule::parse("0 22 * * Mon-Fri", None).unwrap();
        // Saturday 5 December: next is Monday 22:00.
        assert_eq!(daily.next_after(now), Some(at(2026, 12, 7, 22, 0)));
    }

    #[test]
    fn a_time_zone_moves_the_times_with_its_daylight_saving() {
        let berlin = Schedule::parse("0 22 * * *", Some("Europe/Berlin")).unwrap();
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(
            berlin.next_after(at(2026, 12, 5, 12, 0)),
            Some(at(2026, 12, 5, 21, 0))
        );
        assert_eq!(
            berlin.next_after(at(2026, 7, 5, 12, 0)),
            Some(at(2026, 7, 5, 20, 0))
        );
        let span = chrono::Duration::hours(2);
        assert!(berlin.fired_within(at(2026, 12, 5, 21, 0), span));
        assert!(berlin.fired_within(at(2026, 12, 5, 22, 59), span));
        assert!(!berlin.fired_within(at(2026, 12, 5, 23, 0), span));
        assert!(!berlin.fired_within(at(2026, 12, 5, 20, 59), span));
    }

    #[test]
    fn errors_are_one_line_and_say_what_is_accepted() {
        for bad in ["* * *", "61 * * * *", "0 0 0 0 0 0 0", "every day"] {
            let e = Schedule::parse(bad, None).unwrap_err().to_string();
            assert!(!e.contains('\n'), "{e}");
            assert!(
                e.starts_with(&format!("`{bad}` is not a cron schedule (")),
                "{e}"
            );
            assert!(e.contains("five fields"), "{e}");
        }
        assert_eq!(
            Schedule::parse("* * * * *", Some("Mars/Olympus")).unwrap_err(),
            ScheduleError::Zone("Mars/Olympus".into())
        );
    }
}
