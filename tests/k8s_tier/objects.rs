//! Reading the tier's objects in tests: an Argo CD Application in one line (for the message of a wait that
//! timed out), the revision the test repositories' ConfigMaps carry, and an object deleted for good.

use std::fmt::Debug;
use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, DynamicObject};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::watching::str_at;
use super::{BoxError, Check, wait_for};

/// What an Application says of its sync, health, last operation (and who started it), auto-sync, conditions and
/// resources.
pub fn describe_application(app: &DynamicObject) -> String {
    let json = |pointer: &str| {
        app.data
            .pointer(pointer)
            .map(Value::to_string)
            .unwrap_or_default()
    };
    format!(
        "sync={} rev={} health={} op={} ({}) by={} result={} started={} finished={} automated={} \
         conditions={} resources={}",
        str_at(app, "/status/sync/status"),
        str_at(app, "/status/sync/revision"),
        str_at(app, "/status/health/status"),
        str_at(app, "/status/operationState/phase"),
        str_at(app, "/status/operationState/message"),
        json("/status/operationState/operation/initiatedBy"),
        str_at(app, "/status/operationState/syncResult/revision"),
        str_at(app, "/status/operationState/startedAt"),
        str_at(app, "/status/operationState/finishedAt"),
        json("/spec/syncPolicy/automated"),
        json("/status/conditions"),
        json("/status/resources"),
    )
}

/// The `revision` a ConfigMap of the test repositories carries (`None`: no such ConfigMap, or no revision).
pub async fn config_map_revision(
    api: &Api<ConfigMap>,
    name: &str,
) -> Result<Option<String>, BoxError> {
    Ok(api
        .get_opt(name)
        .await?
        .and_then(|cm| cm.data.and_then(|d| d.get("revision").cloned())))
}

/// Deletes `name` and waits until it is gone, its finalizers done (at most 60 s).
pub async fn deleted<K>(api: &Api<K>, name: &str) -> Result<(), BoxError>
where
    K: Clone + DeserializeOwned + Debug,
{
    api.delete(name, &DeleteParams::default()).await?;
    let what = format!("{name} deleted");
    wait_for(
        &what,
        Duration::from_secs(60),
        Duration::from_millis(250),
        || async {
            Ok(match api.get_opt(name).await? {
                None => Check::Done(()),
                Some(_) => Check::Pending(format!("{name} still there")),
            })
        },
    )
    .await
}
