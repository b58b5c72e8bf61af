//! What the console talks to: the composite backend over the contexts shown (each read-only and audited
//! as the settings say) and, for each writable local context, the agent the console runs when no other
//! agent holds that workspace.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::backend::local::{Agent, AgentLock, LogSink, Workspace};
use crate::backend::{Audited, Backend, Composite};
use crate::context::{Context, ContextSpec};
use crate::error::CliError;
use crate::model::BackendKind;

/// How long closing waits for the embedded agents to finish the files they write.
const AGENT_STOP: Duration = Duration::from_secs(5);

pub struct Connection {
    pub backend: Arc<Composite>,
    agents: Vec<EmbeddedAgent>,
}

/// One context opened after the start (`:ctx NAME` of a context not shown yet), with its agent.
pub struct Member {
    pub backend: Arc<Audited>,
    agent: Option<EmbeddedAgent>,
}

impl Member {
    /// Opens one context and starts its agent. Must run inside the tokio runtime (the agent is a task).
    pub fn open(ctx: &Context, spec: &ContextSpec) -> Result<Self, CliError> {
        let backend = ctx.open_member(spec)?;
        let agent = agent_for(&backend);
        Ok(Self { backend, agent })
    }
}

/// The embedded agent of a member: local, writable (an auditor's console never starts the controller:
/// in read-only mode nothing may change), and no other agent holding its workspace.
fn agent_for(backend: &Audited) -> Option<EmbeddedAgent> {
    let info = backend.info();
    match (&info.workspace, info.kind, info.read_only) {
        (Some(ws), BackendKind::Local, false) => EmbeddedAgent::start(ws),
        _ => None,
    }
}

impl Connection {
    /// Opens every selected context. Must run inside the tokio runtime (the agents are tasks).
    pub fn open(ctx: &Context) -> Result<Self, CliError> {
        let backend = ctx.open_backend()?;
        let agents = backend
            .members()
            .iter()
            .filter_map(|m| agent_for(m))
            .collect();
        Ok(Self { backend, agents })
    }

    /// Shows one more context, with its agent.
    pub fn add(&mut self, member: Member) {
        self.backend.add(member.backend);
        self.agents.extend(member.agent);
    }

    /// A connection to `backend` alone, without an agent (tests drive the runner with it).
    #[cfg(test)]
    pub(crate) fn without_agent(backend: Arc<Composite>) -> Self {
        Self {
            backend,
            agents: Vec::new(),
        }
    }

    /// Stops the embedded agents, letting each finish the file it is writing (all asked at once, waited
    /// for a few seconds in all).
    pub async fn close(self) {
        let deadline = tokio::time::Instant::now() + AGENT_STOP;
        let tasks: Vec<_> = self
            .agents
            .into_iter()
            .map(EmbeddedAgent::ask_stop)
            .collect();
        for (lock, task) in tasks {
            let _ = tokio::time::timeout_at(deadline, task).await;
            drop(lock);
        }
    }
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.backend.info().context)
            .field("agents", &self.agents.len())
            .finish()
    }
}

/// The agent the console runs when no other agent holds the workspace; logs go to the log file.
struct EmbeddedAgent {
    lock: AgentLock,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl EmbeddedAgent {
    fn start(dir: &Path) -> Option<Self> {
        let ws = Workspace::load(dir).ok()?;
        let lock = match AgentLock::acquire(&ws.state.lock()) {
            Ok(l) => l,
            Err(e) => {
                tracing::info!("not embedding the agent for {}: {e}", dir.display());
                return None;
            }
        };
        let sink: LogSink = Arc::new(|line: &str| tracing::info!(target: "agent", "{line}"));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(Agent::new(ws, sink).run(async move {
            let _ = stopped.await;
        }));
        Some(Self { lock, stop, task })
    }

    /// Asks the agent to finish the file it is writing; the lock is released once its task is done.
    fn ask_stop(self) -> (AgentLock, JoinHandle<()>) {
        let _ = self.stop.send(());
        (self.lock, self.task)
    }
}
