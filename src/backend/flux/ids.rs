//! Addresses of Flux objects: `flux/<kube-context>/<namespace>/<Kind>/<name>` for units and sources alike.

use super::kinds::{self, FluxKind};

/// One Flux object of one context, as an id names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub kind: FluxKind,
    pub namespace: String,
    pub name: String,
}

impl ObjectRef {
    pub fn new(kind: FluxKind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }

    /// The id of this object in `context`.
    pub fn id(&self, context: &str) -> String {
        object_id(context, &self.namespace, self.kind.kind, &self.name)
    }
}

pub fn object_id(context: &str, namespace: &str, kind: &str, name: &str) -> String {
    format!("flux/{context}/{namespace}/{kind}/{name}")
}

/// The object an id of `context` names, or `None` when the id is not one of this context's Flux objects.
/// The context itself may contain `/` (kube context names often do), so the id is read from the end.
pub fn parse(context: &str, id: &str) -> Option<ObjectRef> {
    let rest = id
        .strip_prefix("flux/")?
        .strip_prefix(context)?
        .strip_prefix('/')?;
    let mut parts = rest.splitn(3, '/');
    let (namespace, kind, name) = (parts.next()?, parts.next()?, parts.next()?);
    if namespace.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some(ObjectRef::new(kinds::by_name(kind)?, namespace, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_a_slash_in_the_context() {
        let r = ObjectRef::new(kinds::KUSTOMIZATION, "apps", "web");
        let id = r.id("arn:aws/eks");
        assert_eq!(id, "flux/arn:aws/eks/apps/Kustomization/web");
        assert_eq!(parse("arn:aws/eks", &id), Some(r));
        assert_eq!(parse("other", &id), None);
        assert_eq!(parse("arn:aws/eks", "flux/arn:aws/eks/apps/Pod/web"), None);
        assert_eq!(parse("arn:aws/eks", "local/prod"), None);
    }
}
