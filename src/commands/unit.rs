//! The unit a command names, found in a snapshot.

use crate::backend::{ResolveError, resolve_unit};
use crate::error::CliError;
use crate::model::{ContextHealth, Snapshot, Unit};

/// The unit `query` names. When none does and a context could not be read, the error says which (exit 3:
/// the unit may well be there), rather than only that no unit matched (exit 2).
pub fn find<'a>(snap: &'a Snapshot, query: &str) -> Result<&'a Unit, CliError> {
    resolve_unit(&snap.units, query).map_err(|e| {
        let unread: Vec<String> = snap
            .contexts
            .iter()
            .filter(|c| matches!(c.health, ContextHealth::Failed | ContextHealth::Connecting))
            .map(|c| match &c.message {
                Some(m) => format!("{} ({m})", c.name),
                None => c.name.clone(),
            })
            .collect();
        match e {
            ResolveError::Unknown { .. } if !unread.is_empty() => {
                CliError::backend(format!("{e}; could not read context {}", unread.join(", ")))
            }
            _ => CliError::usage(e.to_string()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::scripted::unit;
    use crate::error::{EXIT_BACKEND, EXIT_USAGE};
    use crate::model::{BackendKind, ContextState};

    fn context(name: &str, health: ContextHealth, message: Option<&str>) -> ContextState {
        ContextState {
            name: name.into(),
            backend: BackendKind::Flux,
            workspace: None,
            read_only: false,
            health,
            since: None,
            message: message.map(str::to_owned),
            reconciler: None,
        }
    }

    #[test]
    fn a_unit_not_found_while_a_context_could_not_be_read_names_that_context() {
        let mut snap = Snapshot {
            units: vec![unit("local/ws/prod").into()],
            ..Snapshot::default()
        };
        snap.contexts = vec![
            context("ws", ContextHealth::Live, None),
            context(
                "admin",
                ContextHealth::Failed,
                Some("no answer within 10.0 s"),
            ),
        ];
        let e = find(&snap, "root").unwrap_err();
        assert_eq!(e.code, EXIT_BACKEND);
        assert!(
            e.message
                .contains("could not read context admin (no answer within 10.0 s)"),
            "{}",
            e.message
        );
        snap.contexts.truncate(1);
        assert_eq!(find(&snap, "root").unwrap_err().code, EXIT_USAGE);
        assert_eq!(find(&snap, "prod").unwrap().id, "local/ws/prod");
    }
}
