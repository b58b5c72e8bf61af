//! AppProject permissions (pure): whether an Application's project lets the controller sync it, judged as
//! Argo CD does (pkg/apis/application/v1alpha1: `AppProject.IsSourcePermitted`, `IsDestinationPermitted`,
//! `IsGroupKindNamePermitted`; util/argo `ValidatePermissions`), so that setpoint refuses a sync or rollback
//! the controller would refuse, before sending it.
//!
//! - The project must exist (the controller: "Application referencing project … which does not exist").
//! - Every source's repoURL, normalised as Argo CD normalises git URLs (lower case, `.git` dropped, scp-like
//!   `git@host:path` as `git@host/path`), must match a `sourceRepos` pattern (glob, `/` as separator: `*`
//!   stays within a path segment, `**` crosses them) and no `!` pattern may exclude it.
//! - The destination is resolved to a cluster (`clusters.rs`: by server, or by name through the cluster
//!   Secrets; both or neither given, an unknown cluster or a name shared by several refuse), and the cluster
//!   (server or name) and namespace must match a `destinations` entry, with Argo CD's handling of `!`
//!   patterns; the project's project-scoped clusters (Secrets whose `project` names it) are destinations too,
//!   and with `permitOnlyProjectScopedClusters` the cluster must be one of them. When the Secrets are not read
//!   (not asked yet, or refused), whatever they could change is said, not enforced, and the verdict asks for
//!   them (`clusters_needed`).
//! - The objects of the last comparison (`status.resources`): a cluster-scoped kind must be in
//!   `clusterResourceWhitelist` (an absent or empty list allows none) and not in `clusterResourceBlacklist`; a
//!   namespaced kind in `namespaceResourceWhitelist` when the list is present and not in the blacklist; a
//!   namespaced object's namespace must be a permitted destination namespace.
//!
//! Not judged: the source hydrator, `cluster.inClusterEnabled: false`, and objects the next render adds (only
//! the last comparison's are known here).

use serde_json::Value;

use super::clusters::{self, Clusters};

/// What an Application asks of its project.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Target {
    pub project: String,
    pub repos: Vec<String>,
    pub dest_server: String,
    pub dest_name: String,
    pub dest_namespace: String,
    /// `status.resources`: (group, kind, namespace, name).
    pub resources: Vec<(String, String, String, String)>,
}

/// The project's verdict on one Application.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Rules of the project the controller would refuse the sync by, each naming the project and the rule.
    pub refusals: Vec<String>,
    /// What could not be judged here (said, never a refusal).
    pub notes: Vec<String>,
    /// The cluster Secrets were not read and could change the verdict: judge again with them.
    pub clusters_needed: bool,
}

impl Verdict {
    /// The refusal message, when the project refuses.
    pub fn refusal(&self) -> Option<String> {
        (!self.refusals.is_empty()).then(|| self.refusals.join("; "))
    }
}

fn s<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// What the Application `app` (as the API server returns it) asks of its project.
pub fn target(app: &Value) -> Target {
    let repos = match app.pointer("/spec/sources").and_then(Value::as_array) {
        Some(many) if !many.is_empty() => many.iter().map(|x| s(x, "/repoURL").into()).collect(),
        _ => app
            .pointer("/spec/source")
            .map(|x| s(x, "/repoURL").to_owned())
            .into_iter()
            .collect(),
    };
    let resources = app
        .pointer("/status/resources")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|r| {
            (
                s(r, "/group").into(),
                s(r, "/kind").into(),
                s(r, "/namespace").into(),
                s(r, "/name").into(),
            )
        })
        .collect();
    let project = match s(app, "/spec/project") {
        "" => "default",
        p => p,
    };
    Target {
        project: project.into(),
        repos,
        dest_server: s(app, "/spec/destination/server").into(),
        dest_name: s(app, "/spec/destination/name").into(),
        dest_namespace: s(app, "/spec/destination/namespace").into(),
        resources,
    }
}

/// The verdict of the project `project` (the AppProject object, `None` when it does not exist in
/// `namespace`) on `t`, with what is known of Argo CD's cluster Secrets.
pub fn judge(project: Option<&Value>, namespace: &str, t: &Target, clusters: Clusters) -> Verdict {
    let p = &t.project;
    let mut v = Verdict::default();
    let Some(proj) = project else {
        v.refusals.push(format!(
            "project `{p}` does not exist (no AppProject {namespace}/{p}: the controller refuses to sync)"
        ));
        return v;
    };
    let spec = proj.get("spec").unwrap_or(&Value::Null);
    let patterns = |key: &str| -> Vec<&str> {
        spec.get(key)
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default()
    };
    let repos = patterns("sourceRepos");
    for repo in &t.repos {
        if !source_permitted(&repos, repo) {
            v.refusals.push(format!(
                "project `{p}` does not permit source repo {repo} (sourceRepos: {})",
                listed(&repos)
            ));
        }
    }
    let mut destinations: Vec<Dest> = spec
        .get("destinations")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|d| Dest {
            server: s(d, "/server"),
            name: s(d, "/name"),
            namespace: s(d, "/namespace"),
        })
        .collect();
    // Argo CD's GetAppProjectByName: each project-scoped cluster is a destination, in its namespaces or all
    if let Clusters::Read(list) = clusters {
        for c in clusters::of_project(list, p) {
            let namespaces: Vec<&str> = if c.namespaces.is_empty() {
                vec!["*"]
            } else {
                c.namespaces.iter().map(String::as_str).collect()
            };
            destinations.extend(namespaces.into_iter().map(|namespace| Dest {
                server: &c.server,
                name: "",
                namespace,
            }));
        }
    }
    let unread = match clusters {
        Clusters::Unread(why) => Some(why),
        Clusters::Read(_) => None,
    };
    // a rule the Secrets could decide, said instead of enforced while they are not read
    let undecided = |v: &mut Verdict, rule: String, why: &str| {
        v.clusters_needed = true;
        v.notes.push(if why.is_empty() {
            format!("{rule}, as far as setpoint knows: the cluster Secrets were not read")
        } else {
            format!(
                "{rule}, as far as setpoint knows: the cluster Secrets could not be read ({why})"
            )
        });
    };
    let dest_label = format!(
        "destination {} namespace `{}`",
        if t.dest_server.is_empty() {
            &t.dest_name
        } else {
            &t.dest_server
        },
        t.dest_namespace
    );
    let dest = match clusters::resolve(&t.dest_server, &t.dest_name, clusters) {
        Ok(d) => Some(d),
        Err(why) => {
            v.refusals
                .push(format!("{why} (the controller refuses to sync)"));
            None
        }
    };
    if let Some(d) = &dest {
        let rule = format!(
            "project `{p}` does not permit {dest_label} (destinations: {})",
            listed_dests(&destinations)
        );
        let permit_only = spec
            .get("permitOnlyProjectScopedClusters")
            .and_then(Value::as_bool)
            .unwrap_or(false);
        if !destination_matched(&destinations, &d.server, &d.name, &t.dest_namespace) {
            match unread {
                None => v.refusals.push(rule),
                Some(why) => undecided(&mut v, rule, why),
            }
        } else if permit_only {
            let only = format!(
                "project `{p}` permits only its project-scoped clusters (permitOnlyProjectScopedClusters)"
            );
            match clusters {
                // Argo CD: a project cluster with the destination's name or server
                Clusters::Read(list) => {
                    if !clusters::of_project(list, p)
                        .any(|c| c.name == d.name || c.server == d.server)
                    {
                        v.refusals.push(format!(
                            "{only} and the cluster {} ({}) is not one",
                            d.name, d.server
                        ));
                    }
                }
                Clusters::Unread(why) => {
                    let rule = format!("{only}: whether {dest_label} is one is not known");
                    undecided(&mut v, rule, why);
                }
            }
        }
    }
    for (group, kind, ns, obj_name) in &t.resources {
        let gk = if group.is_empty() {
            kind.clone()
        } else {
            format!("{group}/{kind}")
        };
        if !kind_permitted(spec, group, kind, obj_name, !ns.is_empty()) {
            let scope = if ns.is_empty() {
                "cluster-scoped"
            } else {
                "namespaced"
            };
            v.refusals.push(format!(
                "project `{p}` does not permit {scope} resource {gk} (`{obj_name}`)"
            ));
        } else if let Some(d) = &dest
            && d.known
            && !ns.is_empty()
            && !destination_matched(&destinations, &d.server, &d.name, ns)
        {
            let rule =
                format!("project `{p}` does not permit namespace `{ns}` of {gk} `{obj_name}`");
            match unread {
                None => v.refusals.push(rule),
                Some(why) => undecided(&mut v, rule, why),
            }
        }
    }
    v
}

fn listed(patterns: &[&str]) -> String {
    if patterns.is_empty() {
        "none".into()
    } else {
        patterns.join(", ")
    }
}

fn listed_dests(d: &[Dest]) -> String {
    if d.is_empty() {
        return "none".into();
    }
    d.iter()
        .map(|d| {
            let c = if d.server.is_empty() {
                d.name
            } else {
                d.server
            };
            format!("{c} namespace `{}`", d.namespace)
        })
        .collect::<Vec<_>>()
        .join(", ")
}

struct Dest<'a> {
    server: &'a str,
    name: &'a str,
    namespace: &'a str,
}

/// Argo CD's `globMatch`: a `!pattern` matches what the pattern does not.
fn glob_match(pattern: &str, value: &str, separator: Option<char>) -> bool {
    if let Some(p) = pattern.strip_prefix('!') {
        return !glob(p, value, separator, true);
    }
    pattern == "*" || glob(pattern, value, separator, true)
}

fn deny(pattern: &str) -> bool {
    pattern.starts_with('!')
}

/// `IsSourcePermitted`.
fn source_permitted(patterns: &[&str], repo: &str) -> bool {
    let src = normalize_git_url(repo);
    let mut any = false;
    for pat in patterns {
        let normalized = match pat.strip_prefix('!') {
            Some(p) => format!("!{}", normalize_git_url(p)),
            None => normalize_git_url(pat),
        };
        if glob_match(&normalized, &src, Some('/')) {
            any = true;
        } else if deny(&normalized) {
            return false;
        }
    }
    any
}

/// `isDestinationMatched`.
fn destination_matched(dests: &[Dest], server: &str, name: &str, namespace: &str) -> bool {
    let mut any = false;
    for d in dests {
        let name_ok = !name.is_empty() && glob_match(d.name, name, None);
        let server_ok = !server.is_empty() && glob_match(d.server, server, None);
        let ns_ok = glob_match(d.namespace, namespace, None);
        // a `!` pattern that excludes this destination refuses it outright (Argo CD's three cases)
        let excluded = (!name_ok && deny(d.name))
            || (!server_ok && deny(d.server) && ns_ok)
            || (!ns_ok && deny(d.namespace) && server_ok);
        if (server_ok || name_ok) && ns_ok {
            any = true;
        } else if excluded {
            return false;
        }
    }
    any
}

/// `IsGroupKindNamePermitted` (patterns as Go's `filepath.Match`).
fn kind_permitted(spec: &Value, group: &str, kind: &str, name: &str, namespaced: bool) -> bool {
    let list = |key: &str| spec.get(key).and_then(Value::as_array);
    let in_list = |items: &[Value], with_name: bool| {
        items.iter().any(|i| {
            let ok = |k: &str, v: &str| glob(s(i, k), v, Some('/'), false);
            ok("/kind", kind)
                && ok("/group", group)
                && (!with_name || s(i, "/name").is_empty() || ok("/name", name))
        })
    };
    if namespaced {
        let white =
            list("namespaceResourceWhitelist").is_none_or(|w| !w.is_empty() && in_list(w, false));
        let black = list("namespaceResourceBlacklist").is_some_and(|b| in_list(b, false));
        return white && !black;
    }
    let white = list("clusterResourceWhitelist").is_some_and(|w| in_list(w, true));
    let black = list("clusterResourceBlacklist").is_some_and(|b| in_list(b, true));
    white && !black
}

/// Argo CD's `git.NormalizeGitURL`, for comparison only.
pub fn normalize_git_url(repo: &str) -> String {
    let mut r = repo.trim().to_lowercase();
    let scp_like = !r.starts_with("ssh://")
        && r.split_once('@')
            .is_some_and(|(user, rest)| !user.contains(['/', ':']) && !rest.contains('@'))
        && !r.contains("://");
    if scp_like {
        r = r.replacen(':', "/", 1);
    }
    if let Some(t) = r.strip_suffix(".git") {
        r = t.to_owned();
    }
    r.strip_prefix("ssh://").map(str::to_owned).unwrap_or(r)
}

/// A glob as gobwas/glob (Argo CD's) reads it: `*` any run of characters except `separator`, `**` any run,
/// `?` one character except `separator`, `[abc]` / `[a-z]` / `[!abc]` (also `[^abc]`), `{a,b}` (when
/// `braces`), `\` escapes. Over the whole value.
pub fn glob(pattern: &str, value: &str, separator: Option<char>, braces: bool) -> bool {
    let v: Vec<char> = value.chars().collect();
    expand(pattern, braces)
        .iter()
        .any(|p| matches(&p.chars().collect::<Vec<_>>(), &v, separator))
}

/// `{a,b}` alternatives expanded (nested ones too), at most 256 patterns.
fn expand(pattern: &str, braces: bool) -> Vec<String> {
    if !braces {
        return vec![pattern.to_owned()];
    }
    let chars: Vec<char> = pattern.chars().collect();
    let (mut depth, mut open, mut escaped) = (0usize, None, false);
    let mut commas = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            ',' if depth == 1 => commas.push(i),
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0
                    && let Some(o) = open
                {
                    let head: String = chars[..o].iter().collect();
                    let tail: String = chars[i + 1..].iter().collect();
                    let mut bounds = vec![o];
                    bounds.extend(&commas);
                    bounds.push(i);
                    let mut out = Vec::new();
                    for w in bounds.windows(2) {
                        let alt: String = chars[w[0] + 1..w[1]].iter().collect();
                        for rest in expand(&format!("{alt}{tail}"), true) {
                            if out.len() < 256 {
                                out.push(format!("{head}{rest}"));
                            }
                        }
                    }
                    return out;
                }
            }
            _ => {}
        }
    }
    vec![pattern.to_owned()]
}

fn matches(p: &[char], v: &[char], sep: Option<char>) -> bool {
    let not_sep = |c: char| Some(c) != sep;
    match p {
        [] => v.is_empty(),
        ['*', '*', rest @ ..] => (0..=v.len()).any(|i| matches(rest, &v[i..], sep)),
        ['*', rest @ ..] => {
            let run = v.iter().take_while(|&&c| not_sep(c)).count();
            (0..=run).any(|i| matches(rest, &v[i..], sep))
        }
        ['?', rest @ ..] => v.first().is_some_and(|&c| not_sep(c)) && matches(rest, &v[1..], sep),
        ['[', rest @ ..] => {
            let Some(end) = rest.iter().skip(1).position(|&c| c == ']').map(|e| e + 1) else {
                return v.first() == Some(&'[') && matches(rest, &v[1..], sep);
            };
            let (neg, set) = match rest[..end].split_first() {
                Some(('!' | '^', s)) => (true, s),
                _ => (false, &rest[..end]),
            };
            let Some(&c) = v.first() else {
                return false;
            };
            let mut hit = false;
            let mut i = 0;
            while i < set.len() {
                if i + 2 < set.len() && set[i + 1] == '-' {
                    hit |= set[i] <= c && c <= set[i + 2];
                    i += 3;
                } else {
                    hit |= set[i] == c;
                    i += 1;
                }
            }
            hit != neg && matches(&rest[end + 1..], &v[1..], sep)
        }
        ['\\', c, rest @ ..] => v.first() == Some(c) && matches(rest, &v[1..], sep),
        [c, rest @ ..] => v.first() == Some(c) && matches(rest, &v[1..], sep),
    }
}

#[cfg(test)]
#[path = "project_tests.rs"]
mod tests;
