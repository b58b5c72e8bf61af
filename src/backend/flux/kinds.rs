//! The Flux kinds setpoint reads: which API group serves them and whether they are units or sources.

/// Whether objects of a kind are reconciled units or the sources they take their desired state from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Unit,
    Source,
}

/// One Flux kind; its version is found by discovery at run time (older clusters serve other versions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FluxKind {
    pub kind: &'static str,
    pub group: &'static str,
    pub plural: &'static str,
    pub role: Role,
}

pub const KUSTOMIZATION: FluxKind = FluxKind {
    kind: "Kustomization",
    group: "kustomize.toolkit.fluxcd.io",
    plural: "kustomizations",
    role: Role::Unit,
};

pub const HELM_RELEASE: FluxKind = FluxKind {
    kind: "HelmRelease",
    group: "helm.toolkit.fluxcd.io",
    plural: "helmreleases",
    role: Role::Unit,
};

const SOURCE_GROUP: &str = "source.toolkit.fluxcd.io";

const fn source(kind: &'static str, plural: &'static str) -> FluxKind {
    FluxKind {
        kind,
        group: SOURCE_GROUP,
        plural,
        role: Role::Source,
    }
}

pub const GIT_REPOSITORY: FluxKind = source("GitRepository", "gitrepositories");

/// Every kind, units first.
pub const ALL: [FluxKind; 7] = [
    KUSTOMIZATION,
    HELM_RELEASE,
    GIT_REPOSITORY,
    source("OCIRepository", "ocirepositories"),
    source("HelmRepository", "helmrepositories"),
    source("HelmChart", "helmcharts"),
    source("Bucket", "buckets"),
];

/// `kind` with its article, for sentences: "an OCIRepository", "a Bucket".
pub fn with_article(kind: &str) -> String {
    let vowel = kind.starts_with(['A', 'E', 'I', 'O', 'U']);
    format!("{} {kind}", if vowel { "an" } else { "a" })
}

/// The kind of that name, if setpoint reads it.
pub fn by_name(kind: &str) -> Option<FluxKind> {
    ALL.into_iter().find(|k| k.kind == kind)
}
