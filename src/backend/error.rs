//! Errors every backend reports, with the exit codes of the CLI contract.

use std::fmt;

/// Why a backend call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendError {
    /// The action is not allowed (read-only audit mode, RBAC, protected, …).
    Denied(String),
    /// No such unit or revision.
    NotFound(String),
    /// The request itself is wrong (bad revision, missing reason).
    Invalid(String),
    /// The backend cannot be reached or read.
    Unavailable(String),
    /// The backend accepted the call and it failed.
    Failed(String),
}

impl BackendError {
    /// Exit code for the CLI: 2 for usage errors, 3 for backend errors.
    pub fn exit_code(&self) -> u8 {
        match self {
            BackendError::NotFound(_) | BackendError::Invalid(_) => 2,
            BackendError::Denied(_) | BackendError::Unavailable(_) | BackendError::Failed(_) => 3,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            BackendError::Denied(m)
            | BackendError::NotFound(m)
            | BackendError::Invalid(m)
            | BackendError::Unavailable(m)
            | BackendError::Failed(m) => m,
        }
    }
}

impl fmt::Display for BackendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self {
            BackendError::Denied(_) => "not allowed",
            BackendError::NotFound(_) => "not found",
            BackendError::Invalid(_) => "invalid request",
            BackendError::Unavailable(_) => "backend unavailable",
            BackendError::Failed(_) => "failed",
        };
        // "read-only audit mode: not allowed" says it already: never "not allowed: …: not allowed".
        if self.message().contains(what) {
            return f.write_str(self.message());
        }
        write!(f, "{what}: {}", self.message())
    }
}

impl std::error::Error for BackendError {}
