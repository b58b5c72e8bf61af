//! `setpoint demo`: a self-contained workspace with a real git repository (made with gix), three
//! environments, a commit that breaks prod's overlay, a suspended environment and drift.

use std::fs;
use std::path::{Path, PathBuf};

use gix::ObjectId;
use gix::bstr::ByteSlice;
use gix::objs::tree::EntryKind;

use super::agent::Agent;
use super::state::{Control, Intent};
use super::workspace::Workspace;
use jiff::Timestamp;

/// Marks a directory as made by `setpoint demo`, so `--force` only ever replaces a demo.
pub const MARKER: &str = ".setpoint-demo";

const AUTHORS: &[(&str, &str)] = &[
    ("Ada Lovelace", "ada@example.org"),
    ("Grace Hopper", "grace@example.org"),
    ("Linus Torvalds", "linus@example.org"),
    ("Margaret Hamilton", "margaret@example.org"),
];

const WORKSPACE: &str = "\
# setpoint demo workspace: one source, three environments (see setpoint's README, \"The embedded agent\").
sources:
  - name: platform-config
    url: ./repos/platform-config.git
    branch: main
    interval: 1m
environments:
  - name: dev
    source: platform-config
    path: environments/dev
    target: ./live/dev
    interval: 30s
    drift: repair
  - name: staging
    source: platform-config
    path: environments/staging
    target: ./live/staging
    interval: 30s
    drift: report
  - name: prod
    source: platform-config
    path: environments/prod
    target: ./live/prod
    interval: 1m
    protected: true
    dependsOn: [staging]
";

const APP_YAML: &str = "\
service:
  name: checkout
  image: registry.example.org/checkout:1.3.9
  replicas: 2
  port: 8080
logging:
  level: info
  format: json
database:
  host: db.internal
  pool: 10
  timeout: 5s
";

const NGINX_CONF: &str = "\
worker_processes auto;
events {
    worker_connections 1024;
}
http {
    upstream checkout {
        server 127.0.0.1:8080;
    }
    server {
        listen 80;
        location / {
            proxy_pass http://checkout;
        }
    }
}
";

const FLAGS_JSON: &str = "{\n  \"dark-mode\": true,\n  \"express-shipping\": false\n}\n";

/// One commit of the demo history: who, what, and the files it sets (`None` removes).
struct Step {
    author: usize,
    summary: &'static str,
    files: Vec<(&'static str, Option<String>)>,
}

fn history() -> Vec<Step> {
    let s = |author, summary, files: Vec<(&'static str, Option<String>)>| Step {
        author,
        summary,
        files,
    };
    let f = |t: &str| Some(t.to_owned());
    vec![
        s(0, "Add base configuration for the checkout service", vec![
            ("base/app.yaml", f(APP_YAML)),
            ("base/nginx.conf", f(NGINX_CONF)),
            ("base/flags.json", f(FLAGS_JSON)),
        ]),
        s(0, "Add dev, staging and prod overlays", vec![
            ("environments/dev/overlay.yaml", f("bases: [base]\n")),
            ("environments/dev/app.patch.yaml", f("service:\n  replicas: 1\nlogging:\n  level: debug\n")),
            ("environments/staging/overlay.yaml", f("bases: [base]\n")),
            ("environments/staging/app.patch.yaml", f("service:\n  replicas: 2\n")),
            ("environments/prod/overlay.yaml", f("bases: [base]\n")),
            ("environments/prod/app.patch.yaml", f("service:\n  replicas: 6\nlogging:\n  level: warn\n")),
        ]),
        s(1, "nginx: compress JSON responses", vec![(
            "base/nginx.conf",
            f(&NGINX_CONF.replace("http {\n", "http {\n    gzip on;\n    gzip_types application/json;\n")),
        )]),
        s(2, "Bump checkout to 1.4.0", vec![("base/app.yaml", f(&APP_YAML.replace("1.3.9", "1.4.0")))]),
        s(3, "staging: scale to 3 replicas for load tests", vec![(
            "environments/staging/app.patch.yaml",
            f("service:\n  replicas: 3\n"),
        )]),
        s(1, "flags: add new-checkout (off everywhere)", vec![(
            "base/flags.json",
            f("{\n  \"dark-mode\": true,\n  \"express-shipping\": false,\n  \"new-checkout\": false\n}\n"),
        )]),
        s(2, "prod: raise the database pool to 50", vec![(
            "environments/prod/app.patch.yaml",
            f("service:\n  replicas: 6\nlogging:\n  level: warn\ndatabase:\n  pool: 50\n"),
        )]),
        s(1, "nginx: add a /healthz location", vec![(
            "base/nginx.conf",
            f(&NGINX_CONF
                .replace("http {\n", "http {\n    gzip on;\n    gzip_types application/json;\n")
                .replace("        location / {", "        location /healthz {\n            return 200 'ok';\n        }\n        location / {")),
        )]),
        s(3, "dev: turn on new-checkout", vec![("environments/dev/flags.patch.json", f("{\"new-checkout\": true}\n"))]),
        s(2, "Bump checkout to 1.4.2", vec![("base/app.yaml", f(&APP_YAML.replace("1.3.9", "1.4.2")))]),
        s(0, "staging: canary new-checkout", vec![("environments/staging/flags.patch.json", f("{\"new-checkout\": true}\n"))]),
        s(1, "prod: tune upstream timeouts", vec![(
            "environments/prod/app.patch.yaml",
            f("service:\n  replicas: 6\nlogging:\n  level: warn\ndatabase:\n  pool: 50\n timeouts:\n    read: 30s\n"),
        )]),
    ]
}

/// Number of commits applied before the breaking one arrives.
const GOOD_COMMITS: usize = 11;

/// A git repository being written with gix, commit by commit.
struct RepoWriter {
    repo: gix::Repository,
    files: std::collections::BTreeMap<String, String>,
    head: Option<ObjectId>,
}

impl RepoWriter {
    fn create(path: &Path) -> Result<Self, String> {
        fs::create_dir_all(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let repo =
            gix::init_bare(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        Ok(Self {
            repo,
            files: Default::default(),
            head: None,
        })
    }

    fn commit(&mut self, step: &Step, time: i64) -> Result<ObjectId, String> {
        for (path, content) in &step.files {
            match content {
                Some(c) => self.files.insert((*path).to_owned(), c.clone()),
                None => self.files.remove(*path),
            };
        }
        let e = |e: &dyn std::fmt::Display| format!("demo repository: {e}");
        let mut editor = self
            .repo
            .edit_tree(ObjectId::empty_tree(gix::hash::Kind::Sha1))
            .map_err(|x| e(&x))?;
        for (path, content) in &self.files {
            let blob = self
                .repo
                .write_blob(content.as_bytes())
                .map_err(|x| e(&x))?
                .detach();
            editor
                .upsert(path.as_str(), EntryKind::Blob, blob)
                .map_err(|x| e(&x))?;
        }
        let tree = editor.write().map_err(|x| e(&x))?.detach();
        let (name, email) = AUTHORS[step.author % AUTHORS.len()];
        let time = format!("{time} +0000");
        let sig = gix::actor::SignatureRef {
            name: name.as_bytes().as_bstr(),
            email: email.as_bytes().as_bstr(),
            time: &time,
        };
        let id = self
            .repo
            .commit_as(sig, sig, "refs/heads/main", step.summary, tree, self.head)
            .map_err(|x| e(&x))?
            .detach();
        self.head = Some(id);
        Ok(id)
    }
}

/// What `create` made.
pub struct Demo {
    pub dir: PathBuf,
}

/// Creates the demo workspace in `dir` and brings it to the described state: dev suspended, staging
/// drifted, prod failing on the newest commit and still running the one before.
pub fn create(dir: &Path, force: bool, log: super::LogSink) -> Result<Demo, String> {
    if dir.exists() {
        if !force {
            return Err(format!(
                "{} already exists; pass --force to replace it, or choose another directory",
                dir.display()
            ));
        }
        if !dir.join(MARKER).exists() {
            return Err(format!(
                "{} exists and was not made by `setpoint demo`; refusing to replace it even with --force",
                dir.display()
            ));
        }
        fs::remove_dir_all(dir).map_err(|e| format!("cannot remove {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    fs::write(
        dir.join(MARKER),
        "made by `setpoint demo`; `setpoint demo --force` may replace this directory\n",
    )
    .map_err(|e| e.to_string())?;
    fs::write(dir.join(super::spec::FILE_NAME), WORKSPACE).map_err(|e| e.to_string())?;

    let steps = history();
    let now = Timestamp::now().as_second();
    let start = now - 6 * 3600 * steps.len() as i64;
    let mut repo = RepoWriter::create(&dir.join("repos/platform-config.git"))?;
    for (i, step) in steps.iter().take(GOOD_COMMITS).enumerate() {
        repo.commit(step, start + 6 * 3600 * i as i64)?;
    }

    let ws = Workspace::load(dir).map_err(|e| e.to_string())?;
    let lock = super::AgentLock::acquire(&ws.state.lock())?;
    Agent::new(ws.clone(), log.clone()).run_once();

    // The newest commit breaks prod's overlay.
    if let Some(step) = steps.get(GOOD_COMMITS) {
        repo.commit(step, now - 1800)?;
    }
    // dev is held by an operator, with a reason.
    let (user, host) = crate::audit::who();
    let control = Control {
        suspend: Some(Intent {
            by: format!("{user}@{host}"),
            at: Timestamp::now(),
            reason: "load test in progress: hold dev at checkout 1.4.2".into(),
        }),
        ..Control::default()
    };
    ws.save_control("dev", &control)?;
    // Someone edited staging by hand.
    let drifted = ws
        .spec
        .environment("staging")
        .map(|e| e.target.join("nginx.conf"));
    if let Some(path) = drifted {
        let text = fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        fs::write(
            &path,
            text.replace(
                "worker_connections 1024;",
                "worker_connections 4096;  # hotfix, do not revert",
            ),
        )
        .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Agent::new(ws, log).run_once();
    drop(lock);
    Ok(Demo {
        dir: dir.to_owned(),
    })
}
