use serde_json::json;

use super::*;

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
    let v = judge(
        Some(&p),
        "argocd",
        &app(REPO, "https://10.0.0.1:6443", "", "web"),
    );
    assert_eq!(v.refusal(), None);
    assert_eq!(v.notes.len(), 1, "{v:?}");
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
