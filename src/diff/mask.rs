//! Masking secret values before content leaves a backend.

/// Keys whose values are secrets, matched case-insensitively as a whole key or a key suffix.
const SECRET_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "private_key",
    "credentials",
];

pub const MASK: &str = "********";

fn is_secret_key(key: &str) -> bool {
    let k = key
        .trim()
        .trim_matches(['"', '\''])
        .to_ascii_lowercase()
        .replace('-', "_");
    SECRET_KEYS
        .iter()
        .any(|s| k == *s || k.ends_with(&format!("_{s}")) || k.ends_with(s))
}

/// The mask, or the mask marked `(changed)`, quoted or not: nothing of a secret left to hide.
fn is_masked(value: &str) -> bool {
    let v = value.trim_end_matches(',').trim_matches(['"', '\'']);
    v == MASK || v == format!("{MASK} (changed)")
}

/// Replaces the values of secret-looking keys (`password: x`, `"token": "x"`, `API_KEY=x`) with a mask.
/// Returns the text and whether anything was masked.
pub fn mask_secrets(text: &str) -> (String, bool) {
    let mut masked = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let (body, nl) = match line.strip_suffix('\n') {
            Some(b) => (b, "\n"),
            None => (line, ""),
        };
        let sep = body.find([':', '=']);
        match sep {
            // a value masked already (a Secret's, maybe marked `(changed)` by the backend) is left as it is
            Some(i)
                if is_secret_key(&body[..i])
                    && !body[i + 1..].trim().is_empty()
                    && !is_masked(body[i + 1..].trim()) =>
            {
                let value = body[i + 1..].trim();
                let trailing_comma = if value.ends_with(',') { "," } else { "" };
                out.push_str(&body[..=i]);
                out.push(' ');
                if value.starts_with('"') {
                    out.push_str(&format!("\"{MASK}\"{trailing_comma}"));
                } else {
                    out.push_str(MASK);
                    out.push_str(trailing_comma);
                }
                masked = true;
            }
            _ => out.push_str(body),
        }
        out.push_str(nl);
    }
    (out, masked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secret_values_only() {
        let (t, m) = mask_secrets(
            "user: app\npassword: hunter2\n  \"apiToken\": \"abc\",\nDB_PASSWORD=x\nkeys: 3\n",
        );
        assert!(m);
        assert_eq!(
            t,
            "user: app\npassword: ********\n  \"apiToken\": \"********\",\nDB_PASSWORD= ********\nkeys: 3\n"
        );
        // masked already, a change marked by the backend: the mark stays
        let (t, _) = mask_secrets("  token: \"******** (changed)\"\n  password: ********\n");
        assert_eq!(t, "  token: \"******** (changed)\"\n  password: ********\n");
        let (t, _) = mask_secrets("token: ******** (changed) but more\n");
        assert_eq!(t, "token: ********\n");
        let (t, m) = mask_secrets("replicas: 3\n");
        assert!(!m);
        assert_eq!(t, "replicas: 3\n");
    }
}
