//! The first way to diff an Application: Argo CD's own comparison, read from its API server with the token
//! of the argocd CLI's config file (`$ARGOCD_CONFIG_DIR/config`, else `~/.config/argocd/config`; `ARGOCD_SERVER`
//! picks a server of it as the CLI does, else its current context). The server is used only when it serves
//! the very Application setpoint reads through kube (same uid).
//!
//! `GET /api/v1/applications/{name}/managed-resources?appNamespace=` gives, per object, the target state,
//! the live state normalized the way Argo CD compares it (ignoreDifferences and known defaults applied), the
//! predicted live state and whether it is modified. Argo CD's verdict (`modified`) is the change; the
//! predicted live state (else the target state) is shown as desired.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::backend::flux::diff::dryrun::text_diff;
use crate::backend::flux::diff::live;
use crate::model::{Change, DiffReport, ObjectDiff};

const TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// An Argo CD API server and the token the argocd CLI keeps for it.
#[derive(Debug, Clone)]
pub struct ApiServer {
    /// `http(s)://host:port[/root]`, as requests are sent.
    pub url: String,
    token: String,
    insecure: bool,
}

/// The config file of the argocd CLI.
pub fn config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("ARGOCD_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d).join("config"));
    }
    let home = PathBuf::from(std::env::var_os("HOME")?);
    let legacy = home.join(".argocd").join("config");
    if legacy.is_file() {
        return Some(legacy);
    }
    Some(home.join(".config").join("argocd").join("config"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn named<'a>(v: &'a Value, list: &str, key: &str, name: &str) -> Option<&'a Value> {
    v.get(list)?
        .as_array()?
        .iter()
        .find(|e| text(e, key) == name)
}

/// The server the argocd CLI's config names (its current context, or `wanted`), with its token; `Ok(None)`
/// when there is no config file; an error saying what is missing otherwise.
pub fn from_config_text(config: &str, wanted: Option<&str>) -> Result<ApiServer, String> {
    let c: Value = serde_saphyr::from_str(config).map_err(|e| format!("not YAML: {e}"))?;
    let (server, user) = match wanted {
        Some(s) => {
            let ctx = c
                .get("contexts")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|x| text(x, "server") == s));
            (
                s.to_owned(),
                ctx.map(|x| text(x, "user")).unwrap_or(s).to_owned(),
            )
        }
        None => {
            let current = text(&c, "current-context");
            if current.is_empty() {
                return Err("no current-context".into());
            }
            let ctx = named(&c, "contexts", "name", current)
                .ok_or_else(|| format!("no context {current}"))?;
            (text(ctx, "server").to_owned(), text(ctx, "user").to_owned())
        }
    };
    let srv = named(&c, "servers", "server", &server)
        .ok_or_else(|| format!("no server entry {server}"))?;
    let token = named(&c, "users", "name", &user)
        .map(|u| text(u, "auth-token"))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| format!("no auth-token for {server} (argocd login {server})"))?;
    let flag = |k: &str| srv.get(k).and_then(Value::as_bool) == Some(true);
    let scheme = if flag("plain-text") { "http" } else { "https" };
    let root = text(srv, "grpc-web-root-path").trim_matches('/');
    let url = if root.is_empty() {
        format!("{scheme}://{server}")
    } else {
        format!("{scheme}://{server}/{root}")
    };
    Ok(ApiServer {
        url,
        token: token.to_owned(),
        insecure: flag("insecure"),
    })
}

/// The configured server, `Ok(None)` when the argocd CLI has no config file here.
pub fn configured() -> Result<Option<ApiServer>, String> {
    let Some(path) = config_path() else {
        return Ok(None);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let wanted = std::env::var("ARGOCD_SERVER")
        .ok()
        .filter(|s| !s.is_empty());
    from_config_text(&text, wanted.as_deref())
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

impl ApiServer {
    /// GET `path` (blocking), the JSON answer.
    fn get(&self, path: &str) -> Result<Value, String> {
        let client = reqwest::blocking::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(CONNECT_TIMEOUT)
            .danger_accept_invalid_certs(self.insecure)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        let url = format!("{}{path}", self.url);
        let resp = client
            .get(&url)
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| format!("{url}: {e}"))?;
        let status = resp.status();
        let body = resp.text().map_err(|e| format!("{url}: {e}"))?;
        if !status.is_success() {
            let msg: String = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or(body)
                .chars()
                .take(300)
                .collect();
            let hint = if status.as_u16() == 401 {
                " (token expired or revoked? argocd login)"
            } else {
                ""
            };
            return Err(format!("{url} answered {status}: {msg}{hint}"));
        }
        serde_json::from_str(&body).map_err(|e| format!("{url}: not JSON: {e}"))
    }

    /// The managed resources of the Application `ns/name` whose uid is `uid` (blocking); an error when the
    /// server cannot be used for it (then the caller renders locally, and says why).
    pub fn managed_resources(&self, ns: &str, name: &str, uid: &str) -> Result<Value, String> {
        let app = self.get(&format!("/api/v1/applications/{name}?appNamespace={ns}"))?;
        let theirs = app
            .pointer("/metadata/uid")
            .and_then(Value::as_str)
            .unwrap_or("");
        if theirs != uid {
            return Err(format!(
                "{} serves another Application {ns}/{name} (uid {theirs}, the cluster's is {uid})",
                self.url
            ));
        }
        self.get(&format!(
            "/api/v1/applications/{name}/managed-resources?appNamespace={ns}"
        ))
    }
}

/// A state field of a managed resource: a JSON document in a string, `"null"` or empty when absent.
fn state(item: &Value, key: &str) -> Option<Value> {
    let s = item.get(key)?.as_str()?;
    let v: Value = serde_json::from_str(s).ok()?;
    (!v.is_null()).then_some(v)
}

/// The report from the managed resources (`{"items": [...]}`).
pub fn report(server: &ApiServer, managed: &Value) -> DiffReport {
    let mut report = DiffReport {
        desired_from: Some(format!(
            "Argo CD API server {} (managed-resources: target against normalized live, Argo CD's \
             ignoreDifferences applied)",
            server.url
        )),
        ..DiffReport::default()
    };
    let items = managed
        .get("items")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for item in &items {
        if let Some(d) = object(item, &mut report) {
            report.objects.push(d);
        }
    }
    report
        .objects
        .sort_by(|a, b| (!a.is_different(), &a.object).cmp(&(!b.is_different(), &b.object)));
    report
}

fn object(item: &Value, report: &mut DiffReport) -> Option<ObjectDiff> {
    let target = state(item, "targetState");
    let live_state = state(item, "normalizedLiveState");
    let predicted = state(item, "predictedLiveState");
    let label = match target.as_ref().or(live_state.as_ref()) {
        Some(o) => live::object_name(o),
        None => {
            let ns = text(item, "namespace");
            let sep = if ns.is_empty() { "" } else { "/" };
            format!("{}/{ns}{sep}{}", text(item, "kind"), text(item, "name"))
        }
    };
    if item.get("hook").and_then(Value::as_bool) == Some(true) {
        report.notes.push(format!(
            "skipped {label}: a hook (run by a sync, not compared)"
        ));
        return None;
    }
    let modified = item.get("modified").and_then(Value::as_bool) == Some(true);
    let change = match (&target, &live_state) {
        (Some(_), None) => Change::Added,
        (None, Some(_)) => Change::Removed,
        (None, None) => return None,
        _ if modified => Change::Modified,
        _ => Change::Unchanged,
    };
    let mut desired = predicted.or(target).map(|v| live::normalise(&v));
    let mut live_side = live_state.map(|v| live::normalise(&v));
    let secret = live::mask_secrets(live_side.as_mut(), desired.as_mut());
    Some(text_diff(label, change, desired, live_side, secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "contexts:\n- name: local\n  server: 127.0.0.1:8080\n  user: local\n\
current-context: local\nservers:\n- grpc-web-root-path: \"\"\n  insecure: true\n  plain-text: true\n  server: 127.0.0.1:8080\n\
users:\n- auth-token: abc\n  name: local\n";

    #[test]
    fn the_current_context_of_the_cli_config() {
        let s = from_config_text(CONFIG, None).unwrap();
        assert_eq!(s.url, "http://127.0.0.1:8080");
        assert_eq!(s.token, "abc");
        assert!(s.insecure);
        assert!(from_config_text(CONFIG, Some("other:443")).is_err());
        let no_token = CONFIG.replace("auth-token: abc", "auth-token: \"\"");
        assert!(
            from_config_text(&no_token, None)
                .unwrap_err()
                .contains("argocd login")
        );
    }

    #[test]
    fn managed_resources_as_object_diffs() {
        let cm = |v: &str| {
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "a", "namespace": "n"}, "data": {"k": v}})
            .to_string()
        };
        let managed = serde_json::json!({"items": [
            {"kind": "ConfigMap", "namespace": "n", "name": "a", "targetState": cm("1"),
             "normalizedLiveState": cm("2"), "predictedLiveState": cm("1"), "modified": true},
            {"kind": "ConfigMap", "namespace": "n", "name": "b", "targetState": cm("1").replace("\"a\"", "\"b\""),
             "normalizedLiveState": "null", "modified": true},
            {"kind": "ConfigMap", "namespace": "n", "name": "c", "targetState": "null",
             "normalizedLiveState": cm("1").replace("\"a\"", "\"c\""), "modified": true},
            {"kind": "ConfigMap", "namespace": "n", "name": "d", "targetState": cm("1").replace("\"a\"", "\"d\""),
             "normalizedLiveState": cm("1").replace("\"a\"", "\"d\""), "modified": false},
        ]});
        let server = ApiServer {
            url: "http://x".into(),
            token: String::new(),
            insecure: false,
        };
        let r = report(&server, &managed);
        let got: Vec<(String, Change)> = r
            .objects
            .iter()
            .map(|o| (o.object.clone(), o.change))
            .collect();
        assert_eq!(
            got,
            vec![
                ("ConfigMap/n/a".into(), Change::Modified),
                ("ConfigMap/n/b".into(), Change::Added),
                ("ConfigMap/n/c".into(), Change::Removed),
                ("ConfigMap/n/d".into(), Change::Unchanged),
            ]
        );
        assert!(
            r.desired_from
                .unwrap()
                .starts_with("Argo CD API server http://x")
        );
    }
}
