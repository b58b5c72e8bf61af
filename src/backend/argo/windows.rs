//! Sync windows (pure): an AppProject's `spec.syncWindows` judged for one Application as Argo CD 3.3 judges them
//! (pkg/apis/application/v1alpha1/types.go: `SyncWindows.Matches`, `Active`, `InactiveAllows`, `CanSync`).
//!
//! - A window applies to an Application when one of its `applications` matches the name, or one of its
//!   `clusters` the destination's name or server, or one of its `namespaces` the destination namespace
//!   (`andOperator`: every list that is set must match). Patterns: `*` and `?` (Argo CD's glob also knows
//!   `[...]` and `{a,b}`: such a pattern only matches itself here).
//! - A window is active when its cron schedule (minute hour day-of-month month day-of-week, robfig/cron's
//!   standard parser) fired less than `duration` ago; the schedule is read in `timeZone` (its offset now).
//! - A sync may run unless an active deny window applies (a manual sync may when every active deny window has
//!   `manualSync`), or no allow window is active while some allow windows apply (a manual sync may when all
//!   of them have `manualSync`). `syncOverrun` concerns running operations and is not judged here.

mod next;
mod units;

use jiff::Timestamp;
use serde_json::Value;

pub use next::next_change;
pub use units::{AppRef, ProjectWindows, judge_units};

/// What the windows say now about one Application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// A manual sync (setpoint's, the API server's) may run.
    pub manual: bool,
    /// Auto-sync may run.
    pub automatic: bool,
    /// The windows that decided, in words.
    pub message: String,
}

struct Window<'a> {
    kind: &'a str,
    schedule: &'a str,
    duration: &'a str,
    time_zone: &'a str,
    manual_sync: bool,
    and_operator: bool,
    applications: Vec<&'a str>,
    namespaces: Vec<&'a str>,
    clusters: Vec<&'a str>,
    description: &'a str,
}

fn strs<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

impl<'a> Window<'a> {
    fn of(v: &'a Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or_default();
        let b = |k: &str| v.get(k).and_then(Value::as_bool).unwrap_or(false);
        Window {
            kind: s("kind"),
            schedule: s("schedule"),
            duration: s("duration"),
            time_zone: s("timeZone"),
            manual_sync: b("manualSync"),
            and_operator: b("andOperator"),
            applications: strs(v, "applications"),
            namespaces: strs(v, "namespaces"),
            clusters: strs(v, "clusters"),
            description: s("description"),
        }
    }

    fn label(&self) -> String {
        let mut l = format!(
            "{} window '{}' for {}",
            self.kind, self.schedule, self.duration
        );
        if !self.time_zone.is_empty() {
            l.push_str(&format!(" ({})", self.time_zone));
        }
        if !self.description.is_empty() {
            l.push_str(&format!(": {}", self.description));
        }
        l
    }

    /// Argo CD's `Matches` for one window.
    fn applies(&self, app: &Target) -> bool {
        let any = |pats: &[&str], val: &str| !val.is_empty() && pats.iter().any(|p| glob(p, val));
        let mut matched = false;
        let mut set = false;
        if !self.applications.is_empty() {
            set = true;
            matched = any(&self.applications, app.name);
        }
        if self.and_operator && set && !matched {
            return false;
        } else if !self.and_operator && matched {
            return true;
        }
        if !self.clusters.is_empty() {
            set = true;
            matched = any(&self.clusters, app.dest_name) || any(&self.clusters, app.dest_server);
        }
        if set && self.and_operator && !matched {
            return false;
        } else if !self.and_operator && matched {
            return true;
        }
        if !self.namespaces.is_empty() {
            matched = self.namespaces.iter().any(|p| glob(p, app.dest_namespace));
        }
        matched
    }

    /// Argo CD's `active`: the schedule fired within `duration` before now (in the window's time zone).
    fn active(&self, now: Timestamp) -> Result<bool, String> {
        let cron = Cron::parse(self.schedule)?;
        let secs = go_duration(self.duration)?;
        let offset = if self.time_zone.is_empty() {
            0
        } else {
            jiff::tz::TimeZone::get(self.time_zone)
                .map(|tz| tz.to_offset(now).seconds())
                .unwrap_or(0) // Argo CD: an invalid zone is UTC
        };
        let t0 = now.as_second() + i64::from(offset);
        // minute boundaries m with t0 - duration < m < t0
        let from = (t0 - secs).div_euclid(60) * 60 + 60;
        let minutes = (t0 - from).max(0) / 60 + 1;
        if minutes > MAX_MINUTES {
            return Err(format!(
                "duration {} is too long to evaluate here",
                self.duration
            ));
        }
        let mut m = from;
        while m < t0 {
            let at = Timestamp::from_second(m).map_err(|e| e.to_string())?;
            if cron.fires(at.to_zoned(jiff::tz::TimeZone::UTC).datetime()) {
                return Ok(true);
            }
            m += 60;
        }
        Ok(false)
    }
}

/// At most about two years of minutes are tried.
const MAX_MINUTES: i64 = 2 * 366 * 24 * 60;

/// The Application as windows see it.
pub struct Target<'a> {
    pub name: &'a str,
    pub dest_name: &'a str,
    pub dest_server: &'a str,
    pub dest_namespace: &'a str,
}

/// The unit field for a verdict: `None` (no window applies) stays absent.
pub fn state(v: Option<&Verdict>) -> Option<crate::model::SyncWindow> {
    v.map(|v| crate::model::SyncWindow {
        sync_allowed: Some(v.manual),
        auto_sync_allowed: Some(v.automatic),
        message: v.message.clone(),
    })
}

/// Sets each Argo CD unit's `sync_window` from the windows of its project among `projects` (every AppProject
/// listed; `Err`: why they could not be listed, said on every unit). An Application whose project is not
/// listed has no window (the project's absence is its own refusal, see `project.rs`).
pub fn judge_snapshot<'a>(
    snap: &mut crate::model::Snapshot,
    context: &str,
    apps: impl Iterator<Item = &'a kube::api::DynamicObject>,
    projects: Result<&[kube::api::DynamicObject], &str>,
    now: Timestamp,
) {
    let refs: Vec<AppRef> = apps.map(AppRef::of).collect();
    let projects: Result<Vec<ProjectWindows>, &str> =
        projects.map(|l| l.iter().map(ProjectWindows::of).collect());
    judge_units(
        snap,
        context,
        refs.iter(),
        projects.as_deref().map_err(|e| *e),
        now,
    );
}

/// The verdict of the AppProject `project` on the Application `name` (`app`: its data, spec and status, as
/// the API server returns them) at `now`; `None` when no window applies.
pub fn judge_app(project: &Value, name: &str, app: &Value, now: Timestamp) -> Option<Verdict> {
    let list = project.pointer("/spec/syncWindows")?.as_array()?;
    let s = |p: &str| app.pointer(p).and_then(Value::as_str).unwrap_or_default();
    let target = Target {
        name,
        dest_name: s("/spec/destination/name"),
        dest_server: s("/spec/destination/server"),
        dest_namespace: s("/spec/destination/namespace"),
    };
    verdict(list, &target, now)
}

/// The verdict of `windows` (an AppProject's `spec.syncWindows`) for `app` at `now`; `None` when no window
/// applies to it. A window that cannot be read denies, as in Argo CD ("invalid sync windows").
pub fn verdict(windows: &[Value], app: &Target, now: Timestamp) -> Option<Verdict> {
    let applying: Vec<Window> = windows
        .iter()
        .map(Window::of)
        .filter(|w| w.applies(app))
        .collect();
    if applying.is_empty() {
        return None;
    }
    let mut active = Vec::new();
    let mut inactive_allows = Vec::new();
    for w in &applying {
        match w.active(now) {
            Ok(true) => active.push(w),
            Ok(false) if w.kind == "allow" => inactive_allows.push(w),
            Ok(false) => {}
            Err(e) => {
                return Some(Verdict {
                    manual: false,
                    automatic: false,
                    message: format!("invalid sync windows: {}: {e}", w.label()),
                });
            }
        }
    }
    let names = |ws: &[&Window]| ws.iter().map(|w| w.label()).collect::<Vec<_>>().join("; ");
    let denies: Vec<&Window> = active
        .iter()
        .copied()
        .filter(|w| w.kind == "deny")
        .collect();
    if !denies.is_empty() {
        let manual = denies.iter().all(|w| w.manual_sync);
        let how = if manual {
            "sync denied, manual sync allowed"
        } else {
            "sync denied"
        };
        return Some(Verdict {
            manual,
            automatic: false,
            message: format!("{how} by the active {}", names(&denies)),
        });
    }
    let allows: Vec<&Window> = active
        .iter()
        .copied()
        .filter(|w| w.kind == "allow")
        .collect();
    if !allows.is_empty() {
        return Some(Verdict {
            manual: true,
            automatic: true,
            message: format!("sync allowed by the active {}", names(&allows)),
        });
    }
    if !inactive_allows.is_empty() {
        let manual = inactive_allows.iter().all(|w| w.manual_sync);
        let how = if manual {
            "sync denied outside, manual sync allowed"
        } else {
            "sync denied outside"
        };
        return Some(Verdict {
            manual,
            automatic: false,
            message: format!("{how} the {}", names(&inactive_allows)),
        });
    }
    Some(Verdict {
        manual: true,
        automatic: true,
        message: format!(
            "no window active now ({})",
            names(&applying.iter().collect::<Vec<_>>())
        ),
    })
}

/// `*` and `?` glob over the whole value.
fn glob(pattern: &str, value: &str) -> bool {
    fn go(p: &[char], v: &[char]) -> bool {
        match p.split_first() {
            None => v.is_empty(),
            Some(('*', rest)) => (0..=v.len()).any(|i| go(rest, &v[i..])),
            Some(('?', rest)) => !v.is_empty() && go(rest, &v[1..]),
            Some((c, rest)) => v.first() == Some(c) && go(rest, &v[1..]),
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    go(&p, &v)
}

/// Go's `time.ParseDuration`, in whole seconds (a window's duration is minutes or hours).
pub fn go_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("cannot parse duration '{s}'");
    let (neg, mut rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(bad)?;
        let n: f64 = rest[..num_end].parse().map_err(|_| bad())?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        nanos += n * scale;
        rest = &rest[unit_end..];
    }
    // whole seconds: Argo CD compares at second precision after rounding the schedule to minutes
    #[allow(clippy::cast_possible_truncation)]
    let secs = (nanos / 1e9).ceil() as i64;
    Ok(if neg { -secs } else { secs })
}

/// A five-field cron schedule as robfig/cron's parser with Minute|Hour|Dom|Month|Dow reads it.
struct Cron {
    minute: u64,
    hour: u64,
    dom: u64,
    month: u64,
    dow: u64,
    dom_star: bool,
    dow_star: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

impl Cron {
    fn parse(spec: &str) -> Result<Self, String> {
        let fields: Vec<&str> = spec.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cannot parse schedule '{spec}': expected 5 fields, found {}",
                fields.len()
            ));
        }
        let f = |i: usize, min: u32, max: u32, names: &[&str], base: u32| {
            field(fields[i], min, max, names, base)
                .map_err(|e| format!("cannot parse schedule '{spec}': {e}"))
        };
        let (minute, _) = f(0, 0, 59, &[], 0)?;
        let (hour, _) = f(1, 0, 23, &[], 0)?;
        let (dom, dom_star) = f(2, 1, 31, &[], 0)?;
        let (month, _) = f(3, 1, 12, &MONTHS, 1)?;
        let (dow, dow_star) = f(4, 0, 6, &DAYS, 0)?;
        Ok(Cron {
            minute,
            hour,
            dom,
            month,
            dow,
            dom_star,
            dow_star,
        })
    }

    fn fires(&self, t: jiff::civil::DateTime) -> bool {
        let bit = |set: u64, v: i8| v >= 0 && set & (1u64 << v) != 0;
        if !(bit(self.minute, t.minute()) && bit(self.hour, t.hour()) && bit(self.month, t.month()))
        {
            return false;
        }
        let dom = bit(self.dom, t.day());
        let dow = bit(self.dow, t.weekday().to_sunday_zero_offset());
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }
}

/// One field: its bit set, and whether it is a star (`*` or `?` without a step above 1).
fn field(expr: &str, min: u32, max: u32, names: &[&str], base: u32) -> Result<(u64, bool), String> {
    let mut bits = 0u64;
    let mut star = false;
    for part in expr.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (
                r,
                Some(
                    s.parse::<u32>()
                        .map_err(|_| format!("bad step in '{part}'"))?,
                ),
            ),
            None => (part, None),
        };
        let value = |s: &str| -> Result<u32, String> {
            if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(s)) {
                return Ok(u32::try_from(i).unwrap_or(0) + base);
            }
            s.parse::<u32>().map_err(|_| format!("bad value '{s}'"))
        };
        let (start, mut end, is_star) = if range == "*" || range == "?" {
            (min, max, true)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a)?, value(b)?, false)
        } else {
            let v = value(range)?;
            (v, v, false)
        };
        if step.is_some() && !is_star && !range.contains('-') {
            end = max; // `a/n`: from a to the end
        }
        let step = step.unwrap_or(1);
        if step == 0 || start < min || end > max || start > end {
            return Err(format!("'{part}' is out of range {min}-{max}"));
        }
        star |= is_star && step == 1;
        let mut v = start;
        while v <= end {
            bits |= 1u64 << v;
            v += step;
        }
    }
    Ok((bits, star))
}

/// When the schedule of `window` fires next after `now` (within a year), for messages and tests.
#[cfg(test)]
fn next_fire(schedule: &str, now: Timestamp) -> Option<Timestamp> {
    let cron = Cron::parse(schedule).ok()?;
    let mut m = (now.as_second().div_euclid(60) + 1) * 60;
    for _ in 0..(366 * 24 * 60) {
        let at = Timestamp::from_second(m).ok()?;
        if cron.fires(at.to_zoned(jiff::tz::TimeZone::UTC).datetime()) {
            return Some(at);
        }
        m += 60;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const APP: Target = Target {
        name: "web",
        dest_name: "",
        dest_server: "https://kubernetes.default.svc",
        dest_namespace: "prod",
    };

    #[test]
    fn cron_fields_as_robfig_reads_them() {
        assert_eq!(
            next_fire("30 2 * * *", at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-01T02:30:00Z"))
        );
        assert_eq!(
            next_fire("*/15 * * * *", at("2026-01-01T00:01:00Z")),
            Some(at("2026-01-01T00:15:00Z"))
        );
        // day of month and day of week both restricted: either fires (2026-01-03 is a Saturday)
        assert_eq!(
            next_fire("0 0 10 * sat", at("2026-01-01T00:00:00Z")),
            Some(at("2026-01-03T00:00:00Z"))
        );
        // one of them a star: both must match (the first Saturday the 10th is in January 2026)
        assert_eq!(
            next_fire("0 0 * jan-feb 6", at("2026-01-04T00:00:00Z")),
            Some(at("2026-01-10T00:00:00Z"))
        );
        assert!(Cron::parse("0 0 * *").is_err());
        assert!(Cron::parse("61 * * * *").is_err());
    }

    #[test]
    fn go_durations() {
        assert_eq!(go_duration("1h30m"), Ok(5400));
        assert_eq!(go_duration("1.5h"), Ok(5400));
        assert_eq!(go_duration("90s"), Ok(90));
        assert!(go_duration("1d").is_err());
        assert!(go_duration("").is_err());
    }

    #[test]
    fn deny_window_covering_now_denies_and_manual_sync_is_honoured() {
        let now = at("2026-03-04T10:20:00Z");
        let deny = json!({"kind": "deny", "schedule": "0 10 * * *", "duration": "1h",
            "applications": ["w*"], "description": "freeze"});
        let v = verdict(std::slice::from_ref(&deny), &APP, now).unwrap();
        assert!(!v.manual && !v.automatic);
        assert!(
            v.message
                .contains("sync denied by the active deny window '0 10 * * *' for 1h: freeze")
        );
        let mut manual = deny.clone();
        manual["manualSync"] = json!(true);
        let v = verdict(&[manual], &APP, now).unwrap();
        assert!(v.manual && !v.automatic);
        // an hour later the window is over: nothing active, sync allowed
        let v = verdict(
            std::slice::from_ref(&deny),
            &APP,
            at("2026-03-04T11:00:00Z"),
        )
        .unwrap();
        assert!(v.manual && v.automatic, "{v:?}");
        // another application: the window does not apply
        let other = Target {
            name: "db",
            dest_namespace: "x",
            ..APP
        };
        assert_eq!(verdict(&[deny], &other, now), None);
    }

    #[test]
    fn allow_windows_deny_outside_and_and_operator() {
        let allow = json!({"kind": "allow", "schedule": "0 22 * * *", "duration": "2h",
            "namespaces": ["prod"], "manualSync": true});
        let v = verdict(
            std::slice::from_ref(&allow),
            &APP,
            at("2026-03-04T23:30:00Z"),
        )
        .unwrap();
        assert!(v.automatic && v.manual);
        let v = verdict(
            std::slice::from_ref(&allow),
            &APP,
            at("2026-03-04T12:00:00Z"),
        )
        .unwrap();
        assert!(!v.automatic && v.manual, "{v:?}");
        // andOperator: the application must match too
        let and = json!({"kind": "deny", "schedule": "* * * * *", "duration": "1h",
            "namespaces": ["prod"], "applications": ["db"], "andOperator": true});
        assert_eq!(verdict(&[and], &APP, at("2026-03-04T12:00:00Z")), None);
        // a time zone: 10:00 in Europe/Paris (UTC+1 in March) is 09:00 UTC
        let paris = json!({"kind": "deny", "schedule": "0 10 * * *", "duration": "30m",
            "clusters": ["https://kubernetes.default.svc"], "timeZone": "Europe/Paris"});
        let v = verdict(&[paris], &APP, at("2026-03-04T09:10:00Z")).unwrap();
        assert!(!v.manual, "{v:?}");
        let bad = json!({"kind": "deny", "schedule": "bad", "duration": "1h", "namespaces": ["*"]});
        let v = verdict(&[bad], &APP, at("2026-03-04T09:10:00Z")).unwrap();
        assert!(!v.manual && v.message.starts_with("invalid sync windows"));
    }

    fn fixture(name: &str) -> kube::api::DynamicObject {
        let path = format!(
            "{}/src/backend/argo/fixtures/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn project(windows: serde_json::Value) -> kube::api::DynamicObject {
        serde_json::from_value(
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": "argocd"},
            "spec": {"sourceRepos": ["*"], "syncWindows": windows}}),
        )
        .unwrap()
    }

    #[test]
    fn the_snapshot_says_each_units_windows_in_its_json() {
        let apps = [fixture("manual"), fixture("auto")];
        let now = at("2026-01-01T12:30:00Z");
        let deny = project(
            json!([{"kind": "deny", "schedule": "0 12 * * *", "duration": "1h",
            "applications": ["manual"], "description": "lunch"}]),
        );
        let mut snap = crate::backend::argo::map::snapshot("admin", apps.iter());
        judge_snapshot(&mut snap, "admin", apps.iter(), Ok(&[deny]), now);
        let manual = snap.units.iter().find(|u| u.name == "manual").unwrap();
        let w = manual.sync_window.as_ref().unwrap();
        assert_eq!(
            (w.sync_allowed, w.auto_sync_allowed),
            (Some(false), Some(false))
        );
        assert!(w.message.contains("lunch"), "{w:?}");
        assert_eq!(w.marker(), "sync denied");
        let json = serde_json::to_value(manual).unwrap();
        assert_eq!(json["syncWindow"]["syncAllowed"], json!(false));
        assert_eq!(json["syncWindow"]["autoSyncAllowed"], json!(false));
        // no window applies to the other: the field stays absent (the contract before it)
        let auto = snap.units.iter().find(|u| u.name == "auto").unwrap();
        assert_eq!(auto.sync_window, None);
        assert!(
            serde_json::to_value(auto)
                .unwrap()
                .get("syncWindow")
                .is_none()
        );
        // a manualSync window: a manual sync may run, auto-sync may not
        let manual_only = project(
            json!([{"kind": "deny", "schedule": "0 12 * * *", "duration": "1h",
            "applications": ["*"], "manualSync": true}]),
        );
        judge_snapshot(&mut snap, "admin", apps.iter(), Ok(&[manual_only]), now);
        assert!(
            snap.units
                .iter()
                .all(|u| u.sync_window.as_ref().map(|w| w.marker()) == Some("manual sync only"))
        );
        // the projects not readable: said on every unit, neither allowed nor denied
        judge_snapshot(&mut snap, "admin", apps.iter(), Err("forbidden"), now);
        let w = snap.units[0].sync_window.as_ref().unwrap();
        assert_eq!((w.sync_allowed, w.marker()), (None, "sync window ?"));
        assert!(w.message.contains("forbidden"));
    }
}
