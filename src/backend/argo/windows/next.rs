//! When the windows' verdicts may change next: a window turns active just after its schedule fires and
//! inactive `duration` after its last firing, so the watch sets one timer to the earliest such moment of any
//! window instead of judging again on a period.

use jiff::Timestamp;
use serde_json::Value;

use super::{Cron, MAX_MINUTES, Window, go_duration};

/// How far ahead a change is looked for; past it, the windows are judged again at the horizon (a yearly
/// window costs one wake-up a week).
const HORIZON_MINUTES: i64 = 7 * 24 * 60;
/// Judged this long after the boundary, so the judgement falls on the new side of it.
const MARGIN_SECS: i64 = 1;

/// The earliest moment after `now` at which one of `windows` (every AppProject's `spec.syncWindows`) turns
/// active or inactive; `None` when there is no window (or none that can be read: those deny for good).
pub fn next_change<'a>(
    windows: impl IntoIterator<Item = &'a Value>,
    now: Timestamp,
) -> Option<Timestamp> {
    windows
        .into_iter()
        .filter_map(|w| Window::of(w).next_change(now))
        .min()
}

impl Window<'_> {
    fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        let cron = Cron::parse(self.schedule).ok()?;
        let secs = go_duration(self.duration).ok()?;
        if secs <= 0 {
            return None; // never active
        }
        let offset = if self.time_zone.is_empty() {
            0
        } else {
            jiff::tz::TimeZone::get(self.time_zone)
                .map(|tz| i64::from(tz.to_offset(now).seconds()))
                .unwrap_or(0)
        };
        let fires = |m: i64| {
            Timestamp::from_second(m)
                .is_ok_and(|at| cron.fires(at.to_zoned(jiff::tz::TimeZone::UTC).datetime()))
        };
        let t0 = now.as_second() + offset;
        // the last firing that keeps the window active now: a minute m with t0 - secs < m < t0
        let mut last = None;
        let mut m = (t0 - 1).div_euclid(60) * 60;
        let mut tried = 0;
        while m > t0 - secs && tried <= MAX_MINUTES {
            if fires(m) {
                last = Some(m);
                break;
            }
            m -= 60;
            tried += 1;
        }
        let active = last.is_some();
        // forward, minute by minute: the first moment the state differs from now's
        let mut m = t0.div_euclid(60) * 60;
        if m < t0 {
            m += 60;
        }
        let local = 'found: {
            for _ in 0..HORIZON_MINUTES {
                if let Some(l) = last
                    && l + secs <= m
                {
                    break 'found l + secs; // no firing in between kept it open
                }
                if fires(m) {
                    if !active {
                        break 'found m;
                    }
                    last = Some(m);
                }
                m += 60;
            }
            t0 + HORIZON_MINUTES * 60
        };
        Timestamp::from_second(local - offset + MARGIN_SECS).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn change(w: Value, now: &str) -> Option<Timestamp> {
        next_change([&w], at(now))
    }

    #[test]
    fn an_inactive_window_changes_just_after_it_fires_and_an_active_one_when_its_duration_ends() {
        let w = json!({"kind": "deny", "schedule": "0 2 * * *", "duration": "1h"});
        assert_eq!(
            change(w.clone(), "2026-01-01T00:10:00Z"),
            Some(at("2026-01-01T02:00:01Z"))
        );
        assert_eq!(
            change(w.clone(), "2026-01-01T02:30:00Z"),
            Some(at("2026-01-01T03:00:01Z"))
        );
        // at the very minute it fires it is not active yet (Argo CD: the firing must be before now)
        assert_eq!(
            change(w, "2026-01-01T02:00:00Z"),
            Some(at("2026-01-01T02:00:01Z"))
        );
    }

    #[test]
    fn firings_that_overlap_keep_the_window_open_until_the_last_one_ends() {
        // fires every 15 minutes for 20: always active from the first firing on
        let w = json!({"kind": "allow", "schedule": "*/15 8-9 * * *", "duration": "20m"});
        // active at 08:05; the last firing is 09:45, so it closes at 10:05
        assert_eq!(
            change(w, "2026-01-01T08:05:00Z"),
            Some(at("2026-01-01T10:05:01Z"))
        );
    }

    #[test]
    fn the_time_zone_moves_the_boundaries_and_the_earliest_window_wins() {
        let paris = json!({"kind": "deny", "schedule": "0 2 * * *", "duration": "1h",
            "timeZone": "Europe/Paris"});
        // 02:00 in Paris in January is 01:00 UTC
        assert_eq!(
            change(paris.clone(), "2026-01-01T00:00:00Z"),
            Some(at("2026-01-01T01:00:01Z"))
        );
        let utc = json!({"kind": "deny", "schedule": "30 0 * * *", "duration": "1h"});
        assert_eq!(
            next_change([&paris, &utc], at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-01T00:30:01Z"))
        );
    }

    #[test]
    fn no_window_no_timer_and_a_far_one_is_looked_at_again_at_the_horizon() {
        assert_eq!(next_change([], at("2026-01-01T00:00:00Z")), None);
        let bad = json!({"kind": "deny", "schedule": "not a cron", "duration": "1h"});
        assert_eq!(change(bad, "2026-01-01T00:00:00Z"), None);
        let yearly = json!({"kind": "deny", "schedule": "0 0 1 6 *", "duration": "1h"});
        assert_eq!(
            change(yearly, "2026-01-01T00:00:00Z"),
            Some(at("2026-01-08T00:00:01Z"))
        );
    }

    #[test]
    fn the_change_found_is_where_the_verdict_changes() {
        use super::super::{Target, verdict};
        let app = Target {
            name: "web",
            dest_name: "",
            dest_server: "https://kubernetes.default.svc",
            dest_namespace: "prod",
        };
        let w = json!({"kind": "deny", "schedule": "*/10 * * * *", "duration": "5m",
            "applications": ["*"]});
        let mut now = at("2026-03-01T10:03:20Z");
        for _ in 0..6 {
            let next = change(w.clone(), &now.to_string()).unwrap();
            let before = verdict(
                std::slice::from_ref(&w),
                &app,
                next - jiff::SignedDuration::from_secs(2),
            );
            let after = verdict(std::slice::from_ref(&w), &app, next);
            assert_eq!(before, verdict(std::slice::from_ref(&w), &app, now));
            assert_ne!(before, after, "at {next}");
            now = next;
        }
    }
}
