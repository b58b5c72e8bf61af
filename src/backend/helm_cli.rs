//! The helm CLI both kube backends render charts with (`helm template`; no Rust library renders Helm's Go
//! templates): where the program is (`$SETPOINT_HELM`, else `helm` on PATH), what the cluster tells a chart
//! (`.Capabilities`), and the run itself with helm's own homes kept apart (no user repository config or
//! cache), bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::backend::flux::diff::build;

/// The environment variable naming the helm program to run.
pub const HELM_ENV: &str = "SETPOINT_HELM";
const HELM_TIMEOUT: Duration = Duration::from_secs(120);

/// What the cluster tells a chart (`.Capabilities`), as the controllers pass it to helm (Argo CD to its repo-server, helm-controller to its Helm library).
#[derive(Debug, Clone, Default)]
pub struct Cluster {
    pub kube_version: String,
    pub api_versions: Vec<String>,
}

impl Cluster {
    /// As Argo CD's controller reads them: the API server's `major.minor` (`1.36`; `1.30+` as `1.30`), and
    /// every group/version and group/version/Kind it serves, sorted.
    pub async fn read(client: &kube::Client) -> Result<Self, String> {
        let info = client
            .apiserver_version()
            .await
            .map_err(|e| format!("the API server's version: {e}"))?;
        let discovery = kube::Discovery::new(client.clone())
            .run_aggregated()
            .await
            .map_err(|e| format!("API discovery: {e}"))?;
        let mut all = std::collections::BTreeSet::new();
        for group in discovery.groups() {
            for version in group.versions() {
                for (ar, _) in group.versioned_resources(version) {
                    all.insert(ar.api_version.clone());
                    all.insert(format!("{}/{}", ar.api_version, ar.kind));
                }
            }
        }
        Ok(Self {
            kube_version: generic_version(&format!("{}.{}", info.major, info.minor)),
            api_versions: all.into_iter().collect(),
        })
    }
}

/// `1.30+` as `1.30`, `v1.36.3` as `1.36.3`: the leading numeric components, as Kubernetes'
/// version.ParseGeneric keeps them.
pub(crate) fn generic_version(git_version: &str) -> String {
    let v = git_version.trim_start_matches('v');
    let end = v
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(v.len());
    v[..end].trim_end_matches('.').to_owned()
}

/// `$SETPOINT_HELM`, else `helm` on PATH.
pub fn helm_program() -> Option<PathBuf> {
    std::env::var_os(HELM_ENV)
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| build::on_path("helm"))
}

/// `helm ARGS` run in `cwd`, helm's homes under `scratch`; the YAML it printed, or its error output.
pub async fn template(
    program: &Path,
    args: &[String],
    cwd: &Path,
    scratch: &Path,
) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(cwd)
        .env("HELM_CACHE_HOME", scratch.join("cache"))
        .env("HELM_CONFIG_HOME", scratch.join("config"))
        .env("HELM_DATA_HOME", scratch.join("data"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(HELM_TIMEOUT, cmd.output())
        .await
        .map_err(|_| format!("helm template did not finish in {HELM_TIMEOUT:?}"))?
        .map_err(|e| format!("running {}: {e}", program.display()))?;
    if !out.status.success() {
        return Err(String::from_utf8_lossy(&out.stderr).trim().to_owned());
    }
    String::from_utf8(out.stdout).map_err(|_| "helm printed non-UTF-8 output".to_owned())
}
