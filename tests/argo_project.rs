//! AppProject destinations resolved through Argo CD's cluster Secrets, on the tier's real Argo CD 3.3.0, the
//! application-controller's own verdict being the check of setpoint's: a destination name no cluster has
//! (both refuse), `permitOnlyProjectScopedClusters` with the in-cluster destination (both refuse), and a
//! project-scoped cluster Secret that names a server, reached by name under `permitOnlyProjectScopedClusters`
//! and by server against an entry that names it (both permit: the controller reports no InvalidSpecError).
//! An identity that may not read Secrets: what they would decide is said in the Project condition, not
//! refused. Every wait is bounded.

mod k8s_tier;

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DynamicObject, ListParams, PostParams};
use kube::config::Kubeconfig;
use serde_json::{Value, json};
use setpoint::backend::Backend;
use setpoint::backend::argo::ArgoBackend;
use setpoint::model::Condition;

use k8s_tier::objects::describe_application;
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, app_project, application,
    config_map, err, wait_for,
};

const NS: &str = "argo-project";
/// A cluster no one serves (connections refused at once): the controller gets past the project to it.
const FAR: &str = "https://127.0.0.1:1";
const LONG: Duration = Duration::from_secs(180);
const POLL: Duration = Duration::from_millis(500);

#[test]
fn project_destinations_through_the_cluster_secrets_on_the_real_tier() {
    k8s_tier::run_on_tier_with_argo("Argo CD project destinations", |tier| Box::pin(steps(tier)));
}

fn unit(context: &str, name: &str) -> String {
    format!("argo/{context}/{ARGOCD_NAMESPACE}/Application/{name}")
}

fn app(name: &str, project: &str, url: &str, dest: Value) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": {"project": project,
            "source": {"repoURL": url, "targetRevision": "main", "path": "web"},
            "destination": dest}
    }))?)
}

fn project(name: &str, spec: Value) -> Result<DynamicObject, BoxError> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
        "metadata": {"name": name, "namespace": ARGOCD_NAMESPACE},
        "spec": spec
    }))?)
}

/// The `Project` condition of the unit's detail.
async fn project_condition(argo: &ArgoBackend, id: &str) -> Result<Condition, BoxError> {
    argo.detail(id)
        .await?
        .conditions
        .into_iter()
        .find(|c| c.kind == "Project")
        .ok_or_else(|| err(format!("no Project condition in the detail of {id}")))
}

/// The controller's conditions once it has judged the Application (some condition, or a comparison).
async fn controller_conditions(
    apps: &Api<DynamicObject>,
    name: &str,
) -> Result<Vec<Value>, BoxError> {
    wait_for(
        &format!("{name}: judged by the controller"),
        LONG,
        POLL,
        || async {
            let a = apps.get(name).await?;
            let conditions = a
                .data
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            Ok(if conditions.is_empty() {
                Check::Pending(describe_application(&a))
            } else {
                Check::Done(conditions)
            })
        },
    )
    .await
}

fn invalid_spec(conditions: &[Value]) -> Option<&str> {
    conditions
        .iter()
        .find(|c| c["type"] == "InvalidSpecError")
        .and_then(|c| c["message"].as_str())
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-project")?;
    repo.commit(
        "first",
        &[("web/web.yaml", Some(&config_map(NS, "web", "1")))],
    )?;
    let post = PostParams::default();
    let projects: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &app_project());
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    let secrets: Api<Secret> = Api::namespaced(admin.clone(), ARGOCD_NAMESPACE);
    // a cluster Secret scoped to the project `scoped`, named `far`
    secrets
        .create(
            &post,
            &serde_json::from_value(json!({
                "metadata": {"name": "cluster-far", "namespace": ARGOCD_NAMESPACE,
                    "labels": {"argocd.argoproj.io/secret-type": "cluster"}},
                "stringData": {"name": "far", "server": FAR, "project": "scoped",
                    "config": "{\"tlsClientConfig\": {\"insecure\": true}}"}
            }))?,
        )
        .await?;
    projects
        .create(
            &post,
            &project(
                "scoped",
                json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
                "permitOnlyProjectScopedClusters": true}),
            )?,
        )
        .await?;
    projects
        .create(
            &post,
            &project(
                "named",
                json!({"sourceRepos": ["*"], "destinations": [{"name": "far", "namespace": NS}]}),
            )?,
        )
        .await?;
    let cases = [
        // (application, project, destination, refused by)
        (
            "nowhere",
            "named",
            json!({"name": "nowhere", "namespace": NS}),
            Some("there are no clusters with this name: nowhere"),
        ),
        (
            "home",
            "scoped",
            json!({"server": ARGOCD_IN_CLUSTER, "namespace": NS}),
            Some("permitOnlyProjectScopedClusters"),
        ),
        (
            "far-by-name",
            "scoped",
            json!({"name": "far", "namespace": NS}),
            None,
        ),
        (
            "far-by-server",
            "named",
            json!({"server": FAR, "namespace": NS}),
            None,
        ),
    ];
    for (name, proj, dest, _) in &cases {
        apps.create(&post, &app(name, proj, &repo.url, dest.clone())?)
            .await?;
    }
    let argo =
        ArgoBackend::with_kubeconfig(Kubeconfig::read_from(tier.kubeconfig())?, Some("admin"))?;
    for (name, _, _, refused) in &cases {
        let said = project_condition(&argo, &unit("admin", name)).await?;
        let controller = controller_conditions(&apps, name).await?;
        let theirs = invalid_spec(&controller);
        match refused {
            Some(why) => {
                if said.status != "Denied" || !said.message.contains(why) {
                    return Err(err(format!(
                        "{name}: setpoint's Project condition: {said:?}"
                    )));
                }
                // the controller refuses too
                if theirs.is_none() {
                    return Err(err(format!(
                        "{name}: the controller does not refuse: {controller:?}"
                    )));
                }
            }
            None => {
                if said.status != "Permitted" {
                    return Err(err(format!(
                        "{name}: setpoint's Project condition: {said:?}"
                    )));
                }
                if let Some(m) = theirs {
                    return Err(err(format!(
                        "{name}: setpoint permits, the controller refuses: {m}"
                    )));
                }
            }
        }
    }
    unread(tier, &admin).await
}

/// An identity that may read Applications and AppProjects but not Secrets: the destination that needs them
/// is said in the Project condition, not refused.
async fn unread(tier: &Tier, admin: &kube::Client) -> Result<(), BoxError> {
    Tier::grant(
        admin,
        "proj-limited",
        "proj-limited",
        json!([{"apiGroups": ["argoproj.io"], "resources": ["applications", "appprojects"],
                           "verbs": ["get", "list", "watch"]}]),
    )
    .await?;
    let kc = tier.impersonating("limited", "proj-limited")?;
    // until the binding is in the authorizer
    let config = kube::Config::from_custom_kubeconfig(
        kc.clone(),
        &kube::config::KubeConfigOptions {
            context: Some("limited".into()),
            ..Default::default()
        },
    )
    .await?;
    let as_limited: Api<DynamicObject> = Api::namespaced_with(
        kube::Client::try_from(config)?,
        ARGOCD_NAMESPACE,
        &app_project(),
    );
    wait_for(
        "the limited identity may list AppProjects",
        Duration::from_secs(30),
        Duration::from_millis(200),
        || async {
            Ok(
                match as_limited.list(&ListParams::default().limit(1)).await {
                    Ok(_) => Check::Done(()),
                    Err(kube::Error::Api(s)) if s.code == 403 => Check::Pending(s.message),
                    Err(e) => return Err(e.into()),
                },
            )
        },
    )
    .await?;
    let argo = ArgoBackend::with_kubeconfig(kc, Some("limited"))?;
    let said = project_condition(&argo, &unit("limited", "far-by-name")).await?;
    if said.status != "Permitted"
        || !said.message.contains("could not be read")
        || !said.message.contains("forbidden")
    {
        return Err(err(format!(
            "limited: the unread Secrets are not said: {said:?}"
        )));
    }
    Ok(())
}
