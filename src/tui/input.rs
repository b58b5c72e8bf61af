//! One-line text input for the `:` prompt, the `/` filter, diff search and the protected-unit name,
//! and the prompt's commands with their completion.

/// A single line of text edited at its end (enough for short commands and names).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineInput {
    pub text: String,
}

impl LineInput {
    /// Applies an editing key; returns whether the text changed.
    pub fn edit(&mut self, key: &crate::config::keymap::Key) -> bool {
        use ratatui::crossterm::event::{KeyCode, KeyModifiers};
        if key
            .mods
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
        {
            if key.mods == KeyModifiers::CONTROL && key.code == KeyCode::Char('u') {
                self.text.clear();
                return true;
            }
            return false;
        }
        match key.code {
            KeyCode::Char(c) => {
                self.text.push(c);
                true
            }
            KeyCode::Backspace => self.text.pop().is_some(),
            _ => false,
        }
    }
}

/// What the `:` prompt understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PromptCommand {
    Units,
    Sources,
    Help,
    Quit,
    Context(String),
    Theme(String),
    /// `compare B` (the unit on screen against B) or `compare A B`.
    Compare(String, Option<String>),
}

/// The prompt's verbs, for completion and the error message.
pub const VERBS: &[&str] = &[
    "units", "sources", "ctx", "theme", "compare", "help", "q", "quit",
];

/// Parses a prompt line (`units`, `ctx prod-cluster`, `theme mono`, `q`).
pub fn parse_prompt(line: &str) -> Result<PromptCommand, String> {
    let mut words = line.split_whitespace();
    let verb = words.next().unwrap_or("");
    let arg = words.collect::<Vec<_>>().join(" ");
    let need = |what: &str| -> Result<String, String> {
        if arg.is_empty() {
            Err(format!(":{verb} needs a {what} name"))
        } else {
            Ok(arg.clone())
        }
    };
    Ok(match verb {
        "units" | "unit" | "u" => PromptCommand::Units,
        "sources" | "source" | "src" => PromptCommand::Sources,
        "help" | "h" => PromptCommand::Help,
        "q" | "quit" | "q!" => PromptCommand::Quit,
        "ctx" | "context" => PromptCommand::Context(need("context")?),
        "theme" => PromptCommand::Theme(need("theme")?),
        "compare" => {
            let units: Vec<&str> = arg.split_whitespace().collect();
            match units.as_slice() {
                [b] => PromptCommand::Compare((*b).to_owned(), None),
                [a, b] => PromptCommand::Compare((*a).to_owned(), Some((*b).to_owned())),
                _ => return Err(":compare needs one unit (B) or two (A B)".into()),
            }
        }
        "" => {
            return Err(
                "type a command: units, sources, ctx NAME, theme NAME, compare [A] B, q".into(),
            );
        }
        other => {
            return Err(crate::config::unknown_message("command", other, VERBS));
        }
    })
}

/// Completes the prompt line: the verb, the argument of `ctx` / `theme` from `contexts` / `themes`, or the
/// last unit of `compare` from `units` (ids, matched by any suffix after a `/` as units are addressed).
/// Returns the completed line and the candidates that remain.
pub fn complete(
    line: &str,
    contexts: &[String],
    themes: &[String],
    units: &[String],
) -> (String, Vec<String>) {
    let (verb, arg) = match line.split_once(' ') {
        Some((v, a)) => (v, Some(a.trim_start())),
        None => (line, None),
    };
    if verb == "compare"
        && let Some(arg) = arg
    {
        return complete_unit(line, arg, units);
    }
    let (prefix, pool): (String, Vec<String>) = match arg {
        None => (
            String::new(),
            VERBS
                .iter()
                .filter(|v| v.starts_with(verb))
                .map(|v| (*v).to_owned())
                .collect(),
        ),
        Some(a) => {
            let pool = match verb {
                "ctx" | "context" => contexts,
                "theme" => themes,
                _ => &[][..],
            };
            (
                format!("{verb} "),
                pool.iter().filter(|c| c.starts_with(a)).cloned().collect(),
            )
        }
    };
    let typed = arg.unwrap_or(verb);
    let completed = match pool.as_slice() {
        [] => line.to_owned(),
        [one] => {
            let space = if arg.is_none() && matches!(one.as_str(), "ctx" | "theme" | "compare") {
                " "
            } else {
                ""
            };
            format!("{prefix}{one}{space}")
        }
        many => {
            let common = common_prefix(many);
            if common.len() > typed.len() {
                format!("{prefix}{common}")
            } else {
                line.to_owned()
            }
        }
    };
    (completed, pool)
}

/// Completes the last word of `compare A B` to the unit ids it is a prefix of, or a suffix-prefix of
/// (`pr` → `local/prod`); a unique match replaces the word with the whole id.
fn complete_unit(line: &str, args: &str, units: &[String]) -> (String, Vec<String>) {
    let typed = if args.ends_with(' ') {
        ""
    } else {
        args.rsplit(' ').next().unwrap_or("")
    };
    let head = &line[..line.len() - typed.len()];
    let pool: Vec<String> = units
        .iter()
        .filter(|id| {
            id.starts_with(typed)
                || id
                    .match_indices('/')
                    .any(|(i, _)| id[i + 1..].starts_with(typed))
        })
        .cloned()
        .collect();
    match pool.as_slice() {
        [one] => (format!("{head}{one}"), pool),
        _ => (line.to_owned(), pool),
    }
}

fn common_prefix(items: &[String]) -> String {
    let Some(first) = items.first() else {
        return String::new();
    };
    let mut len = first.len();
    for s in &items[1..] {
        len = len.min(
            first
                .char_indices()
                .zip(s.chars())
                .take_while(|((_, a), b)| a == b)
                .count(),
        );
    }
    first.chars().take(len).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prompt_parsing() {
        assert_eq!(parse_prompt("units"), Ok(PromptCommand::Units));
        assert_eq!(
            parse_prompt("theme  mono"),
            Ok(PromptCommand::Theme("mono".into()))
        );
        assert!(parse_prompt("ctx").unwrap_err().contains("needs a context"));
        assert!(
            parse_prompt("unts")
                .unwrap_err()
                .contains("did you mean `units`")
        );
    }

    #[test]
    fn completion() {
        let themes = vec!["mono".to_owned(), "solarized-dark".to_owned()];
        assert_eq!(complete("so", &[], &themes, &[]).0, "sources");
        assert_eq!(complete("th", &[], &themes, &[]).0, "theme ");
        assert_eq!(
            complete("theme s", &[], &themes, &[]).0,
            "theme solarized-dark"
        );
        let (line, cands) = complete("", &[], &themes, &[]);
        assert_eq!(line, "");
        assert_eq!(cands.len(), VERBS.len());
        assert_eq!(complete("q", &[], &themes, &[]).1, vec!["q", "quit"]);
    }

    #[test]
    fn compare_parses_and_completes_units_by_suffix() {
        assert_eq!(
            parse_prompt("compare prod"),
            Ok(PromptCommand::Compare("prod".into(), None))
        );
        assert_eq!(
            parse_prompt("compare  staging prod"),
            Ok(PromptCommand::Compare(
                "staging".into(),
                Some("prod".into())
            ))
        );
        assert!(parse_prompt("compare").is_err());
        assert!(parse_prompt("compare a b c").is_err());
        let units: Vec<String> = ["x/staging", "x/prod", "x/prod-eu"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        assert_eq!(complete("comp", &[], &[], &units).0, "compare ");
        assert_eq!(
            complete("compare x/staging st", &[], &[], &units).0,
            "compare x/staging x/staging"
        );
        assert_eq!(
            complete("compare sta", &[], &[], &units).0,
            "compare x/staging"
        );
        let (line, cands) = complete("compare x/staging pr", &[], &[], &units);
        assert_eq!(line, "compare x/staging pr");
        assert_eq!(cands, ["x/prod", "x/prod-eu"]);
        assert_eq!(complete("compare x/staging ", &[], &[], &units).1.len(), 3);
    }
}
