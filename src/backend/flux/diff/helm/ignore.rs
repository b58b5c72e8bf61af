//! A HelmRelease's `spec.driftDetection` as helm-controller v1.6 applies it when it compares its release with
//! the cluster (fluxcd/pkg ssa/jsondiff): each `ignore` rule's `paths`, JSON pointers (RFC 6901), are removed
//! from both the dry-run result and the live object of every object its `target` selects (`selector.rs`; no
//! target: every object) before the two are compared, so a difference there is no drift. A path that is not
//! there removes nothing; the path `""` leaves the object out whole. The removal reads a pointer as
//! helm-controller's JSON patch library does: a negative array index counts from the end, an index past the
//! end is not there, an empty segment before the last stays where it is, and a last segment that is not a
//! number where an array is fails that object's comparison (helm-controller then detects no drift in it).
//! An object labelled or annotated `helm.toolkit.fluxcd.io/driftDetection: disabled` (rendered or live) is left
//! out of the comparison as well. The rules apply to the diff whatever `mode` says (a diff shows differences in any mode); the header names
//! the mode.

use serde_json::Value;

use super::super::build::marked;
use super::selector::Target;

/// The rules of `spec.driftDetection.ignore`, compiled, with what each selected during the diff.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    rules: Vec<Rule>,
    /// Rules that cannot be applied, each said with the reason (for the report's "not covered").
    pub problems: Vec<String>,
    /// Rules applied differently from how they read, as helm-controller applies them (for the notes).
    pub quirks: Vec<String>,
}

#[derive(Debug)]
struct Rule {
    index: usize,
    paths: Vec<String>,
    target: Option<Target>,
    selected: Vec<String>,
}

/// The paths to remove from one object: (rule index, JSON pointer).
pub(crate) type Paths = Vec<(usize, String)>;

impl Rules {
    /// The rules of the HelmRelease's spec. helm-controller keys its compiled rules by target, so of several
    /// rules without a target only the last one's paths are used; a target that does not compile fails its
    /// whole drift detection. Both are said, the first as a note, the second as not covered.
    pub(crate) fn of(spec: &Value) -> Self {
        let mut out = Self::default();
        let rules = spec
            .get("driftDetection")
            .and_then(|d| d.get("ignore"))
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let untargeted: Vec<usize> = (0..rules.len())
            .filter(|i| rules[*i].get("target").is_none_or(Value::is_null))
            .collect();
        for (index, rule) in rules.iter().enumerate() {
            let name = format!("spec.driftDetection.ignore[{index}]");
            if let Some(last) = untargeted
                .last()
                .filter(|l| untargeted.contains(&index) && **l != index)
            {
                out.quirks.push(format!(
                    "{name} is not applied: helm-controller keeps the paths of only the last rule without a \
                     target (ignore[{last}])"
                ));
                continue;
            }
            let mut paths = Vec::new();
            for p in rule
                .get("paths")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                match p.as_str() {
                    Some(p) => paths.push(p.to_owned()),
                    None => out
                        .problems
                        .push(format!("{name}: a path that is not a string: {p}")),
                }
            }
            for p in paths
                .iter()
                .filter(|p| !p.is_empty() && !p.starts_with('/'))
            {
                let from = p.find('/').map_or(String::new(), |i| p[i..].to_owned());
                out.quirks.push(format!(
                    "{name}: path {p:?} is not a JSON pointer (it does not start with '/'): helm-controller \
                     reads it from its first '/' ({from:?}{})",
                    if from.is_empty() { ", nothing" } else { "" }
                ));
            }
            let target = match rule.get("target").filter(|t| !t.is_null()) {
                None => None,
                Some(t) => match Target::compile(t) {
                    Ok(t) => Some(t),
                    Err(e) => {
                        out.problems.push(format!(
                            "{name}.target: {e}: helm-controller's drift detection fails on it (no drift is \
                             detected or corrected); the rule is not applied here"
                        ));
                        continue;
                    }
                },
            };
            out.rules.push(Rule {
                index,
                paths,
                target,
                selected: Vec::new(),
            });
        }
        out
    }

    /// The paths to remove from `obj` (the desired object, its namespace set), by the rules that select it;
    /// `label` is remembered for the notes.
    pub(crate) fn paths_for(&mut self, obj: &Value, label: &str) -> Paths {
        let mut out = Vec::new();
        for rule in &mut self.rules {
            if rule.target.as_ref().is_none_or(|t| t.matches(obj)) {
                rule.selected.push(label.to_owned());
                out.extend(rule.paths.iter().map(|p| (rule.index, p.clone())));
            }
        }
        out
    }

    /// One note per rule: what it selected and which paths it left out.
    pub(crate) fn notes(&self) -> Vec<String> {
        self.rules
            .iter()
            .map(|r| {
                let name = format!("spec.driftDetection.ignore[{}]", r.index);
                let paths = r
                    .paths
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                if r.selected.is_empty() {
                    format!("{name} ({paths}) selects none of the rendered objects")
                } else {
                    format!(
                        "{name}: {paths} left out of the comparison (both sides) of {}, as helm-controller's \
                         drift detection ignores it",
                        r.selected.join(", ")
                    )
                }
            })
            .collect()
    }
}

/// The header line saying `spec.driftDetection.mode`, when the HelmRelease has `spec.driftDetection`.
pub(crate) fn mode_note(spec: &Value) -> Option<String> {
    let dd = spec.get("driftDetection")?;
    let mode = dd.get("mode").and_then(Value::as_str).unwrap_or("");
    Some(match mode {
        "enabled" => "spec.driftDetection.mode enabled: helm-controller corrects drift from its release".into(),
        "warn" => {
            "spec.driftDetection.mode warn: helm-controller reports drift from its release, does not correct it"
                .into()
        }
        "" | "disabled" => "spec.driftDetection.mode disabled (the default): helm-controller does not look for \
                            drift; the differences are shown all the same"
            .into(),
        other => format!("spec.driftDetection.mode {other:?} is not one helm-controller knows"),
    })
}

/// The label or annotation that takes an object out of helm-controller's drift detection (set to `disabled`,
/// in any case, on the rendered or the live object).
pub(crate) const EXCLUDE_KEY: &str = "helm.toolkit.fluxcd.io/driftDetection";

/// Which side marks the object `EXCLUDE_KEY: disabled`: "rendered" or "live"; `None` when neither does.
pub(crate) fn excluded(rendered: &Value, live: Option<&Value>) -> Option<&'static str> {
    if marked(rendered, EXCLUDE_KEY, "disabled") {
        Some("rendered")
    } else if live.is_some_and(|l| marked(l, EXCLUDE_KEY, "disabled")) {
        Some("live")
    } else {
        None
    }
}

/// Whether the paths leave the object out whole (the path `""`).
pub(crate) fn whole(paths: &Paths) -> Option<usize> {
    paths.iter().find(|(_, p)| p.is_empty()).map(|(i, _)| *i)
}

/// Removes the paths from both the dry-run result and the live object, in order; `Err` (both left as they
/// were) when a path cannot be applied to one of them, as helm-controller then fails this object's comparison.
pub(crate) fn strip(dry: &mut Value, live: &mut Value, paths: &Paths) -> Result<(), String> {
    let (mut d, mut l) = (dry.clone(), live.clone());
    for (i, p) in paths {
        for (side, doc) in [("desired", &mut d), ("live", &mut l)] {
            remove(doc, p).map_err(|e| {
                format!(
                    "spec.driftDetection.ignore[{i}] path {p:?} cannot be removed from the {side} object: {e}; \
                     helm-controller's drift detection fails on this object (it detects and corrects no drift \
                     in it); shown here without the rules"
                )
            })?;
        }
    }
    *dry = d;
    *live = l;
    Ok(())
}

/// RFC 6901 unescaping in one pass: `~1` is `/`, `~0` is `~`, any other `~` stays.
fn unescape(seg: &str) -> String {
    let mut out = String::with_capacity(seg.len());
    let mut chars = seg.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('~', Some('1')) => {
                chars.next();
                out.push('/');
            }
            ('~', Some('0')) => {
                chars.next();
                out.push('~');
            }
            _ => out.push(c),
        }
    }
    out
}

/// An array index as helm-controller's JSON patch library reads one: an integer, negative from the end;
/// `Ok(None)` when it is outside the array.
fn index(seg: &str, len: usize) -> Result<Option<usize>, String> {
    let i: i64 = seg
        .parse()
        .map_err(|_| format!("{seg:?} is not an index of the array there"))?;
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let i = if i < 0 { i + len } else { i };
    Ok(usize::try_from(i).ok().filter(|_| i < len))
}

/// Removes the value at `pointer` from `doc`; a path not there removes nothing. `Err` only when the last
/// segment is not a number where an array is. Everything before the pointer's first `/` is skipped (the
/// library's reading; `Rules::of` says it).
pub(crate) fn remove(doc: &mut Value, pointer: &str) -> Result<(), String> {
    let Some((_, rest)) = pointer.split_once('/') else {
        return Ok(());
    };
    let mut segs: Vec<String> = rest.split('/').map(unescape).collect();
    let Some(last) = segs.pop() else {
        return Ok(());
    };
    let mut cur = doc;
    for seg in &segs {
        if seg.is_empty() {
            continue; // the library's get of "" is the container itself
        }
        let next = match cur {
            Value::Object(m) => m.get_mut(seg.as_str()),
            Value::Array(a) => match index(seg, a.len()) {
                Ok(Some(i)) => a.get_mut(i),
                _ => None,
            },
            _ => None,
        };
        match next {
            Some(v) if v.is_object() || v.is_array() => cur = v,
            _ => return Ok(()),
        }
    }
    match cur {
        Value::Object(m) => {
            m.remove(&last);
        }
        Value::Array(a) => {
            if let Some(i) = index(&last, a.len())? {
                a.remove(i);
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
