//! The client of one kube context, and which Flux kinds that cluster serves (discovery, per API group).

use std::time::Duration;

use kube::Client;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{ApiResource, Discovery};
use tokio::sync::mpsc;

use super::error::from_kube;
use super::kinds::{self, FluxKind};
use crate::backend::{BackendError, Update};
use crate::model::{BackendKind, ContextState, Snapshot};

/// Whether the cluster serves a kind, and at which version.
#[derive(Debug, Clone, PartialEq)]
pub enum KindState {
    Served(ApiResource),
    /// The CRD is not installed (its API group or kind is not served).
    NotInstalled,
    /// Listing or watching it was refused.
    Forbidden(String),
}

/// What the kinds setpoint does not see say about the context (`not installed: HelmRelease; forbidden:
/// Bucket`), or nothing when every kind is served: shown with the context, never as an empty list.
pub fn kinds_note(kinds: &[(FluxKind, KindState)]) -> Option<String> {
    let names = |want: fn(&KindState) -> bool| {
        kinds
            .iter()
            .filter(|(_, s)| want(s))
            .map(|(k, _)| k.kind)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let missing = names(|s| matches!(s, KindState::NotInstalled));
    let forbidden = names(|s| matches!(s, KindState::Forbidden(_)));
    let parts: Vec<String> = [("not installed", missing), ("forbidden", forbidden)]
        .into_iter()
        .filter(|(_, n)| !n.is_empty())
        .map(|(what, n)| format!("{what}: {n}"))
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// `snap` with the context's note on its kinds, for the composite to show with the context.
pub fn with_note(mut snap: Snapshot, context: &str, kinds: &[(FluxKind, KindState)]) -> Snapshot {
    snap.contexts = kinds_note(kinds)
        .map(|note| ContextState {
            message: Some(note),
            ..ContextState::live_cluster(context, BackendKind::Flux)
        })
        .into_iter()
        .collect();
    snap
}

/// A connected context: its client and what its cluster serves.
#[derive(Clone)]
pub struct Conn {
    pub client: Client,
    pub kinds: Vec<(FluxKind, KindState)>,
}

impl Conn {
    /// The served version of `kind`, or why it cannot be used.
    pub fn resource(&self, kind: FluxKind) -> Result<&ApiResource, BackendError> {
        match self.kinds.iter().find(|(k, _)| *k == kind).map(|(_, s)| s) {
            Some(KindState::Served(ar)) => Ok(ar),
            Some(KindState::Forbidden(m)) => {
                Err(BackendError::Denied(format!("{}: {m}", kind.kind)))
            }
            _ => Err(BackendError::NotFound(format!(
                "{} ({}) is not installed on this cluster",
                kind.kind, kind.group
            ))),
        }
    }
}

/// The kube context to use: the one named, or the kubeconfig's current context.
pub fn context_name(kubeconfig: &Kubeconfig, wanted: Option<&str>) -> Result<String, BackendError> {
    let names: Vec<&str> = kubeconfig
        .contexts
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    let name = match wanted {
        Some(w) => w.to_owned(),
        None => kubeconfig.current_context.clone().ok_or_else(|| {
            BackendError::Invalid("the kubeconfig has no current-context: give --context".into())
        })?,
    };
    if !names.contains(&name.as_str()) {
        return Err(BackendError::Invalid(format!(
            "kube context `{name}` is not in the kubeconfig (contexts: {})",
            names.join(", ")
        )));
    }
    Ok(name)
}

/// Connects to `context` and finds the served version of every Flux kind.
pub async fn connect(kubeconfig: Kubeconfig, context: &str) -> Result<Conn, BackendError> {
    let client = client(kubeconfig, context).await?;
    tracing::info!(
        context,
        ms = crate::logging::since_start_ms(),
        "startup: client"
    );
    let kinds = discover(&client, context).await?;
    tracing::info!(
        context,
        ms = crate::logging::since_start_ms(),
        "startup: discovered"
    );
    Ok(Conn { client, kinds })
}

/// A client of kube context `context` (no request sent yet); shared with the Argo CD backend.
pub async fn client(kubeconfig: Kubeconfig, context: &str) -> Result<Client, BackendError> {
    // gix and kube enable different rustls providers, so rustls cannot pick one by itself; an Err means one
    // is installed already, which is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let what = format!("kube context {context}");
    let options = KubeConfigOptions {
        context: Some(context.to_owned()),
        ..Default::default()
    };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| BackendError::Invalid(format!("{what}: {e}")))?;
    Client::try_from(config).map_err(|e| from_kube(&what, &e))
}

/// The first wait before trying again to reach an API server that could not be reached.
pub(crate) const FIRST_RECONNECT: Duration = Duration::from_millis(500);
/// The longest wait between attempts to reach an API server that cannot be reached.
const MAX_RECONNECT: Duration = Duration::from_secs(30);

/// Says the cluster cannot be reached (`why`) and waits `delay` before the next attempt, doubling it up to
/// [`MAX_RECONNECT`]; `false` once nobody listens any more (the watch should end).
pub(crate) async fn unreachable(
    tx: &mpsc::Sender<Update>,
    why: &BackendError,
    delay: &mut Duration,
) -> bool {
    if tx.send(Update::Unavailable(why.to_string())).await.is_err() {
        return false;
    }
    tokio::select! {
        _ = tokio::time::sleep(*delay) => {}
        _ = tx.closed() => return false,
    }
    *delay = (*delay * 2).min(MAX_RECONNECT);
    true
}

/// How often discovery asks again when a group vanished between its requests.
const DISCOVERY_RETRIES: u32 = 3;

/// Discovery of `groups` one request at a time (servers without aggregated discovery).
async fn per_group(
    client: &Client,
    context: &str,
    groups: &[&str],
) -> Result<Discovery, BackendError> {
    let mut retries = 0;
    loop {
        match Discovery::new(client.clone()).filter(groups).run().await {
            Ok(d) => return Ok(d),
            // a group listed a moment ago is gone (a CRD being deleted): what is served changed between
            // two requests, so ask again, a few times
            Err(kube::Error::Api(s)) if s.code == 404 && retries < DISCOVERY_RETRIES => {
                tracing::debug!(
                    context,
                    "discovery raced a change of the served groups: {}",
                    s.message
                );
                retries += 1;
            }
            Err(e) => return Err(from_kube(&format!("kube context {context}: discovery"), &e)),
        }
    }
}

/// The served version of every Flux kind (aggregated discovery, or one list of the API groups and then only
/// Flux's groups; never a list of Flux objects).
pub async fn discover(
    client: &Client,
    context: &str,
) -> Result<Vec<(FluxKind, KindState)>, BackendError> {
    let groups = [
        kinds::KUSTOMIZATION.group,
        kinds::HELM_RELEASE.group,
        kinds::GIT_REPOSITORY.group,
    ];
    // One request where the server has aggregated discovery (Kubernetes 1.26+): every group with its
    // resources in the answer to /apis; else the per-group requests, one round trip after another.
    let discovered = match Discovery::new(client.clone())
        .filter(&groups)
        .run_aggregated()
        .await
    {
        Ok(d) => d,
        Err(e) => {
            tracing::debug!(context, "aggregated discovery: {e}; asking each group");
            per_group(client, context, &groups).await?
        }
    };
    let mut out = Vec::new();
    for kind in kinds::ALL {
        let state = match discovered
            .get(kind.group)
            .and_then(|g| g.recommended_kind(kind.kind))
        {
            Some((ar, _)) => KindState::Served(ar),
            None => KindState::NotInstalled,
        };
        tracing::debug!(context, kind = kind.kind, ?state, "discovery");
        out.push((kind, state));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_not_seen_are_said_and_a_fully_served_cluster_says_nothing() {
        let served = |k: FluxKind| {
            let gvk = kube::api::GroupVersionKind::gvk(k.group, "v1", k.kind);
            (
                k,
                KindState::Served(ApiResource::from_gvk_with_plural(&gvk, k.plural)),
            )
        };
        let mut kinds: Vec<(FluxKind, KindState)> = kinds::ALL.into_iter().map(served).collect();
        assert_eq!(kinds_note(&kinds), None);
        assert!(
            with_note(Snapshot::default(), "c", &kinds)
                .contexts
                .is_empty()
        );
        kinds[1].1 = KindState::NotInstalled;
        kinds[5].1 = KindState::NotInstalled;
        kinds[6].1 = KindState::Forbidden("buckets is forbidden: User \"v\" cannot watch".into());
        let note = kinds_note(&kinds).unwrap();
        assert_eq!(
            note,
            "not installed: HelmRelease, HelmChart; forbidden: Bucket"
        );
        let snap = with_note(Snapshot::default(), "c", &kinds);
        assert_eq!(snap.contexts[0].message.as_deref(), Some(note.as_str()));
        assert_eq!(snap.contexts[0].backend, BackendKind::Flux);
    }
}
