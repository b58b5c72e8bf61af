#!/usr/bin/env python3
"""The setpoint console against sofka and flux9s on the same Flux cluster, side by side.

Starts the Kubernetes test tier (scripts/k8s-tier, a state dir of its own, torn down on every exit path), creates
5,000 Kustomizations and 500 GitRepositories in flux-system, all suspended (the controllers run, add their
finalizer once and then stay idle), waits until the controllers stopped writing, then runs each tool in its own
tmux session of 200x60 on the tier's kubeconfig, RUNS times in rotating order, and measures:

  shown      seconds from `tmux new-session` to the screen showing all 5,000 (see tools() for what is looked
             for, per tool), and the CPU seconds the tool had used by then
  rss        VmRSS and VmHWM of the tool's process 2 s after that
  idle cpu   CPU seconds (utime + stime, all threads) over 10 s of no input
  idle bytes bytes the tool wrote to the terminal over those 10 s (tmux pipe-pane)
  LIST/WATCH requests for kustomizations and gitrepositories the API server counted while the tool ran
             (apiserver_request_total from its /metrics, before start and after quit; a WATCH is counted
             when it ends), and the same over a window of the same length with no tool (baseline)
  keys       page down, jump to the end (from the top), one filter keystroke (after `/`): ms from handing
             `send-keys` to a tmux control-mode client to the last byte the tool wrote to the terminal before
             it stayed quiet for 300 ms (read through tmux pipe-pane), medians. It includes tmux passing
             the key in and the output out; benches/pty.rs measures setpoint's keypress in a bare pty. Timed
             alternately to the first byte of the answer (the budget) and to the last byte before quiet (a
             tool may draw again when something it fetched for the new selection arrives), 3 of each.

Prints a table with medians, ranges and setpoint/peer ratios, and exits 1 when setpoint misses one of its
budgets (all shown <= 0.5 s, RSS <= 40 MB, 0 bytes and < 0.05 s CPU per 10 s idle, 0 LIST requests,
keys <= 16 ms), 2 when a setpoint figure is missing.

Run:  benches/flux-vs-peers.py [--runs N] [--setpoint BIN] [--sofka BIN] [--flux9s BIN]
      (defaults: $CARGO_TARGET_DIR/release/setpoint or target/release/setpoint; sofka and flux9s on PATH or
      in /work/peers/bin; a peer that is not found is reported as not installed). Build setpoint first with
      `cargo build --release --locked`. Needs tmux, python3, and the tier's Go binaries (scripts/k8s-tier build).
"""

import argparse
import concurrent.futures
import http.client
import json
import os
import re
import shutil
import signal
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NS = "flux-system"
N_KS = 5000
N_GIT = 500
IDLE_S = 10.0
SETTLE_S = 2.0  # after all is shown, before RSS and the idle window
# Budgets of setpoint (issue 10 item 8).
BUDGETS = {
    "shown_s": 0.5,
    "rss_mb": 40.0,
    "idle_cpu_s": 0.05,
    "idle_bytes": 0,
    "lists": 0,
    "key_ms": 16.0,
}


def log(*a):
    print("flux-vs-peers:", *a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------------------
# the API server


class Api:
    """Requests to the tier's kube-apiserver with the admin token; one keep-alive connection per thread."""

    def __init__(self, url, token, cafile):
        m = re.match(r"https://([^:/]+):(\d+)", url)
        self.host, self.port = m.group(1), int(m.group(2))
        self.token = token
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.local = threading.local()

    def request(self, method, path, body=None):
        for attempt in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
                self.local.conn = conn
            headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = "application/json"
            try:
                conn.request(method, path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, resp.read()
            except (http.client.HTTPException, OSError):
                conn.close()
                self.local.conn = None
                if attempt == 2:
                    raise
        raise RuntimeError("unreachable")

    def metrics(self):
        status, body = self.request("GET", "/metrics")
        if status != 200:
            raise RuntimeError(f"/metrics: HTTP {status}")
        return body.decode()


def request_counts(text):
    """{verb: count} of apiserver_request_total for kustomizations and gitrepositories (all labels summed)."""
    counts = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.get("resource") not in ("kustomizations", "gitrepositories"):
            continue
        verb = labels.get("verb", "?")
        counts[verb] = counts.get(verb, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def kustomization(i):
    return {
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1",
        "kind": "Kustomization",
        "metadata": {"name": f"ks-{i:04d}", "namespace": NS, "labels": {"bench": "flux-vs-peers"}},
        "spec": {
            "interval": "10m",
            "path": f"./apps/app-{i:04d}",
            "prune": True,
            "suspend": True,
            "sourceRef": {"kind": "GitRepository", "name": f"repo-{i % N_GIT:03d}"},
        },
    }


def git_repository(i, git_url):
    return {
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "GitRepository",
        "metadata": {"name": f"repo-{i:03d}", "namespace": NS, "labels": {"bench": "flux-vs-peers"}},
        "spec": {"interval": "10m", "url": f"{git_url}/repo-{i:03d}.git", "ref": {"branch": "main"}, "suspend": True},
    }


def count(api, path):
    status, body = api.request("GET", path + "?limit=1")
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}")
    doc = json.loads(body)
    return len(doc["items"]) + doc["metadata"].get("remainingItemCount", 0)


def populate(api, git_url):
    """Creates the objects with 16 parallel keep-alive connections (an existing one is fine)."""
    if (count(api, f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NS}/kustomizations") >= N_KS
            and count(api, f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NS}/gitrepositories") >= N_GIT):
        log("the objects are there already")
        return
    jobs = [("/apis/source.toolkit.fluxcd.io/v1/namespaces/%s/gitrepositories" % NS, git_repository(i, git_url))
            for i in range(N_GIT)]
    jobs += [("/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/%s/kustomizations" % NS, kustomization(i))
             for i in range(N_KS)]

    def create(job):
        status, body = api.request("POST", job[0], json.dumps(job[1]).encode())
        if status not in (201, 409):
            raise RuntimeError(f"POST {job[0]}: HTTP {status}: {body[:300]!r}")

    t0 = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(create, jobs))
    log(f"created {N_KS} Kustomizations and {N_GIT} GitRepositories in {time.monotonic() - t0:.1f} s")


def wait_controllers_idle(api, quiet_s=5.0, limit_s=600.0):
    """Waits until no write to kustomizations/gitrepositories was counted for quiet_s (bounded)."""
    writes = lambda: sum(v for k, v in request_counts(api.metrics()).items()
                         if k in ("POST", "PUT", "PATCH", "APPLY", "UPDATE", "DELETE"))
    t0 = time.monotonic()
    last, since = writes(), time.monotonic()
    while time.monotonic() - t0 < limit_s:
        time.sleep(1.0)
        now = writes()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            log(f"the controllers are idle ({last:.0f} writes in all; waited {time.monotonic() - t0:.0f} s)")
            return
    raise RuntimeError(f"the controllers kept writing for {limit_s:.0f} s")


def list_figures(api):
    """One unpaged LIST of the Kustomizations: seconds, bytes, bytes of managedFields (for the reader)."""
    t0 = time.monotonic()
    status, body = api.request("GET", "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations")
    secs = time.monotonic() - t0
    if status != 200:
        raise RuntimeError(f"LIST: HTTP {status}")
    items = json.loads(body)["items"]
    mf = sum(len(json.dumps(o["metadata"].get("managedFields", []))) for o in items)
    return secs, len(body), mf, len(items)


def stream_secs(api):
    """Seconds until the API server has streamed the initial list of the Kustomizations over a watch (the
    bookmark that ends the initial events): the floor of `all shown` for a tool that streams."""
    conn = http.client.HTTPSConnection(api.host, api.port, context=api.ctx, timeout=60)
    t0 = time.monotonic()
    conn.request("GET", "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=1&sendInitialEvents=true"
                 "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=30",
                 headers={"Authorization": "Bearer " + api.token})
    resp, tail = conn.getresponse(), b""
    while True:
        b = resp.read1(65536)
        if not b:
            break
        tail = tail[-100:] + b
        if b"initial-events-end" in tail:
            break
    secs = time.monotonic() - t0
    conn.close()
    return secs


def watch_list_served(api):
    """Whether the API server streams the initial list over a watch (sendInitialEvents)."""
    path = ("/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations?watch=1&sendInitialEvents=true"
            "&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1")
    status, body = api.request("GET", path)
    return status == 200 and b'"k8s.io/initial-events-end":"true"' in body


# ------------------------------------------------------------------------------------------------------------
# tmux


class Tmux:
    def __init__(self, sock):
        self.sock = sock

    def run(self, *args, check=True):
        out = subprocess.run(["tmux", "-S", self.sock, *args], capture_output=True, text=True, timeout=20)
        if check and out.returncode != 0:
            raise RuntimeError(f"tmux {' '.join(args)}: {out.stderr.strip()}")
        return out.stdout

    def screen(self, target):
        return self.run("capture-pane", "-p", "-t", target)


def proc_status(pid):
    """(VmRSS MB, VmHWM MB) of pid."""
    with open(f"/proc/{pid}/status") as f:
        text = f.read()
    kb = lambda k: int(re.search(rf"^{k}:\s+(\d+) kB", text, re.M).group(1))
    return kb("VmRSS") / 1024, kb("VmHWM") / 1024


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------------------------
# the tools


class Tool:
    """How a tool is started, how "all 5,000 shown" is seen on its screen, and its keys (tmux key names)."""

    def __init__(self, name, argv, env, shown, shown_text, page, end, filter_keys):
        self.name, self.argv, self.env = name, argv, env
        self.shown, self.shown_text = shown, shown_text
        self.page, self.end, self.filter_keys = page, end, filter_keys


def tools(args, work, kubeconfig):
    out = []
    base = {"KUBECONFIG": kubeconfig, "TERM": "xterm-256color", "LANG": "C.UTF-8"}

    def home(name):
        h = os.path.join(work, "home-" + name)
        os.makedirs(h, exist_ok=True)
        return {"HOME": h, "XDG_CONFIG_HOME": h + "/.config", "XDG_STATE_HOME": h + "/.state",
                "XDG_CACHE_HOME": h + "/.cache", "XDG_DATA_HOME": h + "/.data"}

    sp = dict(base, **home("setpoint"), SETPOINT_CONFIG_DIR=work + "/sp-config", SETPOINT_DATA_DIR=work + "/sp-data")
    out.append(Tool(
        "setpoint", [args.setpoint, "--backend", "flux", "--context", "admin"], sp,
        # the units pane's title counts every unit of the snapshot
        lambda s: f"Units ({N_KS})" in s, f"the title `Units ({N_KS})`",
        page=["PageDown"], end=(["Home"], ["End"]), filter_keys=(["/"], ["7"])))
    if args.sofka:
        out.append(Tool(
            "sofka", [args.sofka, "--context", "admin", "-n", NS, "kustomizations"], dict(base, **home("sofka")),
            lambda s: bool(re.search(rf"[\[(]{N_KS}[\])]", s)),
            f"the count `[{N_KS}]` or `({N_KS})` in the title",
            page=["PageDown"], end=(["Home"], ["End"]), filter_keys=(["/"], ["7"])))
    if args.flux9s:
        out.append(Tool(
            "flux9s", [args.flux9s, "-c", "ks"], dict(base, **home("flux9s")),
            lambda s: bool(re.search(rf"[\[(]{N_KS}[\])]", s)),
            f"the count `[{N_KS}]` or `({N_KS})` on screen",
            page=["PageDown"], end=(["Home"], ["End"]), filter_keys=(["/"], ["7"])))
    return out


def wait_screen(tmux, target, pred, limit_s):
    """Polls the screen until pred(screen); returns (monotonic time it was first seen, screen) or None."""
    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        s = tmux.screen(target)
        t = time.monotonic()
        if pred(s):
            return t, s
    return None


class Output:
    """What the tool writes to its terminal, read from a FIFO that tmux pipe-pane feeds, with the time each
    chunk arrived."""

    def __init__(self, tmux, target, path):
        os.mkfifo(path)
        self.chunks = []  # (monotonic time, bytes)
        self.lock = threading.Lock()
        tmux.run("pipe-pane", "-t", target, f"exec cat > '{path}'")
        self.fd = os.open(path, os.O_RDONLY)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        while True:
            try:
                b = os.read(self.fd, 65536)
            except OSError:
                return
            if not b:
                return
            with self.lock:
                self.chunks.append((time.monotonic(), len(b)))

    def bytes_between(self, t0, t1):
        with self.lock:
            return sum(n for t, n in self.chunks if t0 <= t < t1)

    def last_after(self, t0):
        with self.lock:
            return max((t for t, _ in self.chunks if t >= t0), default=None)

    def first_after(self, t0):
        with self.lock:
            return min((t for t, _ in self.chunks if t >= t0), default=None)

    def quiet(self, quiet_s=0.3, limit_s=3.0):
        """Waits until nothing was written for quiet_s (bounded)."""
        t_end = time.monotonic() + limit_s
        while time.monotonic() < t_end:
            with self.lock:
                last = self.chunks[-1][0] if self.chunks else 0.0
            if time.monotonic() - last >= quiet_s:
                return
            time.sleep(0.02)


class Control:
    """A tmux control-mode client: commands go over a pipe, so sending a key starts no process."""

    def __init__(self, sock, session):
        self.p = subprocess.Popen(["tmux", "-S", sock, "-C", "attach", "-t", session], stdin=subprocess.PIPE,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def send_keys(self, target, keys):
        self.p.stdin.write(("send-keys -t %s %s\n" % (target, " ".join(keys))).encode())
        self.p.stdin.flush()

    def close(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass
        try:
            self.p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.p.kill()


def key_ms(ctl, out, target, keys, quiet_s=0.3, limit_s=2.0, first=False):
    """Sends keys; ms to the last byte written before the terminal stayed quiet for quiet_s (or, with first,
    to the first byte), or None when the tool wrote nothing."""
    out.quiet()
    t0 = time.monotonic()
    ctl.send_keys(target, keys)
    t_end = t0 + limit_s
    while time.monotonic() < t_end:
        time.sleep(0.02)
        last = out.last_after(t0)
        if last is None and time.monotonic() - t0 >= 1.0:
            return None
        if last is not None and time.monotonic() - last >= quiet_s:
            break
    last = out.first_after(t0) if first else out.last_after(t0)
    return None if last is None else (last - t0) * 1000


def run_tool(tool, tmux, ctl, api, work, run_no):
    target = f"{tool.name}-{run_no}"
    cmd = "exec env " + " ".join(f"{k}='{v}'" for k, v in tool.env.items()) + " " + " ".join(
        f"'{a}'" for a in tool.argv)
    before = request_counts(api.metrics())
    r = {}
    t0 = time.monotonic()
    tmux.run("new-session", "-d", "-s", target, "-x", "200", "-y", "60", cmd)
    pid = int(tmux.run("display-message", "-p", "-t", target, "#{pane_pid}").strip())
    try:
        out = Output(tmux, target, os.path.join(work, f"{target}.fifo"))
        seen = wait_screen(tmux, target, tool.shown, 60.0)
        if seen is None:
            log(f"{tool.name}: all {N_KS} never shown within 60 s; its screen:\n{tmux.screen(target)}")
        else:
            r["shown_s"] = seen[0] - t0
            r["cpu_shown_s"] = cpu_seconds(pid)
        time.sleep(SETTLE_S)
        r["rss_mb"], _ = proc_status(pid)
        c0, i0 = cpu_seconds(pid), time.monotonic()
        time.sleep(IDLE_S)
        r["idle_cpu_s"], i1 = cpu_seconds(pid) - c0, time.monotonic()
        r["idle_bytes"] = out.bytes_between(i0, i1)
        if seen is not None:
            for name, (setup, keys) in (("page", ([], tool.page)), ("end", tool.end),
                                        ("filter", tool.filter_keys)):
                firsts, lasts = [], []
                for i in range(6):
                    if setup:
                        ctl.send_keys(target, setup)
                    # alternately timed to the first byte of the answer and to the last before quiet
                    v = key_ms(ctl, out, target, keys, first=i % 2 == 0)
                    if v is not None:
                        (firsts if i % 2 == 0 else lasts).append(v)
                    if name == "filter":
                        ctl.send_keys(target, ["Escape"])
                        out.quiet()
                if firsts:
                    r[name + "_ms"] = statistics.median(firsts)
                if lasts:
                    r[name + "_settled_ms"] = statistics.median(lasts)
                if not firsts and not lasts:
                    log(f"{tool.name}: {keys} wrote nothing to the terminal")
        _, r["hwm_mb"] = proc_status(pid)
    finally:
        tmux.run("kill-session", "-t", target, check=False)
        for _ in range(100):
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)
    time.sleep(0.5)  # the API server counts a WATCH when it ends
    after = request_counts(api.metrics())
    r["lists"] = after.get("LIST", 0) - before.get("LIST", 0)
    r["watches"] = after.get("WATCH", 0) - before.get("WATCH", 0)
    log(f"run {run_no} {tool.name}: " + ", ".join(f"{k}={v:.3g}" for k, v in r.items()))
    return r


# ------------------------------------------------------------------------------------------------------------
# the report

ROWS = [
    ("shown_s", "all 5,000 shown after start (s)", "{:.2f}"),
    ("cpu_shown_s", "CPU used until then (s)", "{:.2f}"),
    ("rss_mb", "RSS after load (MiB)", "{:.0f}"),
    ("hwm_mb", "peak RSS, VmHWM (MiB)", "{:.0f}"),
    ("idle_cpu_s", "CPU in 10 s idle (s)", "{:.2f}"),
    ("idle_bytes", "bytes written in 10 s idle", "{:.0f}"),
    ("lists", "LIST requests during the run", "{:.0f}"),
    ("watches", "WATCH requests during the run", "{:.0f}"),
    ("page_ms", "page down: first byte (ms)", "{:.1f}"),
    ("page_settled_ms", "page down: last byte (ms)", "{:.1f}"),
    ("end_ms", "jump to end: first byte (ms)", "{:.1f}"),
    ("end_settled_ms", "jump to end: last byte (ms)", "{:.1f}"),
    ("filter_ms", "filter keystroke: first byte (ms)", "{:.1f}"),
    ("filter_settled_ms", "filter keystroke: last byte (ms)", "{:.1f}"),
]


def cell(values, fmt):
    if not values:
        return "—"
    lo, hi, med = min(values), max(values), statistics.median(values)
    return fmt.format(med) if lo == hi else f"{fmt.format(med)} ({fmt.format(lo)}–{fmt.format(hi)})"


def ratio(a, b):
    if not a or not b:
        return "—"
    a, b = statistics.median(a), statistics.median(b)
    if b == 0:
        return "—" if a == 0 else "∞"
    return f"{a / b:.2g}×" if a / b < 10 else f"{a / b:.0f}×"


def report(results, names):
    peers = [n for n in names if n != "setpoint"]
    head = ["figure"] + names + [f"setpoint/{p}" for p in peers]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, label, fmt in ROWS:
        vals = {n: [r[key] for r in results.get(n, []) if key in r] for n in names}
        row = [label] + [cell(vals[n], fmt) for n in names] + [ratio(vals["setpoint"], vals[p]) for p in peers]
        print("| " + " | ".join(row) + " |")


def check_budgets(results):
    missed = missing = 0
    sp = results.get("setpoint", [])
    for key, limit in BUDGETS.items():
        vals = [r[key] for r in sp if key in r] if key != "key_ms" else [
            r[k] for r in sp for k in ("page_ms", "end_ms", "filter_ms") if k in r]
        if not vals:
            missing += 1
            log(f"setpoint: no figure for {key}")
        elif max(vals) > limit:
            missed += 1
            log(f"setpoint: {key} over budget: worst {max(vals):.3g} > {limit}")
    return 2 if missing else 1 if missed else 0


# ------------------------------------------------------------------------------------------------------------


def find_bin(given, name):
    if given:
        return given if os.path.isfile(given) else None
    return shutil.which(name) or next((p for p in [f"/work/peers/bin/{name}"] if os.path.isfile(p)), None)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    ap.add_argument("--setpoint", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", ROOT + "/target"),
                                                      "release", "setpoint"))
    ap.add_argument("--sofka")
    ap.add_argument("--flux9s")
    ap.add_argument("--only", help="comma-separated tools to run (setpoint,sofka,flux9s)")
    ap.add_argument("--tier", help="use the tier already up in this SETPOINT_K8S_STATE dir (not started or stopped)")
    args = ap.parse_args()
    args.setpoint = os.path.abspath(args.setpoint)
    if not os.path.isfile(args.setpoint):
        sys.exit(f"no setpoint binary at {args.setpoint}: cargo build --release --locked first, or --setpoint")
    args.sofka, args.flux9s = find_bin(args.sofka, "sofka"), find_bin(args.flux9s, "flux9s")
    for name in ("sofka", "flux9s"):
        if getattr(args, name) is None:
            log(f"{name} is not installed (cargo install {name}; --{name} BIN): reported as not run")
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")

    work = tempfile.mkdtemp(prefix="flux-vs-peers-")
    state = os.path.abspath(args.tier) if args.tier else os.path.join(work, "tier")
    tier_env = dict(os.environ, SETPOINT_K8S_STATE=state, SETPOINT_K8S_OWNER_PID=str(os.getpid()))
    tmux = Tmux(os.path.join(work, "tmux.sock"))

    def down(*_):
        raise SystemExit(130)

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, down)
    load_before = open("/proc/loadavg").read().split()[:3]
    try:
        if not args.tier:
            log(f"starting the tier in {state}")
            up = subprocess.run([ROOT + "/scripts/k8s-tier", "up"], env=tier_env, capture_output=True, text=True,
                                timeout=900)
            if up.returncode != 0:
                sys.exit(f"scripts/k8s-tier up failed:\n{up.stderr[-3000:]}")
        env = dict(line.split("=", 1) for line in open(state + "/tier.env").read().split("\n") if "=" in line)
        kubeconfig = env["KUBECONFIG"]
        token = re.search(r"- name: admin\n  user:\n    token: (\S+)", open(kubeconfig).read()).group(1)
        api = Api(env["APISERVER_URL"], token, state + "/pki/ca.crt")
        log(f"the API server streams lists over a watch (WatchList): {watch_list_served(api)}")
        populate(api, env["GIT_HTTP_URL"])
        wait_controllers_idle(api)
        secs, size, mf, n = list_figures(api)
        log(f"one unpaged LIST of the {n} Kustomizations: {secs:.2f} s, {size / 1e6:.1f} MB "
            f"({mf / 1e6:.2f} MB of it managedFields)")
        streams = [stream_secs(api) for _ in range(3)]
        log(f"the API server streams them over a watch in {min(streams):.2f}–{max(streams):.2f} s")

        # the API server's own requests with no tool, over the length of a run
        before = request_counts(api.metrics())
        time.sleep(IDLE_S + SETTLE_S)
        after = request_counts(api.metrics())
        baseline = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
        log(f"requests for the two kinds in {IDLE_S + SETTLE_S:.0f} s with no tool: {baseline}")

        tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "hold", "-x", "200", "-y", "60", "cat")
        tmux.run("set-option", "-g", "status", "off")
        all_tools = tools(args, work, kubeconfig)
        if args.only:
            all_tools = [t for t in all_tools if t.name in args.only.split(",")]
        for t in all_tools:
            log(f"{t.name}: `all shown` is {t.shown_text}")
        t_cap = time.monotonic()
        for _ in range(20):
            tmux.screen("hold")
        cap_ms = (time.monotonic() - t_cap) / 20 * 1000
        log(f"harness: one capture-pane takes {cap_ms:.1f} ms (the resolution of `all shown`)")
        ctl = Control(tmux.sock, "hold")
        # the floor of a key's figure: the terminal echoing a key typed to `cat`, through the same tmux path
        hold_out = Output(tmux, "hold", os.path.join(work, "hold.fifo"))
        floor = [key_ms(ctl, hold_out, "hold", ["x"]) for _ in range(5)]
        floor_ms = statistics.median([f for f in floor if f is not None] or [float("nan")])
        log(f"harness: a key echoed by the terminal (cat) takes {floor_ms:.1f} ms (median of 5)")

        results = {}
        for run_no in range(args.runs):
            order = all_tools[run_no % len(all_tools):] + all_tools[: run_no % len(all_tools)]
            for t in order:
                results.setdefault(t.name, []).append(run_tool(t, tmux, ctl, api, work, run_no))
        ctl.close()
        load_after = open("/proc/loadavg").read().split()[:3]
        print(f"\n{args.runs} runs each, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
              f"{' '.join(load_before)} before, {' '.join(load_after)} after; LIST of {n} Kustomizations "
              f"{secs:.2f} s, {size / 1e6:.1f} MB, streamed over a watch in {min(streams):.2f}–{max(streams):.2f} s; "
              f"one capture-pane {cap_ms:.1f} ms; a key echoed by `cat` "
              f"through tmux {floor_ms:.1f} ms\n")
        report(results, [t.name for t in all_tools])
        return check_budgets(results)
    finally:
        subprocess.run(["tmux", "-S", tmux.sock, "kill-server"], capture_output=True)
        if not args.tier:
            subprocess.run([ROOT + "/scripts/k8s-tier", "down"], env=tier_env, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
