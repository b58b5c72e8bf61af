//! The `target` of a HelmRelease's `spec.driftDetection.ignore` rule (a kustomize Selector) as
//! helm-controller matches it (fluxcd/pkg ssa/jsondiff): group, version, kind, name and namespace are regular
//! expressions anchored at both ends (empty: any), `labelSelector` and `annotationSelector` are label
//! selector expressions (`app=web,tier in (a,b),!canary,replicas>2`, as Kubernetes parses them); every one
//! given must hold. Matching uses kube's label `Expression`s; only the two integer comparisons it lacks are
//! matched here.

use std::collections::{BTreeMap, BTreeSet};

use kube::core::{Expression, SelectorExt};
use regex::Regex;
use serde_json::Value;

use super::super::str_at;

/// A compiled target.
#[derive(Debug)]
pub(crate) struct Target {
    fields: Vec<(Field, Regex)>,
    labels: Option<Vec<Requirement>>,
    annotations: Option<Vec<Requirement>>,
}

#[derive(Debug, Clone, Copy)]
enum Field {
    Group,
    Version,
    Kind,
    Name,
    Namespace,
}

impl Field {
    const ALL: [(Field, &'static str); 5] = [
        (Field::Group, "group"),
        (Field::Version, "version"),
        (Field::Kind, "kind"),
        (Field::Name, "name"),
        (Field::Namespace, "namespace"),
    ];

    fn of(self, obj: &Value) -> &str {
        let api_version = str_at(obj, &["apiVersion"]);
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        match self {
            Field::Group => group,
            Field::Version => version,
            Field::Kind => str_at(obj, &["kind"]),
            Field::Name => str_at(obj, &["metadata", "name"]),
            Field::Namespace => str_at(obj, &["metadata", "namespace"]),
        }
    }
}

/// One requirement of a label selector.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Requirement {
    Expr(Expression),
    GreaterThan(String, i64),
    LessThan(String, i64),
}

impl Requirement {
    fn matches(&self, map: &BTreeMap<String, String>) -> bool {
        let int = |k: &str| map.get(k).and_then(|v| v.parse::<i64>().ok());
        match self {
            Requirement::Expr(e) => e.matches(map),
            Requirement::GreaterThan(k, n) => int(k).is_some_and(|v| v > *n),
            Requirement::LessThan(k, n) => int(k).is_some_and(|v| v < *n),
        }
    }
}

impl Target {
    /// The target as the rule gives it; `Err` says which field does not compile, as helm-controller refuses it.
    pub(crate) fn compile(target: &Value) -> Result<Self, String> {
        let mut fields = Vec::new();
        for (field, key) in Field::ALL {
            let pattern = str_at(target, &[key]);
            if pattern.is_empty() {
                continue;
            }
            let re = Regex::new(&format!("^(?:{pattern})$"))
                .map_err(|e| format!("{key} {pattern:?} is not a regular expression: {e}"))?;
            fields.push((field, re));
        }
        let selector = |key: &str| -> Result<Option<Vec<Requirement>>, String> {
            match str_at(target, &[key]) {
                "" => Ok(None),
                s => parse(s)
                    .map(Some)
                    .map_err(|e| format!("{key} {s:?} does not parse: {e}")),
            }
        };
        Ok(Self {
            fields,
            labels: selector("labelSelector")?,
            annotations: selector("annotationSelector")?,
        })
    }

    /// Whether the object (as rendered, its namespace set) is selected.
    pub(crate) fn matches(&self, obj: &Value) -> bool {
        let meta = |field: &str| -> BTreeMap<String, String> {
            obj.get("metadata")
                .and_then(|m| m.get(field))
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        };
        let holds = |reqs: &Option<Vec<Requirement>>, field: &str| {
            reqs.as_ref().is_none_or(|reqs| {
                let map = meta(field);
                reqs.iter().all(|r| r.matches(&map))
            })
        };
        self.fields.iter().all(|(f, re)| re.is_match(f.of(obj)))
            && holds(&self.labels, "labels")
            && holds(&self.annotations, "annotations")
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    End,
    Word(String),
    Not,
    Eq,
    DoubleEq,
    NotEq,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
}

fn special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn lex(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if matches!(c, ' ' | '\t' | '\r' | '\n') {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let next = chars.peek().copied();
            let tok = match (c, next) {
                ('!', Some('=')) | ('=', Some('=')) => {
                    chars.next();
                    if c == '!' { Tok::NotEq } else { Tok::DoubleEq }
                }
                ('!', _) => Tok::Not,
                ('=', _) => Tok::Eq,
                ('(', _) => Tok::Open,
                (')', _) => Tok::Close,
                (',', _) => Tok::Comma,
                ('>', _) => Tok::Gt,
                _ => Tok::Lt,
            };
            out.push(tok);
            continue;
        }
        let mut word = String::new();
        while let Some(&c) = chars.peek() {
            if special(c) || matches!(c, ' ' | '\t' | '\r' | '\n') {
                break;
            }
            word.push(c);
            chars.next();
        }
        out.push(Tok::Word(word));
    }
    out.push(Tok::End);
    out
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.pos).unwrap_or(&Tok::End)
    }

    fn next(&mut self) -> Tok {
        let t = self.peek().clone();
        self.pos += 1;
        t
    }
}

fn shown(t: &Tok) -> String {
    match t {
        Tok::End => "end of string".into(),
        Tok::Word(w) => w.clone(),
        Tok::Not => "!".into(),
        Tok::Eq => "=".into(),
        Tok::DoubleEq => "==".into(),
        Tok::NotEq => "!=".into(),
        Tok::Gt => ">".into(),
        Tok::Lt => "<".into(),
        Tok::Open => "(".into(),
        Tok::Close => ")".into(),
        Tok::Comma => ",".into(),
    }
}

/// A label selector expression as Kubernetes's `labels.Parse` reads it (keys and values validated as label
/// keys and values).
pub(crate) fn parse(s: &str) -> Result<Vec<Requirement>, String> {
    let mut p = Parser {
        toks: lex(s),
        pos: 0,
    };
    let mut out = Vec::new();
    loop {
        match p.peek() {
            Tok::End => return Ok(out),
            Tok::Word(_) | Tok::Not => {
                out.push(requirement(&mut p)?);
                match p.next() {
                    Tok::End => return Ok(out),
                    Tok::Comma if matches!(p.peek(), Tok::Word(_) | Tok::Not) => {}
                    Tok::Comma => {
                        return Err(format!(
                            "found '{}', expected: identifier after ','",
                            shown(p.peek())
                        ));
                    }
                    t => {
                        return Err(format!(
                            "found '{}', expected: ',' or end of string",
                            shown(&t)
                        ));
                    }
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: !, identifier, or end of string",
                    shown(t)
                ));
            }
        }
    }
}

fn requirement(p: &mut Parser) -> Result<Requirement, String> {
    let mut t = p.next();
    let negated = t == Tok::Not;
    if negated {
        t = p.next();
    }
    let Tok::Word(key) = t else {
        return Err(format!("found '{}', expected: identifier", shown(&t)));
    };
    label_key(&key)?;
    if negated {
        return Ok(Requirement::Expr(Expression::DoesNotExist(key)));
    }
    if matches!(p.peek(), Tok::End | Tok::Comma) {
        return Ok(Requirement::Expr(Expression::Exists(key)));
    }
    let op = p.next();
    let values = match &op {
        Tok::Word(w) if w == "in" || w == "notin" => set(p)?,
        Tok::Eq | Tok::DoubleEq | Tok::NotEq | Tok::Gt | Tok::Lt => exact(p)?,
        other => {
            return Err(format!(
                "found '{}', expected: in, notin, =, ==, !=, >, <",
                shown(other)
            ));
        }
    };
    for v in &values {
        label_value(v)?;
    }
    let one = || values.iter().next().cloned().unwrap_or_default();
    let int = |v: String| {
        v.parse::<i64>()
            .map_err(|_| format!("for '>', '<' the value must be an integer: {v:?}"))
    };
    Ok(match op {
        Tok::Word(w) if w == "in" => Requirement::Expr(Expression::In(key, values)),
        Tok::Word(_) => Requirement::Expr(Expression::NotIn(key, values)),
        Tok::NotEq => Requirement::Expr(Expression::NotEqual(key, one())),
        Tok::Gt => Requirement::GreaterThan(key, int(one())?),
        Tok::Lt => Requirement::LessThan(key, int(one())?),
        _ => Requirement::Expr(Expression::Equal(key, one())),
    })
}

/// `(a,b,…)`: as Kubernetes reads it, an empty member (`(a,)`, `()`) is the empty value.
fn set(p: &mut Parser) -> Result<BTreeSet<String>, String> {
    let t = p.next();
    if t != Tok::Open {
        return Err(format!("found '{}', expected: '('", shown(&t)));
    }
    let mut out = BTreeSet::new();
    match p.peek() {
        Tok::Close => {
            p.next();
            out.insert(String::new());
            return Ok(out);
        }
        Tok::Word(_) | Tok::Comma => {}
        t => {
            return Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                shown(t)
            ));
        }
    }
    loop {
        match p.next() {
            Tok::Word(w) => {
                out.insert(w);
                match p.peek() {
                    Tok::Comma => {}
                    Tok::Close => break,
                    t => return Err(format!("found '{}', expected: ',' or ')'", shown(t))),
                }
            }
            Tok::Comma => {
                if out.is_empty() {
                    out.insert(String::new());
                }
                match p.peek() {
                    Tok::Close => {
                        out.insert(String::new());
                        break;
                    }
                    Tok::Comma => {
                        out.insert(String::new());
                    }
                    _ => {}
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: ',', or identifier",
                    shown(&t)
                ));
            }
        }
    }
    p.next(); // the ')' seen above
    Ok(out)
}

/// The one value of `=`, `==`, `!=`, `>`, `<` (none before `,` or the end: the empty value).
fn exact(p: &mut Parser) -> Result<BTreeSet<String>, String> {
    if matches!(p.peek(), Tok::End | Tok::Comma) {
        return Ok(BTreeSet::from([String::new()]));
    }
    match p.next() {
        Tok::Word(w) => Ok(BTreeSet::from([w])),
        t => Err(format!("found '{}', expected: identifier", shown(&t))),
    }
}

/// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most 63 characters (empty allowed when `empty`).
fn label_name(s: &str, empty: bool) -> bool {
    if s.is_empty() {
        return empty;
    }
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.len() <= 63
        && s.starts_with(alnum)
        && s.ends_with(alnum)
        && s.chars().all(|c| alnum(c) || matches!(c, '-' | '_' | '.'))
}

/// A DNS-1123 subdomain: lowercase labels of `[a-z0-9]([-a-z0-9]*[a-z0-9])?` joined by dots, at most 253.
fn dns_subdomain(s: &str) -> bool {
    let label = |l: &str| {
        let ok = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
        !l.is_empty()
            && l.starts_with(ok)
            && l.ends_with(ok)
            && l.chars().all(|c| ok(c) || c == '-')
    };
    s.len() <= 253 && s.split('.').all(label)
}

/// A label key: `[prefix/]name`, the prefix a DNS subdomain.
fn label_key(key: &str) -> Result<(), String> {
    let valid = match key.split_once('/') {
        None => label_name(key, false),
        Some((prefix, name)) => {
            !prefix.is_empty()
                && dns_subdomain(prefix)
                && !name.contains('/')
                && label_name(name, false)
        }
    };
    if valid {
        Ok(())
    } else {
        Err(format!("{key:?} is not a valid label key"))
    }
}

fn label_value(v: &str) -> Result<(), String> {
    if label_name(v, true) {
        Ok(())
    } else {
        Err(format!("{v:?} is not a valid label value"))
    }
}

#[cfg(test)]
#[path = "selector_tests.rs"]
mod tests;
