//! Settings, directories, themes and keymaps: embedded defaults overlaid by the user's files.

mod dirs;
mod error;
pub mod keymap;
mod settings;
pub mod theme;

pub use dirs::{Dirs, Env};
pub use error::{ConfigError, nearest, unknown_message};
pub use settings::{BackendChoice, Settings, wildcard_match};
