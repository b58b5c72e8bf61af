//! The README's promises about the embedded agent that had no test: the real binary on real git repositories
//! in temp dirs (and one served over git's smart HTTP protocol on 127.0.0.1).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use support::{RunningAgent, Ws, base_repo, files_below, git, wait_for};

#[test]
fn depends_on_holds_an_environment_back() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.write("envs/b/overlay.yaml", "bases: [base]\n");
    ws.write("envs/a/broken.yaml", "a: [1\n");
    ws.commit("a does not render");
    ws.simple_spec(&[("a", "envs/a", ""), ("b", "envs/b", "    dependsOn: [a]\n")]);
    ws.ok(&["agent", "--once"]);
    let b = ws.unit("b");
    assert_eq!(b["status"], "progressing", "{b}");
    assert!(
        b["message"]
            .as_str()
            .unwrap()
            .starts_with("waiting for a is failed"),
        "{b}"
    );
    assert!(files_below(&ws.live("b")).is_empty(), "b is held back");

    ws.remove("envs/a/broken.yaml");
    let c = ws.commit("a renders");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["status"], "ready");
    assert_eq!(ws.unit("b")["appliedRevision"], format!("main@sha1:{c}"));
    assert_eq!(files_below(&ws.live("b")), ["app.yaml", "nginx.conf"]);
}

#[test]
fn suspend_true_in_the_workspace_file_holds_the_environment() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    suspend: true\n")]);
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "suspended", "{u}");
    assert!(u["message"].as_str().unwrap().contains("`suspend: true`"));
    assert!(files_below(&ws.live("a")).is_empty(), "nothing applied");
    let resume = ws.run(&["resume", "a"]);
    assert_eq!(resume.status.code(), Some(3), "resume is refused");
    assert!(String::from_utf8_lossy(&resume.stderr).contains("edit the file to resume"));
}

#[test]
fn prune_false_keeps_files_no_longer_desired() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "    prune: false\n")]);
    ws.ok(&["agent", "--once"]);
    ws.remove("base/nginx.conf");
    let c = ws.commit("nginx.conf removed");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["appliedRevision"], format!("main@sha1:{c}"));
    assert_eq!(
        ws.read_live("a", "nginx.conf").unwrap(),
        "worker_connections 1024;\n"
    );
}

fn one_source(ws: &Ws, url: &str, reference: &str) {
    ws.spec(&format!(
        "sources:\n  - name: src\n    url: {url}\n{reference}environments:\n  - name: a\n    source: src\n    path: envs/a\n    target: ./live/a\n"
    ));
}

#[test]
fn tag_and_commit_refs_are_followed() {
    let ws = Ws::new();
    let first = base_repo(&ws);
    git(&ws.repo(), &["tag", "v1"]);
    ws.write("base/app.yaml", "name: web\nreplicas: 1\nimage: v2\n");
    let second = ws.commit("v2");

    one_source(&ws, "./repo", "    tag: v1\n");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["appliedRevision"], format!("v1@sha1:{first}"));
    assert!(!ws.read_live("a", "app.yaml").unwrap().contains("v2"));
    assert_eq!(ws.source()["ref"], "tag:v1");

    one_source(&ws, "./repo", &format!("    commit: {}\n", &second[..12]));
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["appliedRevision"], format!("sha1:{second}"));
    assert!(ws.read_live("a", "app.yaml").unwrap().contains("v2"));
}

/// `python3 -m http.server`'s CGI handler running `git http-backend`: git's smart HTTP protocol on a free port.
struct SmartHttp {
    child: Child,
    port: u16,
}

impl SmartHttp {
    fn serve(root: &Path, dir: &Path) -> Self {
        std::fs::create_dir_all(dir.join("cgi-bin")).unwrap();
        let script = dir.join("cgi-bin/git");
        std::fs::write(
            &script,
            format!(
                "#!/bin/sh\nGIT_PROJECT_ROOT='{}' GIT_HTTP_EXPORT_ALL=1 exec git http-backend\n",
                root.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let server = r#"
import http.server, os
http.server.nobody_uid = os.getuid
class H(http.server.CGIHTTPRequestHandler):
    def log_message(self, *a): pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
"#;
        let mut child = Command::new("python3")
            .args(["-W", "ignore", "-c", server])
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line.trim().parse().expect("the server prints its port");
        Self { child, port }
    }
}

impl Drop for SmartHttp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn file_and_smart_http_urls_are_fetched() {
    let ws = Ws::new();
    let c = base_repo(&ws);
    one_source(&ws, &format!("file://{}", ws.repo().display()), "");
    ws.ok(&["agent", "--once"]);
    assert_eq!(ws.unit("a")["appliedRevision"], format!("main@sha1:{c}"));

    let http = SmartHttp::serve(ws.path(), &ws.path().join("www"));
    let other = Ws::new();
    let url = format!("http://127.0.0.1:{}/cgi-bin/git/repo", http.port);
    one_source(&other, &url, "");
    other.ok(&["agent", "--once"]);
    let src = other.source();
    assert_eq!(src["status"], "ready", "{src}");
    assert_eq!(other.unit("a")["appliedRevision"], format!("main@sha1:{c}"));
    assert_eq!(
        other.read_live("a", "app.yaml").unwrap(),
        "name: web\nreplicas: 3\n"
    );

    // A repository the server does not have: said in words.
    let missing = format!("http://127.0.0.1:{}/cgi-bin/git/missing", http.port);
    one_source(&other, &missing, "");
    other.ok(&["agent", "--once"]);
    let src = other.source();
    assert_eq!(src["status"], "failed", "{src}");
    assert!(
        src["message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("cannot fetch {missing}: repository not found")),
        "{src}"
    );
}

#[test]
fn deeply_nested_yaml_is_rejected_with_a_clear_message() {
    let ws = Ws::new();
    base_repo(&ws);
    let depth = 10_001;
    let mut deep = "[".repeat(depth);
    deep.push_str(&"]".repeat(depth));
    deep.push('\n');
    ws.write("envs/a/deep.yaml", &format!("# nested\n{deep}"));
    ws.commit("too deep");
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    let u = ws.unit("a");
    assert_eq!(u["status"], "failed", "{u}");
    let msg = u["message"].as_str().unwrap();
    assert!(
        msg.contains("envs/a/deep.yaml:2: nested deeper than 10000 levels; flatten the structure"),
        "{msg}"
    );
    assert!(files_below(&ws.live("a")).is_empty());
}

#[test]
fn sigint_releases_the_lock_and_exits_0() {
    let ws = Ws::new();
    base_repo(&ws);
    ws.simple_spec(&[("a", "envs/a", "")]);
    let mut agent = RunningAgent::start(&ws);
    wait_for(Duration::from_secs(10), "first apply", || {
        ws.read_live("a", "app.yaml")
    });
    agent.signal("INT");
    let status = agent.wait_exit(Duration::from_secs(10));
    assert!(status.success(), "{status:?}");
    ws.ok(&["agent", "--once"]);
}

#[test]
fn sigterm_while_writing_large_files_leaves_each_old_or_new() {
    let ws = Ws::new();
    const FILES: usize = 24;
    const SIZE: usize = 3 << 20;
    let content = |v: char, i: usize| format!("{i}\n{}\n", v.to_string().repeat(SIZE));
    for i in 0..FILES {
        ws.write(&format!("envs/a/big{i:02}.txt"), &content('a', i));
    }
    ws.commit("old");
    ws.simple_spec(&[("a", "envs/a", "")]);
    ws.ok(&["agent", "--once"]);
    for i in 0..FILES {
        ws.write(&format!("envs/a/big{i:02}.txt"), &content('b', i));
    }
    ws.commit("new");

    let mut agent = RunningAgent::start(&ws);
    wait_for(
        Duration::from_secs(30),
        "the agent writing a large file",
        || {
            let writing = std::fs::read_dir(ws.live("a")).unwrap().flatten().any(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(".setpoint-tmp.")
            });
            writing.then_some(())
        },
    );
    agent.signal("TERM");
    let status = agent.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "exit 0 on SIGTERM: {status:?}");
    let (mut old, mut new) = (0, 0);
    for i in 0..FILES {
        let live = ws.read_live("a", &format!("big{i:02}.txt")).unwrap();
        if live == content('a', i) {
            old += 1;
        } else if live == content('b', i) {
            new += 1;
        } else {
            panic!(
                "big{i:02}.txt is neither old nor new ({} bytes)",
                live.len()
            );
        }
    }
    eprintln!("after SIGTERM: {old} old, {new} new");
    assert!(
        files_below(&ws.live("a"))
            .iter()
            .all(|f| !f.contains(".setpoint-tmp.")),
        "no temporary file left"
    );
    // The lock is released: another agent takes it and finishes the apply.
    ws.ok(&["agent", "--once"]);
    for i in 0..FILES {
        assert!(ws.read_live("a", &format!("big{i:02}.txt")).unwrap() == content('b', i));
    }
}
