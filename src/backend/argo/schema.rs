//! What the served Application CRD allows, read once per context from the API server's OpenAPI v3 document
//! of argoproj.io/v1alpha1 (the CRD's structural schema; readable by every authenticated user through the
//! system:discovery role, unlike the CustomResourceDefinition object itself).

use serde_json::Value;

const DOC: &str = "/openapi/v3/apis/argoproj.io/v1alpha1";
const ENABLED: &str = "/components/schemas/io.argoproj.v1alpha1.Application/properties/spec/properties/\
syncPolicy/properties/automated/properties/enabled";

/// Whether the schema has `spec.syncPolicy.automated.enabled` (Argo CD 3.1+): auto-sync can then be turned
/// off while prune and selfHeal stay in the spec.
pub fn has_automated_enabled(doc: &Value) -> bool {
    doc.pointer(ENABLED).is_some()
}

/// The OpenAPI v3 document of argoproj.io/v1alpha1.
pub async fn fetch(client: &kube::Client) -> Result<Value, String> {
    let req = http::Request::get(DOC)
        .body(Vec::new())
        .map_err(|e| e.to_string())?;
    client
        .request::<Value>(req)
        .await
        .map_err(|e| format!("GET {DOC}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn enabled_field_found_in_the_application_schema_only() {
        let with = json!({"components": {"schemas": {"io.argoproj.v1alpha1.Application": {"properties":
            {"spec": {"properties": {"syncPolicy": {"properties": {"automated": {"properties":
                {"enabled": {"type": "boolean"}, "prune": {"type": "boolean"}}}}}}}}}}}});
        assert!(has_automated_enabled(&with));
        let mut without = with.clone();
        if let Some(a) = without.pointer_mut(
            "/components/schemas/io.argoproj.v1alpha1.Application/properties/spec/properties/syncPolicy/properties/automated/properties",
        ) {
            a.as_object_mut().map(|o| o.remove("enabled"));
        }
        assert!(!has_automated_enabled(&without));
    }
}
