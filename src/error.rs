//! Errors of the command line, each with its exit code.

use std::fmt;

use crate::backend::BackendError;

/// 2: usage or configuration error.
pub const EXIT_USAGE: u8 = 2;
/// 3: backend error.
pub const EXIT_BACKEND: u8 = 3;

/// An error that ends a command: printed on stderr as `setpoint: message`, exiting with `code`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CliError {
    pub code: u8,
    pub message: String,
}

impl CliError {
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_USAGE,
            message: message.into(),
        }
    }

    pub fn backend(message: impl Into<String>) -> Self {
        Self {
            code: EXIT_BACKEND,
            message: message.into(),
        }
    }
}

impl From<BackendError> for CliError {
    fn from(e: BackendError) -> Self {
        Self {
            code: e.exit_code(),
            message: e.to_string(),
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CliError {}
