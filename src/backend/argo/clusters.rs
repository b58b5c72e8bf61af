//! Argo CD's destination clusters (pure): the cluster Secrets (label `argocd.argoproj.io/secret-type=cluster`
//! in Argo CD's namespace) as Argo CD 3.3 reads them (util/db/cluster.go `SecretToCluster`, `GetCluster`,
//! `GetClusterServersByName`; util/argo/argo.go `GetDestinationCluster`), to resolve an Application's
//! destination to a cluster known by both its server and its name.
//!
//! The in-cluster destination (`https://kubernetes.default.svc`, named `in-cluster`) is known without a
//! Secret (a Secret for its address overrides it); setpoint takes `cluster.inClusterEnabled` as on (the
//! default).

use std::collections::BTreeMap;

/// The destination cluster every Argo CD knows without a Secret.
pub const IN_CLUSTER_SERVER: &str = "https://kubernetes.default.svc";
pub const IN_CLUSTER_NAME: &str = "in-cluster";
/// The label of Argo CD's cluster Secrets.
pub const SECRET_TYPE_SELECTOR: &str = "argocd.argoproj.io/secret-type=cluster";

/// What setpoint reads of one cluster Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterSecret {
    pub name: String,
    /// Without trailing slashes, as Argo CD keeps it.
    pub server: String,
    /// The project the cluster is scoped to (`project`), empty when it is global.
    pub project: String,
    /// `namespaces` (comma separated): the namespaces a project-scoped cluster adds; none means all.
    pub namespaces: Vec<String>,
}

impl ClusterSecret {
    /// From a Secret's decoded `data`.
    pub fn from_data(data: &BTreeMap<String, Vec<u8>>) -> Self {
        let field = |k: &str| {
            data.get(k)
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default()
        };
        Self {
            name: field("name"),
            server: field("server").trim_end_matches('/').to_owned(),
            project: field("project"),
            namespaces: field("namespaces")
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// What setpoint knows of the cluster Secrets when it judges a project.
#[derive(Debug, Clone, Copy)]
pub enum Clusters<'a> {
    /// Every cluster Secret, as listed.
    Read(&'a [ClusterSecret]),
    /// Not read (not asked yet, or refused: why).
    Unread(&'a str),
}

/// An Application's destination cluster as far as it is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub server: String,
    pub name: String,
    /// Both halves are known (from a Secret, or the in-cluster defaults).
    pub known: bool,
}

/// Argo CD's `GetDestinationCluster`: the cluster the destination `server` or `name` designates; `Err`: the
/// controller's refusal (both or neither given, no such cluster, a name shared by several clusters). With the
/// Secrets unread, the in-cluster destination is taken with its defaults and another keeps only the half
/// given (`known: false`).
pub fn resolve(server: &str, name: &str, clusters: Clusters) -> Result<Resolved, String> {
    if !name.is_empty() && !server.is_empty() {
        return Err(format!(
            "application destination can't have both name and server defined: {name} {server}"
        ));
    }
    if name.is_empty() && server.is_empty() {
        return Err("Destination server missing from app spec".into());
    }
    let in_cluster = || Resolved {
        server: IN_CLUSTER_SERVER.into(),
        name: IN_CLUSTER_NAME.into(),
        known: true,
    };
    let list = match clusters {
        Clusters::Read(list) => list,
        Clusters::Unread(_) => {
            let server = server.trim_end_matches('/');
            return Ok(
                if server == IN_CLUSTER_SERVER || (server.is_empty() && name == IN_CLUSTER_NAME) {
                    in_cluster()
                } else {
                    Resolved {
                        server: server.into(),
                        name: name.into(),
                        known: false,
                    }
                },
            );
        }
    };
    let by_server = |server: &str| -> Result<Resolved, String> {
        let server = server.trim_end_matches('/');
        match list.iter().find(|c| c.server == server) {
            Some(c) => Ok(Resolved {
                server: c.server.clone(),
                name: c.name.clone(),
                known: true,
            }),
            None if server == IN_CLUSTER_SERVER => Ok(in_cluster()),
            None => Err(format!(
                "cluster \"{server}\" not found (no Argo CD cluster Secret has this server)"
            )),
        }
    };
    if !server.is_empty() {
        return by_server(server);
    }
    let mut servers: Vec<&str> = list
        .iter()
        .filter(|c| c.name == name)
        .map(|c| c.server.as_str())
        .collect();
    if servers.is_empty() && name == IN_CLUSTER_NAME {
        servers.push(IN_CLUSTER_SERVER);
    }
    match servers.as_slice() {
        [] => Err(format!("there are no clusters with this name: {name}")),
        [one] => by_server(one),
        many => Err(format!(
            "there are {} clusters with the same name: [{}]",
            many.len(),
            many.join(" ")
        )),
    }
}

/// The clusters scoped to `project`.
pub fn of_project<'a>(
    list: &'a [ClusterSecret],
    project: &'a str,
) -> impl Iterator<Item = &'a ClusterSecret> {
    list.iter().filter(move |c| c.project == project)
}
