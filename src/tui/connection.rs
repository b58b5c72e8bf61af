//! What the console talks to in one context: the backend (read-only and audited as the settings say)
//! and, for the local backend, the agent the console runs when no other agent holds the workspace.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend::local::{Agent, AgentLock, LogSink, Workspace};
use crate::backend::{Audited, Backend};
use crate::context::Context;
use crate::error::CliError;

pub struct Connection {
    pub backend: Arc<Audited>,
    agent: Option<EmbeddedAgent>,
}

impl Connection {
    /// Opens the workspace `ws`. Must run inside the tokio runtime (the agent is a task).
    pub fn open(ctx: &Context, ws: &Path) -> Result<Self, CliError> {
        let backend = ctx.open_backend_at(ws)?;
        // An auditor's console never starts the controller: in read-only mode nothing may change.
        let agent = if backend.info().read_only {
            None
        } else {
            EmbeddedAgent::start(ws)
        };
        Ok(Self { backend, agent })
    }

    /// A connection to `backend` alone, without an agent (tests drive the runner with it).
    #[cfg(test)]
    pub(crate) fn without_agent(backend: Arc<Audited>) -> Self {
        Self {
            backend,
            agent: None,
        }
    }

    /// Stops the embedded agent, if any, letting it finish the file it is writing.
    pub async fn close(self) {
        if let Some(agent) = self.agent {
            agent.stop().await;
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.backend.info().context)
            .field("agent", &self.agent.is_some())
            .finish()
    }
}

/// The agent the console runs when no other agent holds the workspace; logs go to the log file.
struct EmbeddedAgent {
    _lock: AgentLock,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EmbeddedAgent {
    fn start(dir: &Path) -> Option<Self> {
        let ws = Workspace::load(dir).ok()?;
        let lock = match AgentLock::acquire(&ws.state.lock()) {
            Ok(l) => l,
            Err(e) => {
                tracing::info!("not embedding the agent: {e}");
                return None;
            }
        };
        let sink: LogSink = Arc::new(|line: &str| tracing::info!(target: "agent", "{line}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(Agent::new(ws, sink).run(async move {
            let _ = stopped.await;
        }));
        Some(Self {
            _lock: lock,
            stop,
            task,
        })
    }

    /// Asks the agent to finish the file it is writing and waits for it (at most a few seconds).
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.task).await;
    }
}
