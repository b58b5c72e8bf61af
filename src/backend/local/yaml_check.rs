//! YAML as kustomize takes it: a stream of documents (`---`), any keys, `.nan` and `.inf`, nesting as deep as
//! go-yaml allows. A file the agent only copies is checked by parsing its whole event stream without building
//! a tree (no recursion, so depth costs no stack), within budgets on nesting and on alias expansion. Errors
//! are sentences with a line number, never a library's type names.

use std::collections::HashMap;

use serde_saphyr::granit_parser::{Event, Options, Parser};

/// Deepest nesting accepted, as go-yaml (kustomize) accepts.
pub const MAX_DEPTH: usize = 10_000;
/// Aliases may expand a file to this many nodes before it is taken for an alias bomb…
const EXPANSION_FLOOR: u64 = 1_000_000;
/// …or to this many times its written nodes, whichever is larger.
const EXPANSION_RATIO: u64 = 10;

/// A YAML problem: the line (1-based) when known, and what is wrong in words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlProblem {
    pub line: Option<usize>,
    pub message: String,
}

/// Checks that `text` is a well-formed YAML stream within the budgets.
pub fn validate(text: &str) -> Result<(), YamlProblem> {
    let mut options = Options::default();
    // One more than the budget, so that the budget (with its clearer message) trips first.
    options.block_nesting_limit = MAX_DEPTH + 1;
    options.flow_nesting_limit = MAX_DEPTH + 1;
    let parser = Parser::new_from_str_with_options(text, options);
    // Nodes per open container (with aliases expanded), and the anchor it defines.
    let mut stack: Vec<(u64, usize)> = Vec::new();
    let mut anchored: HashMap<usize, u64> = HashMap::new();
    // Nodes written in the file, and nodes once every alias is expanded.
    let (mut written, mut total) = (0u64, 0u64);
    for item in parser {
        let (event, span) = item.map_err(|e| YamlProblem {
            line: Some(e.marker().line()).filter(|l| *l > 0),
            message: format!("invalid YAML: {}", e.info()),
        })?;
        let line = Some(span.start.line()).filter(|l| *l > 0);
        let node = match event {
            Event::SequenceStart(_, anchor, _) | Event::MappingStart(_, anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(YamlProblem {
                        line,
                        message: format!(
                            "nested deeper than {MAX_DEPTH} levels; flatten the structure"
                        ),
                    });
                }
                written += 1;
                total = total.saturating_add(1);
                stack.push((1, anchor));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some((size, anchor)) = stack.pop() else {
                    continue;
                };
                if anchor != 0 {
                    anchored.insert(anchor, size);
                }
                if let Some((parent, _)) = stack.last_mut() {
                    *parent = parent.saturating_add(size);
                }
                continue;
            }
            Event::Scalar(_, _, anchor, _) => {
                written += 1;
                if anchor != 0 {
                    anchored.insert(anchor, 1);
                }
                1
            }
            Event::Alias(anchor) => anchored.get(&anchor).copied().unwrap_or(1),
            Event::DocumentEnd => {
                stack.clear();
                continue;
            }
            _ => continue,
        };
        total = total.saturating_add(node);
        if let Some((size, _)) = stack.last_mut() {
            *size = size.saturating_add(node);
        }
        if total > EXPANSION_FLOOR.max(written.saturating_mul(EXPANSION_RATIO)) {
            return Err(YamlProblem {
                line,
                message: format!(
                    "aliases expand this file to more than {} nodes from {written} written (an alias bomb?); \
                     write the repeated parts out or use fewer aliases",
                    EXPANSION_FLOOR.max(written.saturating_mul(EXPANSION_RATIO))
                ),
            });
        }
    }
    Ok(())
}

/// A deserializer error in words, with its line: for the files the agent must read as one document (overlay
/// files, merge patches and the files they patch).
pub fn explain(e: &serde_saphyr::Error) -> YamlProblem {
    let line = e.location().map(|l| l.line() as usize).filter(|l| *l > 0);
    let mut inner = e;
    for _ in 0..16 {
        match inner {
            serde_saphyr::Error::WithSnippet { error, .. }
            | serde_saphyr::Error::AliasError { error, .. } => inner = error,
            _ => break,
        }
    }
    let message = match inner {
        serde_saphyr::Error::MultipleDocuments { .. } => {
            "has several YAML documents (`---`); this file must be a single document".to_owned()
        }
        serde_saphyr::Error::Budget { breach, .. } => {
            use serde_saphyr::budget::BudgetBreach as B;
            match breach {
                B::Depth { .. } => {
                    "nested too deeply to be merged (more than 64 levels)".to_owned()
                }
                B::Nodes { .. } | B::Events { .. } | B::ScalarBytes { .. } => {
                    "too large to be merged (over 250,000 nodes or 64 MiB of text)".to_owned()
                }
                B::Aliases { .. }
                | B::Anchors { .. }
                | B::AliasAnchorRatio { .. }
                | B::RecordedAnchorEvents { .. }
                | B::RecordedAnchorBytes { .. } => {
                    "uses too many aliases (an alias bomb?); write the repeated parts out"
                        .to_owned()
                }
                B::Documents { .. } => "has too many YAML documents".to_owned(),
                _ => "is over the YAML parser's limits".to_owned(),
            }
        }
        other => {
            let raw = other.without_snippet().to_string();
            let first = raw.lines().next().unwrap_or("").trim();
            let msg = first.split(" at line ").next().unwrap_or(first).trim();
            format!("invalid YAML: {msg}")
        }
    };
    YamlProblem { line, message }
}

#[cfg(test)]
#[path = "yaml_check_tests.rs"]
mod tests;
