//! The part of a diff both kube backends share: the served resource of an object's kind (cached per diff),
//! the live object, and the server-side apply dry run of the desired object as a controller's field manager
//! compared with live (`live.rs` judges the drift, strips server noise and masks Secrets).

use std::collections::HashMap;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::Scope;
use serde_json::Value;

use super::live;
use super::str_at;
use crate::model::{Change, DiffReport, ObjectDiff};

/// The served resource of each (apiVersion, kind) and whether it is namespaced, looked up once per diff.
#[derive(Default)]
pub(crate) struct KindCache(HashMap<(String, String), Result<(ApiResource, bool), String>>);

impl KindCache {
    pub(crate) async fn get(
        &mut self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), String> {
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(v) = self.0.get(&key) {
            return v.clone();
        }
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let v = kube::discovery::pinned_kind(client, &gvk)
            .await
            .map(|(ar, caps)| (ar, caps.scope == Scope::Namespaced))
            .map_err(|e| format!("{api_version} {kind} is not served: {e}"));
        self.0.insert(key, v.clone());
        v
    }
}

pub(crate) fn api_for(
    client: &kube::Client,
    ar: &ApiResource,
    namespaced: bool,
    ns: &str,
) -> Api<DynamicObject> {
    if namespaced {
        Api::namespaced_with(client.clone(), ns, ar)
    } else {
        Api::all_with(client.clone(), ar)
    }
}

/// A desired object with its API and its live state (`None`: it does not exist).
pub(crate) struct Target {
    pub api: Api<DynamicObject>,
    pub name: String,
    pub label: String,
    pub current: Option<Value>,
}

/// Finds the served kind of `obj` (setting `default_ns` on a namespaced object without a namespace) and reads
/// the live object; `None` when it cannot, said in the report.
pub(crate) async fn target(
    client: &kube::Client,
    kinds: &mut KindCache,
    obj: &mut Value,
    default_ns: &str,
    report: &mut DiffReport,
) -> Option<Target> {
    let api_version = str_at(obj, &["apiVersion"]).to_owned();
    let kind = str_at(obj, &["kind"]).to_owned();
    let (ar, namespaced) = match kinds.get(client, &api_version, &kind).await {
        Ok(v) => v,
        Err(e) => {
            report
                .uncovered
                .push(format!("{}: {e}", live::object_name(obj)));
            return None;
        }
    };
    if namespaced && str_at(obj, &["metadata", "namespace"]).is_empty() {
        obj["metadata"]["namespace"] = Value::String(default_ns.to_owned());
    }
    let name = str_at(obj, &["metadata", "name"]).to_owned();
    let ns = str_at(obj, &["metadata", "namespace"]).to_owned();
    let label = live::object_name(obj);
    let api = api_for(client, &ar, namespaced, &ns);
    match api.get_opt(&name).await {
        Ok(o) => Some(Target {
            api,
            name,
            label,
            current: o.and_then(|o| serde_json::to_value(o).ok()),
        }),
        Err(e) => {
            report
                .uncovered
                .push(format!("{label}: live object cannot be read: {e}"));
            None
        }
    }
}

/// `obj` dry-run applied server-side by `manager` (forcing conflicts, as the controllers do) and compared
/// with the live object; `None` when the dry run fails (said in the report).
pub(crate) async fn compare(
    t: Target,
    obj: &Value,
    manager: &str,
    report: &mut DiffReport,
) -> Option<ObjectDiff> {
    compare_stripped(t, obj, manager, None, report).await
}

/// What a controller leaves out of the comparison of an existing object: it changes the dry-run result and
/// the live object alike (`Err`: it could not, said in the report, and both are compared whole).
pub(crate) type Strip<'a> = &'a (dyn Fn(&mut Value, &mut Value) -> Result<(), String> + Sync);

/// `compare`, with `strip` applied to both sides of an existing object before they are compared and shown.
pub(crate) async fn compare_stripped(
    t: Target,
    obj: &Value,
    manager: &str,
    strip: Option<Strip<'_>>,
    report: &mut DiffReport,
) -> Option<ObjectDiff> {
    let params = PatchParams::apply(manager).force().dry_run();
    let dry = match t.api.patch(&t.name, &params, &Patch::Apply(obj)).await {
        Ok(o) => serde_json::to_value(o).unwrap_or(Value::Null),
        Err(e) => {
            report.uncovered.push(format!(
                "{}: the server-side apply dry run failed: {e}",
                t.label
            ));
            return None;
        }
    };
    let (change, mut desired, mut live_side) = match &t.current {
        None => (Change::Added, Some(live::normalise(&dry)), None),
        Some(cur) => {
            let mut dry = dry;
            // the live object is copied only when something is stripped from it
            let stripped = strip.map(|strip| {
                let mut cur = cur.clone();
                if let Err(e) = strip(&mut dry, &mut cur) {
                    report.uncovered.push(format!("{}: {e}", t.label));
                }
                cur
            });
            let cur = stripped.as_ref().unwrap_or(cur);
            let change = if live::drifted(cur, &dry) {
                Change::Modified
            } else {
                Change::Unchanged
            };
            (
                change,
                Some(live::normalise(&dry)),
                Some(live::normalise(cur)),
            )
        }
    };
    let secret = live::mask_secrets(live_side.as_mut(), desired.as_mut());
    Some(text_diff(t.label, change, desired, live_side, secret))
}

/// An object the controller manages that is no longer desired, by group, version, kind, namespace and name:
/// its label and live state, `None` when it is gone or cannot be read (said in the report, with `why` naming
/// the case: "to be pruned", "no longer rendered").
pub(crate) async fn no_longer_desired(
    client: &kube::Client,
    kinds: &mut KindCache,
    gvk: (&str, &str, &str),
    ns: &str,
    name: &str,
    why: &str,
    report: &mut DiffReport,
) -> Option<(String, Value)> {
    let (group, version, kind) = gvk;
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let label = if ns.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{ns}/{name}")
    };
    let (ar, namespaced) = match kinds.get(client, &api_version, kind).await {
        Ok(v) => v,
        Err(err) => {
            report.uncovered.push(format!("{label} ({why}): {err}"));
            return None;
        }
    };
    match api_for(client, &ar, namespaced, ns).get_opt(name).await {
        Ok(Some(o)) => Some((label, serde_json::to_value(o).unwrap_or(Value::Null))),
        Ok(None) => None,
        Err(err) => {
            report
                .uncovered
                .push(format!("{label} ({why}): cannot be read: {err}"));
            None
        }
    }
}

/// The diff of a live object no longer desired (to be pruned, or no longer rendered): its live side,
/// normalised and with Secret values masked, against nothing.
pub(crate) fn removed(object: String, current: &Value) -> ObjectDiff {
    let mut live_side = Some(live::normalise(current));
    let secret = live::mask_secrets(live_side.as_mut(), None);
    text_diff(object, Change::Removed, None, live_side, secret)
}

/// The object diff as shown: both sides as YAML, Secret values masked.
pub(crate) fn text_diff(
    object: String,
    change: Change,
    desired: Option<Value>,
    live_side: Option<Value>,
    secret: bool,
) -> ObjectDiff {
    let mut masked = secret;
    let mut text = |v: Option<Value>| {
        v.map(|v| {
            let (t, m) = crate::diff::mask::mask_secrets(&live::to_yaml(&v));
            masked |= m;
            t
        })
    };
    let desired = text(desired);
    let live = text(live_side);
    ObjectDiff {
        object,
        change,
        desired,
        live,
        masked,
        note: None,
    }
}
