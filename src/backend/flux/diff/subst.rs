//! postBuild substitution as kustomize-controller does it: `${var}`, `${var:=default}` and `${var:-default}`
//! replaced in each object's YAML, `$${var}` kept as `${var}`; a variable without a value becomes empty
//! (non-strict, the controller's default). Objects labelled or annotated
//! `kustomize.toolkit.fluxcd.io/substitute: disabled` are left alone.

use std::collections::BTreeMap;

/// The label or annotation that turns substitution off for one object.
pub const DISABLED_KEY: &str = "kustomize.toolkit.fluxcd.io/substitute";

/// A variable name the controller accepts.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `text` with every `${...}` replaced from `vars`.
pub fn substitute(text: &str, vars: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(esc) = after.strip_prefix("${") {
            // `$${x}`: an escaped reference, kept literally without one `$`
            out.push_str("${");
            rest = esc;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            out.push('$');
            rest = after;
            continue;
        };
        let Some(end) = body.find('}') else {
            return Err(format!(
                "unclosed variable reference near `{}`",
                head(&rest[i..])
            ));
        };
        let expr = &body[..end];
        let (name, default) = match expr.find([':', '=', '-']) {
            Some(j) => {
                let op = &expr[j..];
                let default = op
                    .strip_prefix(":=")
                    .or_else(|| op.strip_prefix(":-"))
                    .or_else(|| op.strip_prefix('='))
                    .or_else(|| op.strip_prefix('-'))
                    .ok_or_else(|| format!("unsupported substitution `${{{expr}}}`"))?;
                (&expr[..j], Some(default))
            }
            None => (expr, None),
        };
        if !valid_name(name) {
            return Err(format!("invalid variable name in `${{{expr}}}`"));
        }
        let value = vars.get(name).map(String::as_str).unwrap_or("");
        match default {
            Some(d) if value.is_empty() => out.push_str(d),
            _ => out.push_str(value),
        }
        rest = &body[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn head(s: &str) -> String {
    s.chars().take(30).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn replaces_defaults_and_escapes() {
        let v = vars(&[("env", "prod"), ("empty", "")]);
        let text = "a: ${env}\nb: ${missing:=dflt}\nc: ${env:=x}\nd: ${missing}\ne: $${env}\nf: $HOME\ng: ${empty:-z}";
        assert_eq!(
            substitute(text, &v).unwrap(),
            "a: prod\nb: dflt\nc: prod\nd: \ne: ${env}\nf: $HOME\ng: z"
        );
    }

    #[test]
    fn refuses_broken_references() {
        assert!(substitute("a: ${env", &vars(&[])).is_err());
        assert!(substitute("a: ${1x}", &vars(&[])).is_err());
        assert!(valid_name("_a1") && !valid_name("a-b") && !valid_name(""));
    }
}
