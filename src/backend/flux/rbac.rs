//! What this identity may do to one object: SelfSubjectAccessReview for the exact verb, resource, namespace
//! and name, cached briefly so that moving through the console does not ask the API server at every step.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::Client;
use kube::api::{Api, PostParams};

use super::error::from_kube;
use crate::backend::BackendError;
use crate::model::Permission;

/// How long an answer is reused.
const TTL: Duration = Duration::from_secs(20);

/// One question: may I `verb` the `resource` (plural) of `group` named `name` in `namespace`?
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Access {
    pub verb: &'static str,
    pub group: String,
    pub resource: String,
    pub namespace: String,
    pub name: String,
}

impl Access {
    fn describe(&self) -> String {
        let group = if self.group.is_empty() {
            String::new()
        } else {
            format!(".{}", self.group)
        };
        format!(
            "{} {}{group} {}/{}",
            self.verb, self.resource, self.namespace, self.name
        )
    }
}

#[derive(Default)]
pub struct AccessCache {
    answers: Mutex<HashMap<Access, (Instant, Permission)>>,
}

impl AccessCache {
    /// Allowed, or denied with the API server's reason; asked at most once per [`TTL`].
    pub async fn check(
        &self,
        client: &Client,
        access: &Access,
    ) -> Result<Permission, BackendError> {
        if let Ok(answers) = self.answers.lock()
            && let Some((at, p)) = answers.get(access)
            && at.elapsed() < TTL
        {
            return Ok(p.clone());
        }
        let review = SelfSubjectAccessReview {
            spec: SelfSubjectAccessReviewSpec {
                resource_attributes: Some(ResourceAttributes {
                    verb: Some(access.verb.to_owned()),
                    group: Some(access.group.clone()),
                    resource: Some(access.resource.clone()),
                    namespace: Some(access.namespace.clone()),
                    name: Some(access.name.clone()),
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..Default::default()
        };
        let what = format!("access review ({})", access.describe());
        let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| from_kube(&what, &e))?;
        let status = answer.status.unwrap_or_default();
        let permission = if status.allowed {
            Permission::Allowed
        } else {
            let why = status
                .reason
                .filter(|r| !r.is_empty())
                .or(status.evaluation_error)
                .unwrap_or_else(|| "RBAC does not allow it".to_owned());
            Permission::Denied {
                reason: format!("not allowed to {}: {why}", access.describe()),
            }
        };
        if let Ok(mut answers) = self.answers.lock() {
            answers.insert(access.clone(), (Instant::now(), permission.clone()));
        }
        Ok(permission)
    }
}
