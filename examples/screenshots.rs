//! Renders every view of the console on the demo workspace with the real renderer and writes SVG files
//! to `screenshots/` (one `<text>` run per style, colours from the theme).
//!
//!     cargo run --example screenshots [-- OUT_DIR]
//!
//! PNG copies: `for f in screenshots/*.svg; do rsvg-convert "$f" -o "${f%.svg}.png"; done`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::Arc;

use jiff::Timestamp;
use kube::api::DynamicObject;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::KeyEvent;
use ratatui::style::{Color, Modifier};

use setpoint::backend::local::{LocalBackend, demo};
use setpoint::backend::{Backend, DiffBase, Reconciler, Update};
use setpoint::config::Settings;
use setpoint::config::keymap::{Key, Keymap};
use setpoint::config::theme::{ColorDepth, Theme};
use setpoint::model::{Action, BackendKind, ContextHealth, ContextState, DiffReport, Revision};
use setpoint::tui::app::{App, Effect, Loadable, Msg, Setup};
use setpoint::tui::compare::Compared;
use setpoint::tui::diffdoc::DiffDoc;
use setpoint::tui::views;

const W: u16 = 120;
const H: u16 = 32;

struct Shots {
    backend: LocalBackend,
    out: PathBuf,
}

impl Shots {
    async fn app(&self, read_only: bool) -> App {
        let info = self.backend.info();
        let setup = Setup {
            theme: Theme::load("default", None, ColorDepth::Ansi16).unwrap(),
            keymap: Keymap::load("default", None).unwrap(),
            ascii: false,
            read_only,
            backend: info.kind.to_string(),
            context: info.context.clone(),
            contexts: vec![info.context.clone()],
            themes: vec!["default".into()],
        };
        let mut app = App::new(setup, (W, H), Timestamp::now());
        let mut snap = self.backend.snapshot().await.unwrap();
        // As the console's composite backend describes its one context: a console embeds the agent when
        // none runs, except in read-only audit mode: it never starts one.
        snap.contexts = vec![ContextState {
            name: info.context.clone(),
            backend: info.kind,
            workspace: info.workspace.clone(),
            read_only,
            health: ContextHealth::Live,
            since: None,
            message: None,
            reconciler: Some(if read_only {
                Reconciler::None
            } else {
                Reconciler::Embedded
            }),
        }];
        app.update(Msg::Backend(Update::Snapshot(snap)), Timestamp::now());
        app
    }

    /// Presses a key and answers the loads it asks for from the real backend.
    async fn press(&self, app: &mut App, key: &str) {
        let k = Key::parse(key).unwrap();
        let effects = app.update(Msg::Key(KeyEvent::new(k.code, k.mods)), Timestamp::now());
        for e in effects {
            let msg = match e {
                Effect::LoadDiff { seq, unit } => Msg::Diff {
                    seq,
                    result: self
                        .backend
                        .diff_report(&unit)
                        .await
                        .map(|r| DiffDoc::from_report(&r))
                        .map_err(|e| e.to_string()),
                },
                Effect::LoadHistory { seq, unit } => Msg::History {
                    seq,
                    result: self.backend.history(&unit).await.map_err(|e| e.to_string()),
                },
                Effect::LoadEvents { seq, unit } => Msg::Events {
                    seq,
                    result: self.backend.events(&unit).await.map_err(|e| e.to_string()),
                },
                Effect::LoadCommitDiff {
                    seq,
                    unit,
                    revision,
                } => Msg::Diff {
                    seq,
                    result: self.doc(&unit, &revision, DiffBase::Parent).await,
                },
                Effect::LoadCompare { seq, a, b } => Msg::Compare {
                    seq,
                    result: self
                        .backend
                        .compare(&a, &b)
                        .await
                        .map(|c| Box::new(Compared::new(c)))
                        .map_err(|e| e.to_string()),
                },
                Effect::LoadPreview {
                    seq,
                    unit,
                    revision,
                } => Msg::Preview {
                    seq,
                    result: self.doc(&unit, &revision, DiffBase::Live).await,
                },
                _ => continue,
            };
            app.update(msg, Timestamp::now());
        }
    }

    async fn doc(
        &self,
        unit: &str,
        revision: &Revision,
        base: DiffBase,
    ) -> Result<DiffDoc, String> {
        self.backend
            .diff_at(unit, revision, base)
            .await
            .map(|o| DiffDoc::build(&o))
            .map_err(|e| e.to_string())
    }

    async fn keys(&self, app: &mut App, keys: &[&str]) {
        for k in keys {
            self.press(app, k).await;
        }
    }

    fn save(&self, name: &str, app: &App) {
        let mut terminal = Terminal::new(TestBackend::new(W, H)).unwrap();
        terminal.draw(|f| views::render(f, app)).unwrap();
        let svg = to_svg(terminal.backend().buffer());
        let path = self.out.join(format!("{name}.svg"));
        std::fs::write(&path, svg).unwrap();
        println!("{}", path.display());
    }
}

#[tokio::main]
async fn main() {
    let out = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("screenshots"));
    std::fs::create_dir_all(&out).unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let ws = tmp.path().join("demo");
    let made =
        tokio::task::spawn_blocking(move || demo::create(&ws, false, Arc::new(|_: &str| {})))
            .await
            .unwrap()
            .unwrap();
    // One more hand edit on staging (besides the demo's own drift), so the diff shows word emphasis.
    let live = made.dir.join("live/staging/app.yaml");
    if let Ok(text) = std::fs::read_to_string(&live) {
        let edited = text
            .replace("pool: 10", "pool: 25")
            .replace("level: info", "level: debug");
        std::fs::write(&live, edited).unwrap();
    }
    let backend = LocalBackend::open(&made.dir, &Settings::default()).unwrap();
    let s = Shots { backend, out };

    let app = s.app(false).await;
    s.save("units", &app);

    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "enter"]).await;
    s.save("detail", &app);

    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "d"]).await;
    s.save("diff", &app);

    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "h", "down"]).await;
    s.save("history", &app);

    let mut app = s.app(false).await;
    s.keys(&mut app, &["s"]).await;
    for c in "incident 4711: bad pool size".chars() {
        s.press(&mut app, &c.to_string()).await;
    }
    s.keys(&mut app, &["enter", "p", "r"]).await;
    s.save("confirm", &app);

    // Promotion compare: what staging runs that prod has not got yet.
    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "C"]).await;
    s.save("compare", &app);

    let mut app = s.app(false).await;
    s.keys(&mut app, &["?"]).await;
    s.save("help", &app);

    let mut app = s.app(true).await;
    s.keys(&mut app, &["end", "s"]).await;
    s.save("read-only", &app);

    // What a commit changed, and the rollback confirmation with its preview.
    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "h", "down", "enter"]).await;
    s.save("commit", &app);
    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "h", "down", "b"]).await;
    s.save("rollback", &app);

    // A unit held by a rollback: pinned, never shown as ready.
    let history = s.backend.history("local/staging").await.unwrap();
    if let Some(older) = history.get(1) {
        let rollback = Action::Rollback {
            to: older.revision.clone(),
            reason: "bad pool size".into(),
            suspend_parent: false,
        };
        s.backend.act("local/staging", &rollback).await.unwrap();
    }
    let mut app = s.app(false).await;
    s.keys(&mut app, &["end"]).await;
    s.save("held", &app);

    s.save(
        "contexts",
        &two_contexts(&made.dir, &tmp.path().join("ops-eu")).await,
    );

    // A diff that could not cover everything says so above the panes, as the Flux backend reports it (the
    // demo's objects with a Flux-shaped coverage: there is no cluster here).
    let mut app = s.app(false).await;
    s.keys(&mut app, &["end", "d"]).await;
    let objects = s.backend.diff("local/staging").await.unwrap();
    let report = DiffReport {
        objects,
        desired_from: Some(
            "applied revision main@sha1:5f2c9e1 (the source-controller artifact)".into(),
        ),
        uncovered: vec!["postBuild.substituteFrom Secret/apps/vars cannot be read (403)".into()],
        notes: vec!["skipped ConfigMap/apps/legacy: annotated reconcile: disabled".into()],
    };
    if let Loadable::Ready(doc) = &mut app.diff.doc {
        *doc = DiffDoc::from_report(&report);
    }
    s.save("diff-coverage", &app);

    let (units, detail) = flux_console();
    s.save("flux-units", &units);
    s.save("flux-detail", &detail);
    let (units, detail) = argo_console();
    s.save("argo-units", &units);
    s.save("argo-detail", &detail);
    drop(tmp);
}

/// Kustomizations and their GitRepository as the Flux backend maps them, from objects dumped from the test
/// tier's real controllers (`src/backend/flux/fixtures`): the units view, and the detail of the one that is
/// ready with its conditions and inventory.
fn flux_console() -> (App, App) {
    use setpoint::backend::flux::{detail, kinds, map};
    let ks: Vec<DynamicObject> = [
        include_str!("../src/backend/flux/fixtures/ks-ready.json"),
        include_str!("../src/backend/flux/fixtures/ks-suspended.json"),
        include_str!("../src/backend/flux/fixtures/ks-dependent.json"),
        include_str!("../src/backend/flux/fixtures/ks-badpath.json"),
    ]
    .into_iter()
    .map(parse)
    .collect();
    let repo = parse(include_str!(
        "../src/backend/flux/fixtures/gitrepo-apps.json"
    ));
    let objects = ks
        .iter()
        .map(|o| (kinds::KUSTOMIZATION, o))
        .chain([(kinds::GIT_REPOSITORY, &repo)]);
    let ready = &ks[0];
    let id = format!(
        "flux/kind-tier/{}/Kustomization/{}",
        ready.metadata.namespace.as_deref().unwrap(),
        ready.metadata.name.as_deref().unwrap()
    );
    let detail = setpoint::model::Detail {
        unit: id.clone(),
        conditions: detail::conditions(ready),
        inventory: detail::inventory(ready).unwrap(),
        inventory_note: None,
    };
    cluster_console(
        BackendKind::Flux,
        map::snapshot(CLUSTER, objects),
        &id,
        detail,
    )
}

/// Applications as the Argo CD backend maps them, from objects dumped from the tier's real
/// application-controller (`src/backend/argo/fixtures`): the units view, and the detail of the one whose last
/// sync the controller failed.
fn argo_console() -> (App, App) {
    use setpoint::backend::argo::{detail, map};
    let apps: Vec<DynamicObject> = [
        include_str!("../src/backend/argo/fixtures/auto.json"),
        include_str!("../src/backend/argo/fixtures/manual.json"),
        include_str!("../src/backend/argo/fixtures/broken.json"),
        include_str!("../src/backend/argo/fixtures/multi.json"),
        include_str!("../src/backend/argo/fixtures/rejected.json"),
    ]
    .into_iter()
    .map(parse)
    .collect();
    let rejected = &apps[4];
    let id = map::unit_id(
        CLUSTER,
        rejected.metadata.namespace.as_deref().unwrap(),
        rejected.metadata.name.as_deref().unwrap(),
    );
    let detail = detail::detail(&id, rejected);
    // the project's sync windows as the watch judges them: a freeze over one Application, and a window that
    // lets a manual sync through over another
    let project = parse(
        r#"{"apiVersion": "argoproj.io/v1alpha1", "kind": "AppProject",
            "metadata": {"name": "default", "namespace": "argocd"},
            "spec": {"syncWindows": [
              {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["broken"],
               "description": "freeze"},
              {"kind": "deny", "schedule": "* * * * *", "duration": "1h", "applications": ["manual"],
               "manualSync": true}]}}"#,
    );
    let mut snap = map::snapshot(CLUSTER, &apps);
    setpoint::backend::argo::windows::judge_snapshot(
        &mut snap,
        CLUSTER,
        apps.iter(),
        Ok(&[project]),
        Timestamp::now(),
    );
    cluster_console(BackendKind::Argo, snap, &id, detail)
}

/// The kube context of the cluster screenshots.
const CLUSTER: &str = "kind-tier";

fn parse(json: &str) -> DynamicObject {
    serde_json::from_str(json).unwrap()
}

/// The console on one kube context showing `snap`: the units view, and the detail of `id` answered with
/// `detail` (no cluster here for Events: none).
fn cluster_console(
    backend: BackendKind,
    mut snap: setpoint::model::Snapshot,
    id: &str,
    detail: setpoint::model::Detail,
) -> (App, App) {
    snap.contexts = vec![ContextState::live_cluster(CLUSTER, backend)];
    let setup = || Setup {
        theme: Theme::load("default", None, ColorDepth::Ansi16).unwrap(),
        keymap: Keymap::load("default", None).unwrap(),
        ascii: false,
        read_only: false,
        backend: backend.to_string(),
        context: CLUSTER.into(),
        contexts: vec![CLUSTER.into()],
        themes: vec!["default".into()],
    };
    let now = Timestamp::now();
    let mut units = App::new(setup(), (W, H), now);
    units.update(Msg::Backend(Update::Snapshot(snap.clone())), now);
    let mut app = App::new(setup(), (W, H), now);
    app.update(Msg::Backend(Update::Snapshot(snap)), now);
    while app.current_unit().map(|u| u.id.as_str()) != Some(id) {
        let before = app.current_unit().map(|u| u.id.clone());
        press_key(&mut app, "down");
        assert_ne!(
            app.current_unit().map(|u| u.id.clone()),
            before,
            "{id} not in the units view"
        );
    }
    for e in press_key(&mut app, "enter") {
        let msg = match e {
            Effect::LoadDetail { seq, .. } => Msg::Detail {
                seq,
                result: Ok(detail.clone()),
            },
            Effect::LoadEvents { seq, .. } => Msg::Events {
                seq,
                result: Ok(Vec::new()),
            },
            _ => continue,
        };
        app.update(msg, now);
    }
    (units, app)
}

fn press_key(app: &mut App, key: &str) -> Vec<Effect> {
    let k = Key::parse(key).unwrap();
    app.update(Msg::Key(KeyEvent::new(k.code, k.mods)), Timestamp::now())
}

/// The demo beside a second, read-only demo workspace `ops-eu` with the same environments, as one console
/// over both shows them.
async fn two_contexts(demo_dir: &std::path::Path, other: &std::path::Path) -> App {
    use setpoint::audit::AuditLog;
    use setpoint::backend::{Audited, Composite, ReadOnly};
    let other = other.to_owned();
    let made =
        tokio::task::spawn_blocking(move || demo::create(&other, false, Arc::new(|_: &str| {})))
            .await
            .unwrap()
            .unwrap();
    let log = AuditLog::new(made.dir.join("audit.jsonl"));
    let demo: Arc<dyn Backend> =
        Arc::new(LocalBackend::open(demo_dir, &Settings::default()).unwrap());
    let ops: Arc<dyn Backend> = Arc::new(ReadOnly::new(Arc::new(
        LocalBackend::open(&made.dir, &Settings::default()).unwrap(),
    )));
    let composite = Composite::new(vec![
        Arc::new(Audited::new(demo, log.clone())),
        Arc::new(Audited::new(ops, log)),
    ]);
    let mut snap = composite.snapshot().await.unwrap();
    for c in &mut snap.contexts {
        c.reconciler = Some(if c.read_only {
            Reconciler::None
        } else {
            Reconciler::Embedded
        });
    }
    let info = composite.info();
    let setup = Setup {
        theme: Theme::load("default", None, ColorDepth::Ansi16).unwrap(),
        keymap: Keymap::load("default", None).unwrap(),
        ascii: false,
        read_only: false,
        backend: info.kind.to_string(),
        context: info.context,
        contexts: vec!["demo".into(), "ops-eu".into()],
        themes: vec!["default".into()],
    };
    let mut app = App::new(setup, (W, H), Timestamp::now());
    app.update(Msg::Backend(Update::Snapshot(snap)), Timestamp::now());
    app
}

/// The xterm palette for the 16 ANSI colours; the console's default theme uses only these.
fn rgb(c: Color) -> Option<String> {
    let hex = |r: u8, g: u8, b: u8| format!("#{r:02x}{g:02x}{b:02x}");
    Some(match c {
        Color::Reset => return None,
        Color::Black => hex(0x1d, 0x1f, 0x21),
        Color::Red => hex(0xcc, 0x33, 0x33),
        Color::Green => hex(0x4e, 0xb3, 0x4e),
        Color::Yellow => hex(0xd7, 0xaf, 0x2f),
        Color::Blue => hex(0x4a, 0x7f, 0xd0),
        Color::Magenta => hex(0xb0, 0x5c, 0xc8),
        Color::Cyan => hex(0x3c, 0xb3, 0xc0),
        Color::Gray => hex(0xc5, 0xc8, 0xc6),
        Color::DarkGray => hex(0x80, 0x80, 0x80),
        Color::LightRed => hex(0xff, 0x66, 0x66),
        Color::LightGreen => hex(0x8a, 0xe2, 0x34),
        Color::LightYellow => hex(0xfc, 0xe9, 0x4f),
        Color::LightBlue => hex(0x72, 0x9f, 0xcf),
        Color::LightMagenta => hex(0xd1, 0x8c, 0xe0),
        Color::LightCyan => hex(0x6f, 0xd3, 0xdb),
        Color::White => hex(0xff, 0xff, 0xff),
        Color::Rgb(r, g, b) => hex(r, g, b),
        Color::Indexed(i) => return rgb(ansi_of(i)),
    })
}

fn ansi_of(i: u8) -> Color {
    const ORDER: [Color; 16] = [
        Color::Black,
        Color::Red,
        Color::Green,
        Color::Yellow,
        Color::Blue,
        Color::Magenta,
        Color::Cyan,
        Color::Gray,
        Color::DarkGray,
        Color::LightRed,
        Color::LightGreen,
        Color::LightYellow,
        Color::LightBlue,
        Color::LightMagenta,
        Color::LightCyan,
        Color::White,
    ];
    ORDER.get(usize::from(i)).copied().unwrap_or(Color::Gray)
}

const FG: &str = "#d8dee4";
const BG: &str = "#1b1e23";
const CW: f64 = 8.4;
const LH: f64 = 18.0;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Cells to SVG: a background rectangle and a text run per stretch of one style.
fn to_svg(buf: &Buffer) -> String {
    let (w, h) = (buf.area.width, buf.area.height);
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{:.0}" height="{:.0}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14">"#,
        f64::from(w) * CW + 16.0,
        f64::from(h) * LH + 16.0
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="{BG}" rx="6"/>"#
    );
    for y in 0..h {
        let mut x = 0;
        while x < w {
            let cell = &buf[(x, y)];
            let style = (cell.fg, cell.bg, cell.modifier);
            let start = x;
            let mut text = String::new();
            while x < w {
                let c = &buf[(x, y)];
                if (c.fg, c.bg, c.modifier) != style {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            let (mut fg, mut bg) = (rgb(style.0).unwrap_or_else(|| FG.into()), rgb(style.1));
            if style.2.contains(Modifier::REVERSED) {
                let old_bg = bg.unwrap_or_else(|| BG.into());
                bg = Some(fg);
                fg = old_bg;
            }
            let px = 8.0 + f64::from(start) * CW;
            let py = 8.0 + f64::from(y) * LH;
            let len = f64::from(x - start) * CW;
            if let Some(bg) = bg {
                let _ = writeln!(
                    s,
                    r#"<rect x="{px:.1}" y="{py:.1}" width="{len:.1}" height="{LH}" fill="{bg}"/>"#
                );
            }
            if text.trim().is_empty() {
                continue;
            }
            let weight = if style.2.contains(Modifier::BOLD) {
                r#" font-weight="bold""#
            } else {
                ""
            };
            let opacity = if style.2.contains(Modifier::DIM) {
                r#" opacity="0.6""#
            } else {
                ""
            };
            let _ = writeln!(
                s,
                r#"<text x="{px:.1}" y="{:.1}" fill="{fg}"{weight}{opacity} textLength="{len:.1}" lengthAdjust="spacingAndGlyphs" xml:space="preserve">{}</text>"#,
                py + LH * 0.75,
                escape(&text)
            );
        }
    }
    s.push_str("</svg>\n");
    s
}
