//! Where setpoint keeps configuration and data: app variable → XDG variable → the platform default.

use std::path::PathBuf;

/// Reads environment variables; tests pass their own instead of touching the process environment.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// The configuration and data directories in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirs {
    pub config: PathBuf,
    pub data: PathBuf,
}

impl Dirs {
    /// Resolves both directories from the given environment.
    pub fn from_env(env: Env<'_>) -> Option<Self> {
        let project = directories::ProjectDirs::from("", "", "setpoint");
        let pick = |app: &str, xdg: &str, fallback: Option<PathBuf>| {
            non_empty(env(app))
                .map(PathBuf::from)
                .or_else(|| non_empty(env(xdg)).map(|d| PathBuf::from(d).join("setpoint")))
                .or(fallback)
        };
        let config = pick(
            "SETPOINT_CONFIG_DIR",
            "XDG_CONFIG_HOME",
            project.as_ref().map(|p| p.config_dir().to_owned()),
        )?;
        let data = pick(
            "SETPOINT_DATA_DIR",
            "XDG_DATA_HOME",
            project.as_ref().map(|p| p.data_dir().to_owned()),
        )?;
        Some(Self { config, data })
    }

    /// The process environment.
    pub fn from_process() -> Option<Self> {
        Self::from_env(&|k| std::env::var(k).ok())
    }

    pub fn config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    pub fn default_audit_log(&self) -> PathBuf {
        self.data.join("audit.jsonl")
    }

    pub fn log_file(&self) -> PathBuf {
        self.data.join("setpoint.log")
    }
}

fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            pairs
                .iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    #[test]
    fn app_variable_wins_then_xdg() {
        let e = env_of(&[
            ("SETPOINT_CONFIG_DIR", "/a/conf"),
            ("XDG_CONFIG_HOME", "/x"),
            ("XDG_DATA_HOME", "/xd"),
        ]);
        let d = Dirs::from_env(&e).unwrap();
        assert_eq!(d.config, PathBuf::from("/a/conf"));
        assert_eq!(d.data, PathBuf::from("/xd/setpoint"));
        let e = env_of(&[
            ("SETPOINT_CONFIG_DIR", ""),
            ("XDG_CONFIG_HOME", "/x"),
            ("SETPOINT_DATA_DIR", "/d"),
        ]);
        let d = Dirs::from_env(&e).unwrap();
        assert_eq!(d.config, PathBuf::from("/x/setpoint"));
        assert_eq!(d.data, PathBuf::from("/d"));
    }
}
