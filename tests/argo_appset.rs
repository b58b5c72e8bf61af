//! An ApplicationSet on the tier's real applicationset-controller (Argo CD 3.3.0): a list generator makes two
//! Applications from the tier's git server; setpoint shows them with the set as their parent; a suspend of one
//! is reverted by the set (auto-sync on again, checked after the fact: setpoint's suspend fails and says so),
//! and on the other, whose `/spec/syncPolicy` the set ignores (ignoreApplicationDifferences), auto-sync stays
//! off but the set removes setpoint's annotations (said in the outcome). Every wait is bounded.

mod k8s_tier;

use std::process::{Command, Stdio};
use std::time::Duration;

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DynamicObject, PostParams};
use serde_json::{Value, json};

use k8s_tier::objects::describe_application;
use k8s_tier::watching::str_at;
use k8s_tier::{
    ARGOCD_IN_CLUSTER, ARGOCD_NAMESPACE, BoxError, Check, Repo, Tier, application, config_map, err,
    wait_for,
};

const NS: &str = "argo-sets";
const SET: &str = "pair";
/// Reverted by the set.
const ONE: &str = "set-one";
/// Its syncPolicy ignored by the set.
const TWO: &str = "set-two";
const POLL: Duration = Duration::from_millis(500);
const LONG: Duration = Duration::from_secs(180);

#[test]
fn an_application_set_on_the_real_controller() {
    k8s_tier::run_on_tier_with_argo("Argo CD ApplicationSet", |tier| Box::pin(steps(tier)));
}

fn unit(name: &str) -> String {
    format!("argo/admin/{ARGOCD_NAMESPACE}/Application/{name}")
}

/// The real binary: (exit code, stdout, stderr).
fn setpoint(
    tier: &Tier,
    dirs: &tempfile::TempDir,
    args: &[&str],
) -> Result<(i32, String, String), BoxError> {
    let out = Command::new(env!("CARGO_BIN_EXE_setpoint"))
        .args(["--backend", "argo", "--context", "admin"])
        .args(args)
        .env("KUBECONFIG", tier.kubeconfig())
        .env("SETPOINT_CONFIG_DIR", dirs.path().join("config"))
        .env("SETPOINT_DATA_DIR", dirs.path().join("data"))
        .stdin(Stdio::null())
        .output()?;
    let r = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    eprintln!("setpoint {args:?} -> {} {} {}", r.0, r.1.trim(), r.2.trim());
    Ok(r)
}

fn automated(a: &DynamicObject) -> Value {
    a.data
        .pointer("/spec/syncPolicy/automated")
        .cloned()
        .unwrap_or(Value::Null)
}

fn annotation<'a>(a: &'a DynamicObject, key: &str) -> Option<&'a str> {
    a.metadata
        .annotations
        .as_ref()?
        .get(key)
        .map(String::as_str)
}

async fn steps(tier: &Tier) -> Result<(), BoxError> {
    let admin = tier.client("admin").await?;
    let scratch = tempfile::tempdir()?;
    let repo = Repo::create(tier, scratch.path(), "argo-sets")?;
    repo.commit(
        "first",
        &[
            ("one/cm.yaml", Some(&config_map(NS, "one", "1"))),
            ("two/cm.yaml", Some(&config_map(NS, "two", "1"))),
        ],
    )?;
    Api::<Namespace>::all(admin.clone())
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": NS}}))?,
        )
        .await?;
    let gvk = kube::api::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "ApplicationSet");
    let sets: Api<DynamicObject> = Api::namespaced_with(
        admin.clone(),
        ARGOCD_NAMESPACE,
        &kube::api::ApiResource::from_gvk_with_plural(&gvk, "applicationsets"),
    );
    sets.create(
        &PostParams::default(),
        &serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "ApplicationSet",
            "metadata": {"name": SET, "namespace": ARGOCD_NAMESPACE},
            "spec": {
                "goTemplate": true,
                "generators": [{"list": {"elements": [{"name": "one"}, {"name": "two"}]}}],
                "ignoreApplicationDifferences": [{"name": TWO, "jsonPointers": ["/spec/syncPolicy"]}],
                "template": {
                    "metadata": {"name": "set-{{.name}}"},
                    "spec": {"project": "default",
                        "source": {"repoURL": repo.url, "targetRevision": "main", "path": "{{.name}}"},
                        "destination": {"server": ARGOCD_IN_CLUSTER, "namespace": NS},
                        "syncPolicy": {"automated": {"prune": true}}}}}
        }))?,
    )
    .await?;
    let apps: Api<DynamicObject> =
        Api::namespaced_with(admin.clone(), ARGOCD_NAMESPACE, &application());
    for name in [ONE, TWO] {
        wait_for(
            &format!("{name} generated and synced"),
            LONG,
            POLL,
            || async {
                Ok(match apps.get_opt(name).await? {
                    Some(a) if str_at(&a, "/status/sync/status") == "Synced" => Check::Done(()),
                    Some(a) => Check::Pending(describe_application(&a)),
                    None => Check::Pending("not generated yet".into()),
                })
            },
        )
        .await?;
    }
    let dirs = tempfile::tempdir()?;

    // the set is each Application's parent
    let (code, out, e) = setpoint(tier, &dirs, &["status", "--output", "json"])?;
    let status: Value = serde_json::from_str(&out)?;
    for name in [ONE, TWO] {
        let u = status["units"]
            .as_array()
            .and_then(|u| u.iter().find(|u| u["id"] == unit(name).as_str()))
            .ok_or_else(|| err(format!("{name} not in status: {out} {e}")))?;
        if code != 0 || u["parent"] != format!("ApplicationSet {ARGOCD_NAMESPACE}/{SET}") {
            return Err(err(format!("status of {name}: exit {code}: {u}")));
        }
    }

    // suspend of an Application the set regenerates: reverted, and setpoint says so (checked after the fact)
    let (code, _, stderr) = setpoint(tier, &dirs, &["suspend", "--reason", "freeze", &unit(ONE)])?;
    if code != 3
        || !stderr.contains(&format!(
            "suspended, then ApplicationSet {ARGOCD_NAMESPACE}/{SET} reverted the edit: auto-sync is on again"
        ))
    {
        return Err(err(format!("suspend of {ONE}: exit {code}: {stderr}")));
    }
    let a = apps.get(ONE).await?;
    if automated(&a) != json!({"prune": true})
        || annotation(&a, "setpoint.dev/suspended-by").is_some()
    {
        return Err(err(format!(
            "{ONE} after the reverted suspend: automated {} {}",
            automated(&a),
            describe_application(&a)
        )));
    }

    // the set ignores set-two's syncPolicy: auto-sync stays off, but setpoint's annotations are removed
    let (code, out, stderr) =
        setpoint(tier, &dirs, &["suspend", "--reason", "freeze", &unit(TWO)])?;
    if code != 0 || !out.contains("removed setpoint's annotations") {
        return Err(err(format!(
            "suspend of {TWO}: exit {code}: {out} {stderr}"
        )));
    }
    let a = apps.get(TWO).await?;
    if automated(&a).get("enabled") != Some(&json!(false))
        || annotation(&a, "setpoint.dev/saved-automated").is_some()
    {
        return Err(err(format!(
            "{TWO} after the suspend: automated {}, annotations {:?}",
            automated(&a),
            a.metadata.annotations
        )));
    }
    Ok(())
}
