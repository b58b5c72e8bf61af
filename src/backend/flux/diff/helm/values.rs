//! A HelmRelease's values and release name as helm-controller v1.6 composes them (fluxcd/pkg chartutil
//! `ChartValuesFromReferences`, api/v2 `GetReleaseName` and internal/release `ShortenName`): each
//! `valuesFrom` reference in order, its key (`values.yaml` by default) read as YAML and deep-merged over what
//! came before, or with a `targetPath` set at that path the way `helm --set` parses `path=value` (quoted
//! values as strings, `literal` verbatim) after the inline values are merged; the inline `spec.values` merged
//! last, winning.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// One `spec.valuesFrom` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub kind: String,
    pub name: String,
    pub key: String,
    pub target_path: String,
    pub optional: bool,
    pub literal: bool,
}

impl Reference {
    /// The entries of `spec.valuesFrom`.
    pub fn all(spec: &Value) -> Vec<Self> {
        let text = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let flag = |r: &Value, k: &str| r.get(k).and_then(Value::as_bool) == Some(true);
        spec.get("valuesFrom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .map(|r| Self {
                kind: text(r, "kind"),
                name: text(r, "name"),
                key: match text(r, "valuesKey") {
                    k if k.is_empty() => "values.yaml".to_owned(),
                    k => k,
                },
                target_path: text(r, "targetPath"),
                optional: flag(r, "optional"),
                literal: flag(r, "literal"),
            })
            .collect()
    }

    pub fn label(&self) -> String {
        format!("{} {} (key {})", self.kind, self.name, self.key)
    }
}

/// What reading one referenced ConfigMap or Secret gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// The object exists; the value at the reference's key, `None` when it has no such key.
    Data(Option<String>),
    NotFound,
    /// It could not be read (forbidden, unreachable): the reason.
    Unreadable(String),
}

/// The composed values, and what of the references could not be used (said in the report).
#[derive(Debug, Default, PartialEq)]
pub struct Composed {
    pub values: Map<String, Value>,
    pub gaps: Vec<String>,
}

/// The values helm-controller would pass to Helm: `inline` (spec.values) and the references with what
/// reading each gave. An error is what makes helm-controller fail the reconcile (a required reference
/// missing, values that do not parse).
pub fn compose(inline: &Value, refs: &[(Reference, Got)]) -> Result<Composed, String> {
    let inline = inline.as_object().cloned().unwrap_or_default();
    let mut out = Composed::default();
    for (r, got) in refs {
        if r.kind != "ConfigMap" && r.kind != "Secret" {
            return Err(format!("valuesFrom kind {} is not supported", r.kind));
        }
        let data = match got {
            Got::Data(Some(d)) => d,
            Got::Data(None) | Got::NotFound if r.optional => continue,
            Got::Data(None) => return Err(format!("valuesFrom {}: the key is missing", r.label())),
            Got::NotFound => return Err(format!("valuesFrom {}: not found", r.label())),
            Got::Unreadable(why) => {
                out.gaps.push(format!(
                    "valuesFrom {} cannot be read ({why}): the values it holds are missing from the render",
                    r.label()
                ));
                continue;
            }
        };
        if !r.target_path.is_empty() {
            out.values = merge_maps(&out.values, &inline);
            let gap = set_path(&mut out.values, &r.target_path, data, r.literal).map_err(|e| {
                format!(
                    "valuesFrom {}: targetPath {}: {e}",
                    r.label(),
                    r.target_path
                )
            })?;
            out.gaps
                .extend(gap.map(|g| format!("valuesFrom {}: {g}", r.label())));
            continue;
        }
        let values = read_values(data).map_err(|e| format!("valuesFrom {}: {e}", r.label()))?;
        out.values = merge_maps(&out.values, &values);
    }
    out.values = merge_maps(&out.values, &inline);
    Ok(out)
}

/// Helm's `ReadValues`: a YAML mapping (empty text: no values).
pub fn read_values(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_saphyr::from_str::<Value>(text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Map::new()),
        Ok(_) => Err("the values are not a YAML mapping".into()),
        Err(e) => Err(format!("the values do not parse: {e}")),
    }
}

/// chartutil's `MergeMaps`: `b` over `a`, mappings merged key by key, anything else replaced.
pub fn merge_maps(a: &Map<String, Value>, b: &Map<String, Value>) -> Map<String, Value> {
    let mut out = a.clone();
    for (k, v) in b {
        if let (Value::Object(bv), Some(Value::Object(av))) = (v, out.get(k)) {
            let merged = merge_maps(av, bv);
            out.insert(k.clone(), Value::Object(merged));
            continue;
        }
        out.insert(k.clone(), v.clone());
    }
    out
}

/// `path=value` set the way chartutil's `ReplacePathValue` (strvals `ParseInto`) and
/// `ReplacePathLiteralValue` do, for a dotted path (`\.` escaping a dot). A value in quotes is a string, a
/// literal one is taken verbatim; else typed as `--set` types it (true/false/null, integers). What strvals
/// would read further (list indexes in the path, `{a,b}` lists, `,`-separated further assignments) is not
/// reproduced: returned as the gap to report.
pub fn set_path(
    values: &mut Map<String, Value>,
    path: &str,
    raw: &str,
    literal: bool,
) -> Result<Option<String>, String> {
    let keys = split_path(path);
    if keys.iter().any(|k| k.is_empty()) {
        return Err("an empty key".into());
    }
    if keys.iter().any(|k| k.contains('[')) {
        return Ok(Some(format!(
            "the list index in targetPath {path} is not reproduced: the value is not set"
        )));
    }
    let mut gap = None;
    let quoted = raw.len() >= 2
        && ((raw.starts_with('"') && raw.ends_with('"'))
            || (raw.starts_with('\'') && raw.ends_with('\'')));
    let value = if literal {
        Value::String(raw.to_owned())
    } else {
        let (text, rest) = unescape_value(if quoted {
            raw.trim_matches(|c| c == '"' || c == '\'')
        } else {
            raw
        });
        if !rest.is_empty() {
            gap = Some(format!(
                "the value has a ',' that --set parsing reads as further assignments ({rest}): not applied"
            ));
        }
        if !quoted && text.starts_with('{') {
            gap = Some("a {a,b} list value is not reproduced: set as text".into());
        }
        if quoted {
            Value::String(text)
        } else {
            typed(&text)
        }
    };
    let mut node = values;
    let (last, parents) = keys.split_last().ok_or("an empty path")?;
    for k in parents {
        if !node.get(k).is_some_and(Value::is_object) {
            node.insert(k.clone(), Value::Object(Map::new()));
        }
        node = match node.get_mut(k) {
            Some(Value::Object(m)) => m,
            _ => return Err(format!("{k} is not a mapping")),
        };
    }
    node.insert(last.clone(), value);
    Ok(gap)
}

/// The keys of a dotted path, `\.` a dot inside a key.
fn split_path(path: &str) -> Vec<String> {
    let mut keys = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(k)) = (chars.next(), keys.last_mut()) {
                    k.push(n);
                }
            }
            '.' => keys.push(String::new()),
            c => {
                if let Some(k) = keys.last_mut() {
                    k.push(c);
                }
            }
        }
    }
    keys
}

/// The value up to the first unescaped `,` (escapes removed), and what follows it.
fn unescape_value(raw: &str) -> (String, &str) {
    let mut out = String::new();
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        match (escaped, c) {
            (true, c) => {
                out.push(c);
                escaped = false;
            }
            (false, '\\') => escaped = true,
            (false, ',') => return (out, &raw[i + 1..]),
            (false, c) => out.push(c),
        }
    }
    (out, "")
}

/// strvals' `typedVal`.
fn typed(s: &str) -> Value {
    if s.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if s.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    if s.eq_ignore_ascii_case("null") {
        return Value::Null;
    }
    if s == "0" {
        return Value::from(0);
    }
    if !s.starts_with('0')
        && let Ok(i) = s.parse::<i64>()
    {
        return Value::from(i);
    }
    Value::String(s.to_owned())
}

/// The Helm release name: `spec.releaseName`, else `[targetNamespace-]name`, shortened past 53 characters
/// to its first 40 and `-` and the first 12 hex digits of its sha256.
pub fn release_name(spec: &Value, name: &str) -> String {
    let text = |k: &str| spec.get(k).and_then(Value::as_str).unwrap_or("");
    let full = match (text("releaseName"), text("targetNamespace")) {
        (r, _) if !r.is_empty() => r.to_owned(),
        (_, t) if !t.is_empty() => format!("{t}-{name}"),
        _ => name.to_owned(),
    };
    shorten(&full)
}

fn shorten(name: &str) -> String {
    if name.len() <= 53 {
        return name.to_owned();
    }
    let sum: String = Sha256::digest(name.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // the name is cut by bytes, as Go slices it; a cut inside a character keeps what is whole
    let cut = (0..=40)
        .rev()
        .find(|i| name.is_char_boundary(*i))
        .unwrap_or(0);
    format!("{}-{}", &name[..cut], &sum[..12])
}

#[cfg(test)]
#[path = "values_tests.rs"]
mod tests;
