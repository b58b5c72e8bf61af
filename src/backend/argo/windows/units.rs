//! The windows of a whole snapshot: what is kept of each Application and each AppProject to judge them (the
//! watch keeps these beside its mapped units, the headless `status` makes them from its lists).

use std::collections::HashMap;
use std::sync::Arc;

use jiff::Timestamp;
use kube::api::DynamicObject;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Target, state, verdict};
use crate::model::{Snapshot, SyncWindow};

/// What the windows need of an Application: where it is, its project and its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRef {
    pub namespace: String,
    pub name: String,
    /// `spec.project` (`default` when empty).
    pub project: String,
    pub dest_name: String,
    pub dest_server: String,
    pub dest_namespace: String,
}

impl AppRef {
    pub fn of(app: &DynamicObject) -> Self {
        let s = |p: &str| {
            app.data
                .pointer(p)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        let project = s("/spec/project");
        Self {
            namespace: app.metadata.namespace.clone().unwrap_or_default(),
            name: app.metadata.name.clone().unwrap_or_default(),
            project: if project.is_empty() {
                "default".into()
            } else {
                project
            },
            dest_name: s("/spec/destination/name"),
            dest_server: s("/spec/destination/server"),
            dest_namespace: s("/spec/destination/namespace"),
        }
    }

    fn target(&self) -> Target<'_> {
        Target {
            name: &self.name,
            dest_name: &self.dest_name,
            dest_server: &self.dest_server,
            dest_namespace: &self.dest_namespace,
        }
    }
}

/// An AppProject's `spec.syncWindows` (empty when it has none), by namespace and name.
#[derive(Debug, Clone, PartialEq)]
pub struct ProjectWindows {
    pub namespace: String,
    pub name: String,
    pub windows: Vec<Value>,
}

impl ProjectWindows {
    pub fn of(project: &DynamicObject) -> Self {
        Self {
            namespace: project.metadata.namespace.clone().unwrap_or_default(),
            name: project.metadata.name.clone().unwrap_or_default(),
            windows: project
                .data
                .pointer("/spec/syncWindows")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        }
    }
}

/// Sets the `sync_window` of each unit of `apps` (its id made from `context` and the Application's namespace
/// and name) from the windows of its project among `projects` (`Err`: why the projects cannot be read, said
/// on every unit); every other unit of `snap` has none. A unit whose value does not change is not copied.
pub fn judge_units<'a, P: std::borrow::Borrow<ProjectWindows>>(
    snap: &mut Snapshot,
    context: &str,
    apps: impl Iterator<Item = &'a AppRef>,
    projects: Result<&[P], &str>,
    now: Timestamp,
) {
    let by_name: HashMap<(&str, &str), &ProjectWindows> = match projects {
        Ok(list) => list
            .iter()
            .map(|p| {
                let p: &ProjectWindows = p.borrow();
                ((p.namespace.as_str(), p.name.as_str()), p)
            })
            .collect(),
        Err(_) => HashMap::new(),
    };
    // only the units with a window are looked up by id (5,000 Applications without one cost no id)
    let mut found = HashMap::new();
    for app in apps {
        let window = match projects {
            Ok(_) => by_name
                .get(&(app.namespace.as_str(), app.project.as_str()))
                .filter(|p| !p.windows.is_empty())
                .and_then(|p| state(verdict(&p.windows, &app.target(), now).as_ref())),
            Err(why) => Some(SyncWindow {
                sync_allowed: None,
                auto_sync_allowed: None,
                message: format!("the projects could not be read: {why}"),
            }),
        };
        if let Some(w) = window {
            found.insert(
                super::super::map::unit_id(context, &app.namespace, &app.name),
                w,
            );
        }
    }
    for u in &mut snap.units {
        let w = found.remove(&u.id);
        if u.sync_window != w {
            Arc::make_mut(u).sync_window = w;
        }
    }
}
