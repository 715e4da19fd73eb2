//! Sync windows (as Argo CD's): when `mooring run` may apply changes.
//! Outside them changes are planned and reported only. The windows are
//! read and checked by `config`; what they mean at a given time is here.

use chrono::{DateTime, Utc};

use crate::config::{SyncWindow, WindowKind};

/// Whether `window` is open at `now`: its schedule (in its time zone, else
/// `zone`) fired at most `duration` ago. A schedule that does not parse is
/// never open (the configuration check refuses it).
pub fn is_open(window: &SyncWindow, zone: Option<&str>, now: DateTime<Utc>) -> bool {
    let Ok(schedule) = window.parsed(zone) else {
        return false;
    };
    let Ok(span) = chrono::Duration::from_std(window.duration) else {
        return false;
    };
    schedule.fired_within(now, span)
}

/// Why applying is held back at `now`, if it is: inside a deny window, or
/// outside every allow window (when there are any). `zone` is the
/// source's `timeZone`.
pub fn hold(windows: &[SyncWindow], zone: Option<&str>, now: DateTime<Utc>) -> Option<String> {
    if let Some(w) = windows
        .iter()
        .find(|w| w.kind == WindowKind::Deny && is_open(w, zone, now))
    {
        return Some(format!("inside the deny window `{}`", w.schedule));
    }
    let allows: Vec<&SyncWindow> = windows
        .iter()
        .filter(|w| w.kind == WindowKind::Allow)
        .collect();
    if !allows.is_empty() && !allows.iter().any(|w| is_open(w, zone, now)) {
        return Some("outside every allow window".to_string());
    }
    None
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::config::Config;

    #[test]
    fn sync_windows_allow_and_deny() {
        let c = Config::parse(
            "source:\n  url: /r\n  windows:\n    - {kind: allow, schedule: '0 0 22 * * *', duration: 2h}\n    - {kind: deny, schedule: '0 30 23 * * *', duration: 10m}\n",
            "m.yaml",
        )
        .unwrap();
        let w = &c.source.windows;
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 23, h, m, 0).unwrap();
        assert_eq!(
            hold(w, None, at(21, 59)).as_deref(),
            Some("outside every allow window")
        );
        assert_eq!(hold(w, None, at(22, 0)), None);
        assert_eq!(hold(w, None, at(23, 10)), None);
        assert!(hold(w, None, at(23, 35)).unwrap().contains("deny window"));
        assert_eq!(hold(w, None, at(23, 45)), None);
        assert!(
            hold(w, None, at(0, 1)).is_some(),
            "the allow window closed at midnight"
        );
        assert_eq!(hold(&[], None, at(3, 0)), None);

        // Five fields in the source's time zone: 22:00 in Tokyo is 13:00 UTC.
        let c = Config::parse(
            "source:\n  url: /r\n  timeZone: Asia/Tokyo\n  windows:\n    - {kind: allow, schedule: '0 22 * * *', duration: 1h}\n",
            "m.yaml",
        )
        .unwrap();
        let zone = c.source.time_zone.as_deref();
        assert!(hold(&c.source.windows, zone, at(12, 59)).is_some());
        assert_eq!(hold(&c.source.windows, zone, at(13, 30)), None);
        assert!(hold(&c.source.windows, None, at(13, 30)).is_some());
    }
}
