use serde_json::json;

use super::*;
use crate::backend::argo::clusters::{ClusterSecret, IN_CLUSTER_SERVER};

/// The verdict with the cluster Secrets read and none there (only the in-cluster destination exists).
fn judge(project: Option<&Value>, namespace: &str, t: &Target) -> Verdict {
    super::judge(project, namespace, t, Clusters::Read(&[]))
}

fn app(repo: &str, server: &str, name: &str, ns: &str) -> Target {
    Target {
        project: "p".into(),
        repos: vec![repo.into()],
        dest_server: server.into(),
        dest_name: name.into(),
        dest_namespace: ns.into(),
        resources: Vec::new(),
    }
}

fn proj(spec: Value) -> Value {
    json!({"metadata": {"name": "p"}, "spec": spec})
}

const REPO: &str = "http://127.0.0.1:4000/apps.git";

#[test]
fn the_default_project_permits_everything() {
    let p = proj(
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
        "clusterResourceWhitelist": [{"group": "*", "kind": "*"}]}),
    );
    let mut t = app(REPO, IN_CLUSTER_SERVER, "", "x");
    t.resources = vec![
        ("".into(), "Namespace".into(), "".into(), "x".into()),
        ("apps".into(), "Deployment".into(), "x".into(), "d".into()),
    ];
    assert_eq!(judge(Some(&p), "argocd", &t), Verdict::default());
}

#[test]
fn a_missing_project_refuses() {
    let v = judge(None, "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "x"));
    assert_eq!(v.refusals.len(), 1);
    assert!(
        v.refusals[0].contains("project `p` does not exist"),
        "{v:?}"
    );
}

#[test]
fn destinations_as_argo_cd_matches_them() {
    let p = proj(json!({"sourceRepos": ["*"],
        "destinations": [{"server": IN_CLUSTER_SERVER, "namespace": "team-*"}]}));
    let ok = judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "", "team-a"),
    );
    assert_eq!(ok.refusal(), None);
    // by name: in-cluster is known by both names
    let ok = judge(Some(&p), "argocd", &app(REPO, "", "in-cluster", "team-a"));
    assert_eq!(ok.refusal(), None);
    let no = judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "", "prod"),
    );
    assert_eq!(
        no.refusal().unwrap(),
        "project `p` does not permit destination https://kubernetes.default.svc namespace `prod` \
         (destinations: https://kubernetes.default.svc namespace `team-*`)"
    );
    // a negated namespace excludes what an earlier entry allowed
    let p = proj(json!({"sourceRepos": ["*"], "destinations": [
        {"server": "*", "namespace": "*"}, {"server": "*", "namespace": "!kube-system"}]}));
    assert!(
        judge(
            Some(&p),
            "argocd",
            &app(REPO, IN_CLUSTER_SERVER, "", "kube-system")
        )
        .refusal()
        .is_some()
    );
    assert_eq!(
        judge(Some(&p), "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "web")).refusal(),
        None
    );
    // a negated server
    let p = proj(json!({"sourceRepos": ["*"], "destinations": [
        {"server": "!https://prod.example", "namespace": "*"}]}));
    assert_eq!(
        judge(Some(&p), "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "web")).refusal(),
        None
    );
}

#[test]
fn another_cluster_half_known_is_said_not_enforced() {
    let p = proj(json!({"sourceRepos": ["*"],
        "destinations": [{"name": "prod", "namespace": "*"}]}));
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, "https://10.0.0.1:6443", "", "web"),
        Clusters::Unread(""),
    );
    assert_eq!(v.refusal(), None);
    assert_eq!(v.notes.len(), 1, "{v:?}");
    assert!(v.clusters_needed);
}

#[test]
fn source_repos_normalised_globbed_and_negated() {
    let p = proj(
        json!({"sourceRepos": ["HTTP://127.0.0.1:4000/*.git"], "destinations": [
        {"server": "*", "namespace": "*"}]}),
    );
    assert_eq!(
        judge(Some(&p), "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "x")).refusal(),
        None
    );
    // `*` stays within a path segment; `**` crosses
    let deep = "http://127.0.0.1:4000/org/apps.git";
    assert!(
        judge(Some(&p), "argocd", &app(deep, IN_CLUSTER_SERVER, "", "x"))
            .refusal()
            .unwrap()
            .contains("does not permit source repo http://127.0.0.1:4000/org/apps.git")
    );
    let p = proj(
        json!({"sourceRepos": ["http://127.0.0.1:4000/**", "!http://127.0.0.1:4000/org/*"],
        "destinations": [{"server": "*", "namespace": "*"}]}),
    );
    assert_eq!(
        judge(Some(&p), "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "x")).refusal(),
        None
    );
    assert!(
        judge(Some(&p), "argocd", &app(deep, IN_CLUSTER_SERVER, "", "x"))
            .refusal()
            .is_some()
    );
    // no sourceRepos: nothing is permitted
    let p = proj(json!({"destinations": [{"server": "*", "namespace": "*"}]}));
    assert!(
        judge(Some(&p), "argocd", &app(REPO, IN_CLUSTER_SERVER, "", "x"))
            .refusal()
            .unwrap()
            .contains("(sourceRepos: none)")
    );
}

#[test]
fn git_urls_normalised_like_argo_cd() {
    assert_eq!(
        normalize_git_url("git@GitHub.com:Org/Repo.git"),
        "git@github.com/org/repo"
    );
    assert_eq!(
        normalize_git_url("ssh://git@host/org/repo.git"),
        "git@host/org/repo"
    );
    assert_eq!(
        normalize_git_url(" https://host/org/repo "),
        "https://host/org/repo"
    );
}

#[test]
fn resource_lists() {
    let p = proj(
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "web"}],
        "namespaceResourceBlacklist": [{"group": "", "kind": "Secret"}],
        "clusterResourceWhitelist": [{"group": "rbac.authorization.k8s.io", "kind": "Cluster*"}]}),
    );
    let mut t = app(REPO, IN_CLUSTER_SERVER, "", "web");
    t.resources = vec![
        ("".into(), "ConfigMap".into(), "web".into(), "c".into()),
        ("".into(), "Secret".into(), "web".into(), "s".into()),
        ("".into(), "Namespace".into(), "".into(), "web".into()),
        (
            "rbac.authorization.k8s.io".into(),
            "ClusterRole".into(),
            "".into(),
            "r".into(),
        ),
        ("".into(), "ConfigMap".into(), "other".into(), "o".into()),
    ];
    let v = judge(Some(&p), "argocd", &t);
    assert_eq!(
        v.refusals,
        [
            "project `p` does not permit namespaced resource Secret (`s`)",
            "project `p` does not permit cluster-scoped resource Namespace (`web`)",
            "project `p` does not permit namespace `other` of ConfigMap `o`",
        ]
    );
    // an empty (present) namespaced whitelist allows none
    let p = proj(
        json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}],
        "namespaceResourceWhitelist": []}),
    );
    let mut t = app(REPO, IN_CLUSTER_SERVER, "", "web");
    t.resources = vec![("".into(), "ConfigMap".into(), "web".into(), "c".into())];
    assert_eq!(judge(Some(&p), "argocd", &t).refusals.len(), 1);
}

#[test]
fn globs_as_gobwas() {
    assert!(glob("a{b,c}d", "acd", None, true));
    assert!(!glob("a{b,c}d", "aed", None, true));
    assert!(glob("[a-c]x", "bx", None, true));
    assert!(glob("[!a-c]x", "dx", None, true));
    assert!(!glob("[!a-c]x", "ax", None, true));
    assert!(glob("a?c", "abc", None, true));
    assert!(!glob("a*c", "a/c", Some('/'), true));
    assert!(glob("a*c", "a/c", None, true));
    assert!(!glob("a*c", "ab/c", Some('/'), true));
    assert!(glob("a**c", "ab/c", Some('/'), true));
    assert!(glob(r"a\*", "a*", None, true));
    assert!(!glob(r"a\*", "ab", None, true));
}

#[test]
fn target_of_an_application() {
    let a = json!({"spec": {"sources": [{"repoURL": "u1"}, {"repoURL": "u2"}],
        "destination": {"name": "in-cluster", "namespace": "n"}},
        "status": {"resources": [{"kind": "ConfigMap", "namespace": "n", "name": "c", "version": "v1"}]}});
    let t = target(&a);
    assert_eq!(t.project, "default");
    assert_eq!(t.repos, ["u1", "u2"]);
    assert_eq!(t.dest_name, "in-cluster");
    assert_eq!(
        t.resources,
        [("".into(), "ConfigMap".into(), "n".into(), "c".into())]
    );
}

fn secret(name: &str, server: &str, project: &str, namespaces: &str) -> ClusterSecret {
    let data = [
        ("name", name),
        ("server", server),
        ("project", project),
        ("namespaces", namespaces),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| (k.to_owned(), v.as_bytes().to_vec()))
    .collect();
    ClusterSecret::from_data(&data)
}

const PROD: &str = "https://10.0.0.1:6443";

#[test]
fn a_destination_by_name_is_resolved_through_the_cluster_secrets() {
    let secrets = [secret("prod", &format!("{PROD}/"), "", "")];
    assert_eq!(secrets[0].server, PROD); // trailing slashes go, as in Argo CD
    // the project names the server; the Application the name
    let p =
        proj(json!({"sourceRepos": ["*"], "destinations": [{"server": PROD, "namespace": "*"}]}));
    let t = app(REPO, "", "prod", "web");
    let v = super::judge(Some(&p), "argocd", &t, Clusters::Read(&secrets));
    assert_eq!((v.refusal(), v.notes.len()), (None, 0), "{v:?}");
    // unread: the server half is not known, so it is said and the Secrets are asked for
    let v = super::judge(
        Some(&p),
        "argocd",
        &t,
        Clusters::Unread("forbidden: Secrets"),
    );
    assert_eq!(v.refusal(), None);
    assert!(
        v.clusters_needed && v.notes[0].contains("forbidden: Secrets"),
        "{v:?}"
    );
    // a name no Secret has, and a name two clusters share: the controller refuses
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, "", "staging", "web"),
        Clusters::Read(&secrets),
    );
    assert_eq!(
        v.refusal().unwrap(),
        "there are no clusters with this name: staging (the controller refuses to sync)"
    );
    let twice = [
        secret("prod", PROD, "", ""),
        secret("prod", "https://10.0.0.2:6443", "", ""),
    ];
    let v = super::judge(Some(&p), "argocd", &t, Clusters::Read(&twice));
    assert!(
        v.refusal()
            .unwrap()
            .contains("there are 2 clusters with the same name"),
        "{v:?}"
    );
    // in-cluster by name without a Secret
    let p = proj(json!({"sourceRepos": ["*"],
        "destinations": [{"server": IN_CLUSTER_SERVER, "namespace": "*"}]}));
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, "", "in-cluster", "web"),
        Clusters::Read(&[]),
    );
    assert_eq!(v.refusal(), None);
}

#[test]
fn a_destination_by_server_matches_an_entry_that_names_the_cluster() {
    let secrets = [secret("prod", PROD, "", "")];
    let p =
        proj(json!({"sourceRepos": ["*"], "destinations": [{"name": "prod", "namespace": "web"}]}));
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, PROD, "", "web"),
        Clusters::Read(&secrets),
    );
    assert_eq!(
        (v.refusal(), v.notes.len(), v.clusters_needed),
        (None, 0, false),
        "{v:?}"
    );
    // ...in that entry's namespaces only
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, PROD, "", "db"),
        Clusters::Read(&secrets),
    );
    assert!(
        v.refusal().unwrap().contains("does not permit destination"),
        "{v:?}"
    );
    // a server Argo CD has no Secret for: refused
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, "https://10.9.9.9", "", "web"),
        Clusters::Read(&secrets),
    );
    assert!(
        v.refusal()
            .unwrap()
            .contains("cluster \"https://10.9.9.9\" not found"),
        "{v:?}"
    );
    // a Secret for the in-cluster address renames it
    let renamed = [secret("home", IN_CLUSTER_SERVER, "", "")];
    let p =
        proj(json!({"sourceRepos": ["*"], "destinations": [{"name": "home", "namespace": "*"}]}));
    let t = app(REPO, IN_CLUSTER_SERVER, "", "web");
    assert_eq!(
        super::judge(Some(&p), "argocd", &t, Clusters::Read(&renamed)).refusal(),
        None
    );
    assert!(
        super::judge(Some(&p), "argocd", &t, Clusters::Read(&[]))
            .refusal()
            .is_some()
    );
}

#[test]
fn both_or_neither_half_of_a_destination_refuses() {
    let p =
        proj(json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}));
    let v = judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "in-cluster", "web"),
    );
    assert!(
        v.refusal()
            .unwrap()
            .contains("can't have both name and server"),
        "{v:?}"
    );
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, "", "", "web"),
        Clusters::Unread(""),
    );
    assert!(
        v.refusal()
            .unwrap()
            .contains("Destination server missing from app spec"),
        "{v:?}"
    );
}

#[test]
fn project_scoped_clusters_are_destinations_and_permit_only_them_when_asked() {
    let secrets = [
        secret("team", PROD, "p", "web,api"),
        secret("shared", "https://10.0.0.3:6443", "", ""),
        secret("other", "https://10.0.0.4:6443", "q", ""),
    ];
    // no destinations in the spec: the project's own cluster is one, in its namespaces
    let p = proj(json!({"sourceRepos": ["*"]}));
    let read = Clusters::Read(&secrets);
    assert_eq!(
        super::judge(Some(&p), "argocd", &app(REPO, "", "team", "api"), read).refusal(),
        None
    );
    assert!(
        super::judge(Some(&p), "argocd", &app(REPO, "", "team", "db"), read)
            .refusal()
            .is_some()
    );
    // another project's cluster is not
    assert!(
        super::judge(Some(&p), "argocd", &app(REPO, "", "other", "api"), read)
            .refusal()
            .is_some()
    );
    // unread: what a project-scoped cluster could permit is said, not refused
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "", "x"),
        Clusters::Unread(""),
    );
    assert_eq!(v.refusal(), None);
    assert!(v.clusters_needed, "{v:?}");

    let p = proj(
        json!({"sourceRepos": ["*"], "permitOnlyProjectScopedClusters": true,
        "destinations": [{"server": "*", "namespace": "*"}]}),
    );
    assert_eq!(
        super::judge(Some(&p), "argocd", &app(REPO, PROD, "", "web"), read).refusal(),
        None
    );
    let v = super::judge(Some(&p), "argocd", &app(REPO, "", "shared", "web"), read);
    assert_eq!(
        v.refusal().unwrap(),
        "project `p` permits only its project-scoped clusters (permitOnlyProjectScopedClusters) and the \
         cluster shared (https://10.0.0.3:6443) is not one"
    );
    assert!(
        super::judge(
            Some(&p),
            "argocd",
            &app(REPO, IN_CLUSTER_SERVER, "", "web"),
            read
        )
        .refusal()
        .is_some()
    );
    // unread: said, with why, and asked for
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "", "web"),
        Clusters::Unread("forbidden"),
    );
    assert_eq!(v.refusal(), None);
    assert!(
        v.clusters_needed && v.notes[0].contains("permitOnlyProjectScopedClusters"),
        "{v:?}"
    );
    // without the flag, a matched in-cluster destination needs no Secret at all
    let p =
        proj(json!({"sourceRepos": ["*"], "destinations": [{"server": "*", "namespace": "*"}]}));
    let v = super::judge(
        Some(&p),
        "argocd",
        &app(REPO, IN_CLUSTER_SERVER, "", "web"),
        Clusters::Unread(""),
    );
    assert_eq!(v, Verdict::default());
}
