//! A console started again on a context picks up where the last one left: each watch keeps what it holds in a
//! cache file under the data directory, with the newest resourceVersion it saw of each kind; the next watch
//! of the same context, identity and binary seeds its stores from the file and watches each kind from that
//! version (the API server replays only what changed since: no list, a few kilobytes instead of megabytes).
//!
//! Honest about it: the cached objects are taken as current only once the API server has accepted the watch
//! from their version and has not answered within [`GRACE`] that the version is gone (it answers that, or
//! sends the changes since, at once). When the version is gone (410 Expired: the server restarted, or too
//! much changed meanwhile), the kind is listed as on a first start; a kind whose cache was already shown is
//! reported down meanwhile, so the context shows STALE with its age until the list is complete.
//!
//! The file is written when the watch has been quiet for [`QUIET`] after a snapshot, then at most once every
//! [`MIN_INTERVAL`] while snapshots keep coming (never while nothing changes), atomically (a temporary file
//! renamed over it, so a kill leaves the old file or the new one, never a torn one), readable by its owner
//! only. A file that does not parse, of another format, identity or binary, is not used (and said so in the
//! log), never trusted in part.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{self, BoxStream, StreamExt};
use jiff::Timestamp;
use kube::api::{Api, WatchEvent, WatchParams};
use kube::config::Kubeconfig;
use kube::runtime::watcher::{self, Event};
use serde::{Deserialize, Serialize};
use tokio::sync::watch as signal;

use super::lean::Lean;
use super::watch::{Key, watcher_config};
use crate::backend::local::state::write_atomic_with;

/// How long a resumed watch waits for the API server to say that the cached version is gone.
pub const GRACE: Duration = Duration::from_millis(50);
/// How long the watch is quiet after a snapshot before the file is written.
pub const QUIET: Duration = Duration::from_secs(5);
/// The shortest time between two writes of the file.
pub const MIN_INTERVAL: Duration = Duration::from_secs(60);
/// The format of the file and of what the stores keep: a file of another format is not read.
const FORMAT: u32 = 1;

/// The last line of a whole file (one cut short lacks it).
const END: &str = "end";

/// What the API server says when a kind's cached objects are older than it remembers.
pub const EXPIRED: &str =
    "the cached objects of the last session are older than the API server remembers: listing again";

/// One kind as the file holds it: its watch URL, the newest resourceVersion seen of it, and where each
/// object's line of JSON (as the store keeps it) is in the file's text.
#[derive(Debug)]
pub struct Kind {
    pub url: String,
    pub newest: u64,
    objects: Vec<(Key, Range<usize>)>,
}

/// The cache file of one backend's context.
#[derive(Debug, Clone)]
pub struct CacheFile {
    path: PathBuf,
    identity: String,
}

#[derive(Serialize, Deserialize)]
struct Header {
    format: u32,
    identity: String,
    binary: String,
    written: Timestamp,
}

#[derive(Serialize, Deserialize)]
struct KindHeader {
    url: String,
    newest: u64,
    objects: usize,
}

/// A backend's cache file, read by its first watch only (a watch started again in the same session, after
/// discovery found other kinds, goes on from what it knows, not from an older file).
#[derive(Debug)]
pub struct Cache {
    file: CacheFile,
    read: std::sync::atomic::AtomicBool,
}

impl Cache {
    pub fn new(file: CacheFile) -> Self {
        Self {
            file,
            read: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn file(&self) -> &CacheFile {
        &self.file
    }

    /// What the file holds, on the first call only.
    pub async fn first_read(&self) -> Option<Cached> {
        if self.read.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return None;
        }
        let file = self.file.clone();
        let cached = tokio::task::spawn_blocking(move || file.read())
            .await
            .ok()??;
        tracing::info!(
            file = %self.file.path().display(),
            written = %cached.written,
            ms = crate::logging::since_start_ms(),
            "startup: watch cache read"
        );
        Some(cached)
    }
}

/// What a file held: its text, and its kinds.
#[derive(Debug)]
pub struct Cached {
    pub written: Timestamp,
    text: String,
    kinds: Vec<Kind>,
}

impl Cached {
    /// The cached kind watched at `url`, taken out.
    pub fn take(&mut self, url: &str) -> Option<Kind> {
        let i = self.kinds.iter().position(|k| k.url == url)?;
        Some(self.kinds.swap_remove(i))
    }

    /// The objects of `kind` (taken from this file): each key and its line of JSON.
    pub fn objects<'a>(&'a self, kind: &'a Kind) -> impl Iterator<Item = (&'a Key, &'a str)> {
        kind.objects
            .iter()
            .filter_map(|(k, r)| Some((k, self.text.get(r.clone())?)))
    }
}

/// Writes a cache file, kind by kind, object by object (no copy of the whole in memory).
pub struct Writer<'a> {
    out: &'a mut dyn Write,
    /// Objects the last kind announced and not yet written.
    owed: usize,
}

impl Writer<'_> {
    /// Starts a kind of `count` objects.
    pub fn kind(&mut self, url: &str, newest: u64, count: usize) -> io::Result<()> {
        self.settled()?;
        let kh = KindHeader {
            url: url.to_owned(),
            newest,
            objects: count,
        };
        serde_json::to_writer(&mut *self.out, &kh)?;
        self.out.write_all(b"\n")?;
        self.owed = count;
        Ok(())
    }

    /// One object of the kind: its key and its compact JSON (no newline in it; no tab in a key).
    pub fn object(&mut self, (ns, name): &Key, json: &[u8]) -> io::Result<()> {
        if self.owed == 0 || json.contains(&b'\n') {
            return Err(io::Error::other(
                "an object the kind did not announce, or not on one line",
            ));
        }
        self.owed -= 1;
        let line = [
            ns.as_deref().unwrap_or_default().as_bytes(),
            b"\t",
            name.as_deref().unwrap_or_default().as_bytes(),
            b"\t",
            json,
            b"\n",
        ];
        line.iter().try_for_each(|part| self.out.write_all(part))
    }

    fn settled(&self) -> io::Result<()> {
        match self.owed {
            0 => Ok(()),
            n => Err(io::Error::other(format!(
                "{n} objects of a kind not written"
            ))),
        }
    }
}

impl CacheFile {
    /// The file of `backend` (`flux`, `argo`) on kube context `context` of `kubeconfig`, under
    /// `data_dir/watch-cache/`. Its name and identity hash the context, its cluster and its user entries
    /// (credentials included): another cluster, user or token behind the same context name is another file.
    pub fn new(data_dir: &Path, backend: &str, kubeconfig: &Kubeconfig, context: &str) -> Self {
        let ctx = kubeconfig.contexts.iter().find(|c| c.name == context);
        let inner = ctx.and_then(|c| c.context.as_ref());
        let cluster = inner.and_then(|i| kubeconfig.clusters.iter().find(|c| c.name == i.cluster));
        let user = inner
            .and_then(|i| i.user.as_deref())
            .and_then(|u| kubeconfig.auth_infos.iter().find(|a| a.name == u));
        let entries =
            serde_json::to_string(&(backend, context, ctx, cluster, user)).unwrap_or_default();
        let identity = blake3::hash(entries.as_bytes()).to_hex().to_string();
        Self {
            path: data_dir
                .join("watch-cache")
                .join(format!("{backend}-{}.cache", &identity[..16])),
            identity,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's kinds, or `None` (with the reason in the log) when there is none it can use. Blocking.
    pub fn read(&self) -> Option<Cached> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                tracing::warn!(file = %self.path.display(), %e, "watch cache not read");
                return None;
            }
        };
        match self.parse(text) {
            Ok(c) => Some(c),
            Err(why) => {
                tracing::warn!(file = %self.path.display(), %why, "watch cache not used");
                None
            }
        }
    }

    fn parse(&self, text: String) -> Result<Cached, String> {
        let mut at = 0;
        let mut n = 0;
        // each line with its place in the text, numbered from 1
        let mut next = |what: &str| -> Result<(usize, Range<usize>), String> {
            let rest = text.get(at..).unwrap_or_default();
            let len = rest
                .find('\n')
                .ok_or_else(|| format!("ends before {what}"))?;
            let line = at..at + len;
            at += len + 1;
            n += 1;
            Ok((n, line))
        };
        let (_, first) = next("its header")?;
        let header: Header =
            serde_json::from_str(&text[first]).map_err(|e| format!("line 1: {e}"))?;
        if header.format != FORMAT {
            return Err(format!(
                "format {} (this binary reads {FORMAT})",
                header.format
            ));
        }
        if header.identity != self.identity {
            return Err("written for another context, cluster or user".into());
        }
        if header.binary != binary() {
            return Err("written by another build of setpoint".into());
        }
        let mut kinds = Vec::new();
        loop {
            let (n, line) = next("its end")?;
            let line_text = &text[line.clone()];
            if line_text == END {
                break;
            }
            let kh: KindHeader =
                serde_json::from_str(line_text).map_err(|e| format!("line {n}: {e}"))?;
            let mut objects = Vec::with_capacity(kh.objects.min(1 << 20));
            for _ in 0..kh.objects {
                let (n, line) = next("all its objects")?;
                let mut parts = text[line.clone()].splitn(3, '\t');
                let (Some(ns), Some(name), Some(json)) = (parts.next(), parts.next(), parts.next())
                else {
                    return Err(format!("line {n}: not namespace, name and object"));
                };
                if json.is_empty() {
                    return Err(format!("line {n}: no object"));
                }
                let key = |s: &str| (!s.is_empty()).then(|| s.to_owned());
                let json_at = line.end - json.len()..line.end;
                objects.push(((key(ns), key(name)), json_at));
            }
            kinds.push(Kind {
                url: kh.url,
                newest: kh.newest,
                objects,
            });
        }
        if at != text.len() {
            return Err(format!("line {}: more after the end", n + 1));
        }
        Ok(Cached {
            written: header.written,
            text,
            kinds,
        })
    }

    /// Writes the file anew with what `fill` writes, atomically (`write_atomic_with`: a temporary file in
    /// the same directory, fsync, rename over it). Blocking.
    pub fn write_with(
        &self,
        fill: impl FnOnce(&mut Writer<'_>) -> io::Result<()>,
    ) -> Result<(), String> {
        let header = Header {
            format: FORMAT,
            identity: self.identity.clone(),
            binary: binary(),
            written: Timestamp::now(),
        };
        write_atomic_with(&self.path, |out| {
            serde_json::to_writer(&mut *out, &header)?;
            out.write_all(b"\n")?;
            let mut w = Writer { out, owed: 0 };
            fill(&mut w)?;
            w.settled()?;
            w.out.write_all(END.as_bytes())?;
            w.out.write_all(b"\n")
        })
        .map_err(|e| format!("{}: {e}", self.path.display()))
    }
}

/// This build of setpoint: the size and modification time of its executable (what a store keeps, and how an
/// Application is mapped, may differ in another).
fn binary() -> String {
    let meta = std::env::current_exe().and_then(std::fs::metadata);
    match meta {
        Ok(m) => {
            let mtime = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}-{mtime}", m.len())
        }
        Err(_) => "unknown".into(),
    }
}

/// What the stores hold, in short: each kind's newest resourceVersion and number of objects. The file is not
/// written again while it stays the same (a console resumed with nothing changed writes nothing).
pub type Version = Vec<(u64, usize)>;

/// Keeps `file` written with what `fill` writes, after each quiet spell that follows a snapshot (`sent` is
/// bumped after each), at most once every [`MIN_INTERVAL`], and only when `version` says the stores changed
/// since the file was written or read (`last`); returns when `sent`'s sender is gone.
pub async fn keep_written(
    file: CacheFile,
    quiet: Duration,
    mut sent: signal::Receiver<u64>,
    mut last: Option<Version>,
    version: impl Fn() -> Version + Send + 'static,
    fill: impl Fn(&mut Writer<'_>) -> io::Result<()> + Send + Sync + 'static,
) {
    let fill = Arc::new(fill);
    loop {
        if sent.changed().await.is_err() {
            return;
        }
        // quiet for `quiet` ([`QUIET`]): every later snapshot starts the wait again
        loop {
            match tokio::time::timeout(quiet, sent.changed()).await {
                Err(_) => break,
                Ok(Err(_)) => return,
                Ok(Ok(())) => {}
            }
        }
        let now = version();
        if last.as_ref() == Some(&now) {
            continue;
        }
        last = Some(now);
        let (file, fill) = (file.clone(), Arc::clone(&fill));
        let job = tokio::task::spawn_blocking(move || file.write_with(|w| fill(w)));
        match job.await {
            Ok(Ok(())) => tracing::debug!("watch cache written"),
            Ok(Err(e)) => tracing::warn!(%e, "watch cache not written"),
            Err(e) => tracing::warn!(%e, "watch cache not written"),
        }
        tokio::time::sleep(MIN_INTERVAL).await;
    }
}

type Item = watcher::Result<Event<Lean>>;

/// The watcher events of `api`: from resourceVersion `from` when given (a resumed watch, see the module's
/// comment; it begins with `InitDone` once the cached objects are taken as current), else kube-runtime's
/// watcher (a streaming list, then a watch). After a resumed watch fails, or its version is gone, the
/// events are kube-runtime's, beginning with `Init`.
pub fn events(api: Api<Lean>, from: Option<u64>) -> BoxStream<'static, Item> {
    match from {
        None => listing(api),
        Some(rv) => resumed(api, rv),
    }
}

fn listing(api: Api<Lean>) -> BoxStream<'static, Item> {
    watcher::watcher(api, watcher_config()).boxed()
}

enum State {
    /// Watch from `rv`; `announced`: the cached objects were taken as current already.
    Start {
        rv: u64,
        announced: bool,
    },
    Watching {
        events: BoxStream<'static, kube::Result<WatchEvent<Lean>>>,
        rv: u64,
    },
    Listing(BoxStream<'static, Item>),
}

fn resumed(api: Api<Lean>, rv: u64) -> BoxStream<'static, Item> {
    let first = (
        api,
        State::Start {
            rv,
            announced: false,
        },
        VecDeque::new(),
    );
    stream::unfold(first, |(api, mut state, mut pending)| async move {
        loop {
            if let Some(item) = pending.pop_front() {
                return Some((item, (api, state, pending)));
            }
            state = match state {
                State::Listing(mut s) => {
                    let item = s.next().await?;
                    return Some((item, (api, State::Listing(s), pending)));
                }
                State::Start { rv, announced } => {
                    start(&api, rv, announced, &mut pending).await
                }
                State::Watching { mut events, mut rv } => match events.next().await {
                    // the server ended the watch (its timeout): again from where it ended
                    None => State::Start { rv, announced: true },
                    Some(Ok(WatchEvent::Error(status))) => {
                        tracing::info!(url = api.resource_url(), %status.message, "resumed watch ended");
                        if status.code != 410 {
                            pending.push_back(Err(watcher::Error::WatchError(status)));
                        }
                        State::Listing(listing(api.clone()))
                    }
                    Some(Ok(ev)) => {
                        pending.extend(event(ev, &mut rv).map(Ok));
                        State::Watching { events, rv }
                    }
                    Some(Err(e)) => {
                        pending.push_back(Err(watcher::Error::WatchFailed(e)));
                        State::Listing(listing(api.clone()))
                    }
                },
            };
        }
    })
    .boxed()
}

/// Starts the watch from `rv`; the first time (`!announced`), waits up to [`GRACE`] for the server to say
/// that the version is gone, and otherwise queues `InitDone` (and whatever came meanwhile).
async fn start(api: &Api<Lean>, rv: u64, announced: bool, pending: &mut VecDeque<Item>) -> State {
    let url = api.resource_url();
    let mut events = match api.watch(&WatchParams::default(), &rv.to_string()).await {
        Ok(s) => s.boxed(),
        Err(e) => {
            tracing::info!(url, %e, "resumed watch refused: listing");
            return State::Listing(listing(api.clone()));
        }
    };
    if announced {
        return State::Watching { events, rv };
    }
    let mut rv = rv;
    match tokio::time::timeout(GRACE, events.next()).await {
        Err(_) => {}
        Ok(Some(Ok(WatchEvent::Error(status)))) => {
            tracing::info!(url, %status.message, "cached version gone: listing");
            return State::Listing(listing(api.clone()));
        }
        Ok(Some(Ok(ev))) => {
            pending.push_back(Ok(Event::InitDone));
            pending.extend(event(ev, &mut rv).map(Ok));
            return State::Watching { events, rv };
        }
        Ok(Some(Err(e))) => {
            tracing::info!(url, %e, "resumed watch failed: listing");
            return State::Listing(listing(api.clone()));
        }
        Ok(None) => return State::Listing(listing(api.clone())),
    }
    tracing::info!(url, rv, "watch resumed from the cache");
    pending.push_back(Ok(Event::InitDone));
    State::Watching { events, rv }
}

/// The watcher event of a watch event (none for a bookmark), `rv` moved to its version.
fn event(ev: WatchEvent<Lean>, rv: &mut u64) -> Option<Event<Lean>> {
    let mut saw = |v: Option<&str>| {
        if let Some(n) = v.and_then(|v| v.parse::<u64>().ok()) {
            *rv = (*rv).max(n);
        }
    };
    match ev {
        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
            saw(o.0.metadata.resource_version.as_deref());
            Some(Event::Apply(o))
        }
        WatchEvent::Deleted(o) => {
            saw(o.0.metadata.resource_version.as_deref());
            Some(Event::Delete(o))
        }
        WatchEvent::Bookmark(b) => {
            saw(Some(&b.metadata.resource_version));
            None
        }
        WatchEvent::Error(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig(token: &str) -> Kubeconfig {
        Kubeconfig::from_yaml(&format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: a\n\
             clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:6443'}}}}]\n\
             users: [{{name: u, user: {{token: {token}}}}}]\n\
             contexts: [{{name: a, context: {{cluster: c, user: u}}}}]\n"
        ))
        .unwrap()
    }

    type Content = Vec<(String, u64, Vec<(Key, String)>)>;

    fn content() -> Content {
        let key = |ns: Option<&str>, name: &str| (ns.map(str::to_owned), Some(name.to_owned()));
        vec![
            (
                "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations".into(),
                1234,
                vec![
                    (key(Some("ns"), "a"), r#"{"a":"x\ty"}"#.into()),
                    (key(None, "b"), "{}".into()),
                ],
            ),
            (
                "/apis/source.toolkit.fluxcd.io/v1/buckets".into(),
                0,
                Vec::new(),
            ),
        ]
    }

    fn write(file: &CacheFile, content: &Content) -> Result<(), String> {
        file.write_with(|w| {
            for (url, newest, objects) in content {
                w.kind(url, *newest, objects.len())?;
                for (k, json) in objects {
                    w.object(k, json.as_bytes())?;
                }
            }
            Ok(())
        })
    }

    fn read_back(file: &CacheFile) -> Option<Content> {
        let c = file.read()?;
        Some(
            c.kinds
                .iter()
                .map(|k| {
                    let objects = c.objects(k).map(|(k, j)| (k.clone(), j.to_owned()));
                    (k.url.clone(), k.newest, objects.collect())
                })
                .collect(),
        )
    }

    #[test]
    fn a_written_file_reads_back_as_written_for_the_same_context_and_identity_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = CacheFile::new(dir.path(), "flux", &kubeconfig("t1"), "a");
        assert!(file.read().is_none(), "no file yet");
        write(&file, &content()).unwrap();
        assert_eq!(read_back(&file), Some(content()));
        let mut c = file.read().unwrap();
        assert!(
            c.take("/apis/source.toolkit.fluxcd.io/v1/buckets")
                .is_some()
        );
        assert!(
            c.take("/apis/source.toolkit.fluxcd.io/v1/buckets")
                .is_none()
        );
        // readable by its owner only
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file.path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        // another token behind the same context name, or another backend: another file, never this one
        let other = CacheFile::new(dir.path(), "flux", &kubeconfig("t2"), "a");
        assert_ne!(other.path(), file.path());
        assert!(other.read().is_none());
        let argo = CacheFile::new(dir.path(), "argo", &kubeconfig("t1"), "a");
        assert_ne!(argo.path(), file.path());
        // a file copied over from another identity is not trusted
        std::fs::copy(file.path(), other.path()).unwrap();
        assert!(other.read().is_none());
    }

    #[test]
    fn a_write_that_fails_halfway_leaves_the_last_file_whole() {
        let dir = tempfile::tempdir().unwrap();
        let file = CacheFile::new(dir.path(), "flux", &kubeconfig("t"), "a");
        write(&file, &content()).unwrap();
        // fewer objects than announced, one not announced, one on two lines: refused, nothing replaced
        let mut short = content();
        short[0].1 = 99;
        short[0].2.pop();
        let err = file.write_with(|w| {
            w.kind(&short[0].0, 99, 2)?;
            w.object(&short[0].2[0].0, short[0].2[0].1.as_bytes())
        });
        assert!(err.is_err());
        assert!(file.write_with(|w| w.object(&(None, None), b"{}")).is_err());
        assert!(
            file.write_with(|w| {
                w.kind("u", 1, 1)?;
                w.object(&(None, None), b"{\n}")
            })
            .is_err()
        );
        assert_eq!(read_back(&file), Some(content()));
        let leftovers: Vec<_> = std::fs::read_dir(file.path().parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "temporary files left: {leftovers:?}");
    }

    #[test]
    fn a_torn_or_corrupt_file_is_not_used_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let file = CacheFile::new(dir.path(), "flux", &kubeconfig("t"), "a");
        write(&file, &content()).unwrap();
        let whole = std::fs::read_to_string(file.path()).unwrap();
        // cut anywhere: a file cut short is never read, not even in part
        for cut in 0..whole.len() {
            std::fs::write(file.path(), &whole[..cut]).unwrap();
            assert!(file.read().is_none(), "a cut at {cut} was read");
        }
        for bad in [format!("{whole}more\n"), whole.replacen("\t{}", "\t", 1)] {
            std::fs::write(file.path(), bad).unwrap();
            assert!(file.read().is_none());
        }
        // a header of another format
        let other = whole.replacen("\"format\":1", "\"format\":2", 1);
        std::fs::write(file.path(), other).unwrap();
        assert!(file.read().is_none());
    }

    #[tokio::test]
    async fn the_file_is_written_when_quiet_and_only_when_the_stores_changed() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let quiet = Duration::from_millis(50);
        let dir = tempfile::tempdir().unwrap();
        let file = CacheFile::new(dir.path(), "flux", &kubeconfig("t"), "a");
        let newest = Arc::new(AtomicU64::new(7));
        let (sent, rx) = signal::channel(0u64);
        let v = Arc::clone(&newest);
        let task = tokio::spawn(keep_written(
            file.clone(),
            quiet,
            rx,
            Some(vec![(7, 1)]),
            move || vec![(v.load(Ordering::SeqCst), 1)],
            |w| {
                w.kind("u", 1, 1)?;
                w.object(&(None, Some("a".into())), b"{}")
            },
        ));
        // a snapshot while the stores are as the file was read: nothing written, however long it is quiet
        sent.send_modify(|n| *n += 1);
        tokio::time::sleep(quiet * 6).await;
        assert!(!file.path().exists());
        // a change: written once quiet (polled, at most 5 s)
        newest.store(8, Ordering::SeqCst);
        sent.send_modify(|n| *n += 1);
        for _ in 0..100 {
            if file.path().exists() {
                break;
            }
            tokio::time::sleep(quiet).await;
        }
        assert!(file.read().is_some());
        task.abort();
    }

    #[test]
    fn watch_events_move_the_version_and_bookmarks_are_not_events() {
        let obj = |rv: &str| {
            let mut o = Lean(kube::api::DynamicObject {
                types: None,
                metadata: Default::default(),
                data: serde_json::Value::Null,
            });
            o.0.metadata.resource_version = Some(rv.into());
            o
        };
        let mut rv = 10;
        assert!(matches!(
            event(WatchEvent::Added(obj("12")), &mut rv),
            Some(Event::Apply(_))
        ));
        assert_eq!(rv, 12);
        assert!(matches!(
            event(WatchEvent::Deleted(obj("15")), &mut rv),
            Some(Event::Delete(_))
        ));
        assert_eq!(rv, 15);
        // an older or opaque version never moves it back
        event(WatchEvent::Modified(obj("11")), &mut rv);
        event(WatchEvent::Modified(obj("opaque")), &mut rv);
        assert_eq!(rv, 15);
        let bookmark: WatchEvent<Lean> = serde_json::from_value(serde_json::json!({
            "type": "BOOKMARK",
            "object": {"apiVersion": "v1", "kind": "X", "metadata": {"resourceVersion": "20"}},
        }))
        .unwrap();
        assert!(event(bookmark, &mut rv).is_none());
        assert_eq!(rv, 20);
    }
}
