"""What the side-by-side console benchmarks share (benches/flux-vs-peers.py, benches/argo-vs-peers.py): the
tier's API server, tmux sessions at 200x60, reading what a tool writes to its terminal, the per-run
measurements, the table and the budgets. A bench names its objects, populates the tier and says how each tool
is started and what "all shown" looks like on its screen; `main` does the rest.

Imported by the benches with `sys.path.insert(0, <benches>/common)`; not a Rust module (cargo only builds
benches/*.rs)."""

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

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IDLE_S = 10.0
SETTLE_S = 2.0  # after all is shown, before RSS and the idle window
# Budgets of setpoint (issue 10 item 8, issue 11 item 7).
BUDGETS = {
    "shown_s": 0.5,
    "rss_mb": 40.0,
    "idle_cpu_s": 0.05,
    "idle_bytes": 0,
    "lists": 0,
    "key_ms": 16.0,
}


class Bench:
    """One side-by-side benchmark: its name (for logs), the number of objects a tool must show, the API
    resources (plurals) whose requests are counted, the collection streamed to time the API server itself
    (a path), how to populate the tier and wait until it is idle, and the tools."""

    def __init__(self, name, n, resources, stream_path, populate, tools, tier_env=None, describe=None):
        self.name, self.n, self.resources, self.stream_path = name, n, resources, stream_path
        self.populate, self.tools, self.tier_env = populate, tools, tier_env or {}
        self.describe = describe or (lambda api, env: "")


def log_as(name):
    return lambda *a: print(name + ":", *a, file=sys.stderr, flush=True)


log = log_as("side-by-side")


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

    def request(self, method, path, body=None, content_type="application/json"):
        for attempt in range(3):
            conn = getattr(self.local, "conn", None)
            if conn is None:
                conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=60)
                self.local.conn = conn
            headers = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
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


def request_counts(text, resources):
    """{verb: count} of apiserver_request_total for the resources (plurals; all labels summed)."""
    counts = {}
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line[: line.rindex("}")]))
        if labels.get("resource") not in resources:
            continue
        verb = labels.get("verb", "?")
        counts[verb] = counts.get(verb, 0) + float(line.rsplit(" ", 1)[1])
    return counts


def count(api, path):
    status, body = api.request("GET", path + "?limit=1")
    if status != 200:
        raise RuntimeError(f"GET {path}: HTTP {status}")
    doc = json.loads(body)
    return len(doc["items"]) + doc["metadata"].get("remainingItemCount", 0)


def create_all(api, jobs, threads=16):
    """POSTs (path, object) jobs with parallel keep-alive connections (an existing object is fine)."""

    def create(job):
        status, body = api.request("POST", job[0], json.dumps(job[1]).encode())
        if status not in (201, 409):
            raise RuntimeError(f"POST {job[0]}: HTTP {status}: {body[:300]!r}")

    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(create, jobs))


def wait_idle(api, resources, quiet_s=5.0, limit_s=600.0):
    """Waits until no write to the resources was counted for quiet_s (bounded)."""
    writes = lambda: sum(v for k, v in request_counts(api.metrics(), resources).items()
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


def list_figures(api, path):
    """One unpaged LIST of a collection: seconds, bytes, bytes of managedFields, items (for the reader)."""
    t0 = time.monotonic()
    status, body = api.request("GET", path)
    secs = time.monotonic() - t0
    if status != 200:
        raise RuntimeError(f"LIST: HTTP {status}")
    items = json.loads(body)["items"]
    mf = sum(len(json.dumps(o["metadata"].get("managedFields", []))) for o in items)
    return secs, len(body), mf, len(items)


def stream_secs(api, path):
    """Seconds until the API server has streamed the initial list of a collection over a watch (the
    bookmark that ends the initial events): the floor of `all shown` for a tool that streams."""
    conn = http.client.HTTPSConnection(api.host, api.port, context=api.ctx, timeout=60)
    t0 = time.monotonic()
    conn.request("GET", path + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                 "&allowWatchBookmarks=true&timeoutSeconds=30", headers={"Authorization": "Bearer " + api.token})
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


def watch_list_served(api, path):
    """Whether the API server streams the initial list over a watch (sendInitialEvents)."""
    status, body = api.request("GET", path + "?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan"
                               "&allowWatchBookmarks=true&timeoutSeconds=1")
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
    """How a tool is started, how "all shown" is seen on its screen, and its keys (tmux key names)."""

    def __init__(self, name, argv, env, shown, shown_text, page, end, filter_keys, cache_dir=None):
        self.name, self.argv, self.env = name, argv, env
        self.shown, self.shown_text = shown, shown_text
        self.page, self.end, self.filter_keys = page, end, filter_keys
        # where the tool keeps a cache it starts from: run once, unmeasured, before the measured runs
        self.cache_dir = cache_dir


def tool_env(work, kubeconfig, name):
    """The environment of a tool: the tier's kubeconfig, and a home of its own in work."""
    h = os.path.join(work, "home-" + name)
    os.makedirs(h, exist_ok=True)
    return {"KUBECONFIG": kubeconfig, "TERM": "xterm-256color", "LANG": "C.UTF-8", "HOME": h,
            "XDG_CONFIG_HOME": h + "/.config", "XDG_STATE_HOME": h + "/.state", "XDG_CACHE_HOME": h + "/.cache",
            "XDG_DATA_HOME": h + "/.data"}


def setpoint_tools(args, work, kubeconfig, backend, n):
    """setpoint started cold (`watch_cache = false`: every start streams the whole list) and setpoint resumed
    from the watch cache a previous console wrote (`setpoint-resumed`: the same build, its own data dir)."""
    out = []
    for name, cache in (("setpoint", False), ("setpoint-resumed", True)):
        config, data = f"{work}/{name}-config", f"{work}/{name}-data"
        os.makedirs(config, exist_ok=True)
        with open(config + "/config.toml", "w") as f:
            f.write(f"watch_cache = {'true' if cache else 'false'}\n")
        env = dict(tool_env(work, kubeconfig, name), SETPOINT_CONFIG_DIR=config, SETPOINT_DATA_DIR=data)
        out.append(Tool(
            name, [args.setpoint, "--backend", backend, "--context", "admin"], env,
            # the units pane's title counts every unit of the snapshot
            lambda s: f"Units ({n})" in s, f"the title `Units ({n})`",
            page=["PageDown"], end=(["Home"], ["End"]), filter_keys=(["/"], ["7"]),
            cache_dir=data + "/watch-cache" if cache else None))
    return out


def prime(tool, tmux, limit_s=60.0):
    """Runs `tool` once, unmeasured, until its cache is written (it writes when quiet for 5 s)."""
    cmd = "exec env " + " ".join(f"{k}='{v}'" for k, v in tool.env.items()) + " " + " ".join(
        f"'{a}'" for a in tool.argv)
    target = tool.name + "-prime"
    tmux.run("new-session", "-d", "-s", target, "-x", "200", "-y", "60", cmd)
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < limit_s:
            if os.path.isdir(tool.cache_dir) and any(f.endswith(".cache") for f in os.listdir(tool.cache_dir)):
                log(f"{tool.name}: cache written after {time.monotonic() - t0:.1f} s (unmeasured first run)")
                return
            time.sleep(0.2)
        log(f"{tool.name}: no cache within {limit_s:.0f} s; its screen:\n{tmux.screen(target)}")
    finally:
        tmux.run("kill-session", "-t", target, check=False)
        time.sleep(1.0)


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


def run_tool(bench, tool, tmux, ctl, api, work, run_no):
    target = f"{tool.name}-{run_no}"
    cmd = "exec env " + " ".join(f"{k}='{v}'" for k, v in tool.env.items()) + " " + " ".join(
        f"'{a}'" for a in tool.argv)
    before = request_counts(api.metrics(), bench.resources)
    r = {}
    t0 = time.monotonic()
    tmux.run("new-session", "-d", "-s", target, "-x", "200", "-y", "60", cmd)
    pid = int(tmux.run("display-message", "-p", "-t", target, "#{pane_pid}").strip())
    try:
        out = Output(tmux, target, os.path.join(work, f"{target}.fifo"))
        seen = wait_screen(tmux, target, tool.shown, 60.0)
        if seen is None:
            log(f"{tool.name}: all {bench.n} never shown within 60 s; its screen:\n{tmux.screen(target)}")
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
    after = request_counts(api.metrics(), bench.resources)
    r["lists"] = after.get("LIST", 0) - before.get("LIST", 0)
    r["watches"] = after.get("WATCH", 0) - before.get("WATCH", 0)
    log(f"run {run_no} {tool.name}: " + ", ".join(f"{k}={v:.3g}" for k, v in r.items()))
    return r


# ------------------------------------------------------------------------------------------------------------
# the report


def rows(n):
    return [
        ("shown_s", f"all {n:,} shown after start (s)", "{:.2f}"),
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


def report(results, names, n):
    ours = [x for x in names if x.startswith("setpoint")]
    peers = [x for x in names if x not in ours]
    pairs = [(o, p) for o in ours for p in peers]
    head = ["figure"] + names + [f"{o}/{p}" for o, p in pairs]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for key, label, fmt in rows(n):
        vals = {x: [r[key] for r in results.get(x, []) if key in r] for x in names}
        row = [label] + [cell(vals[x], fmt) for x in names] + [ratio(vals[o], vals[p]) for o, p in pairs]
        print("| " + " | ".join(row) + " |")


def check_budgets(results):
    """Every budget of both setpoint starts, except `all shown` of the cold one: a cold start cannot show the
    list before the API server has streamed it (its own time is printed above the table); its figure is in the
    table, and the budget is held by the resumed start. Without a resumed run, the cold one is held to it."""
    missed = missing = 0
    for name in ("setpoint", "setpoint-resumed"):
        sp = results.get(name, [])
        if not sp:
            continue
        for key, limit in BUDGETS.items():
            if key == "shown_s" and name == "setpoint" and results.get("setpoint-resumed"):
                continue
            vals = [r[key] for r in sp if key in r] if key != "key_ms" else [
                r[k] for r in sp for k in ("page_ms", "end_ms", "filter_ms") if k in r]
            if not vals:
                missing += 1
                log(f"{name}: no figure for {key}")
            elif max(vals) > limit:
                missed += 1
                log(f"{name}: {key} over budget: worst {max(vals):.3g} > {limit}")
    return 2 if missing else 1 if missed else 0


# ------------------------------------------------------------------------------------------------------------


def find_bin(given, name):
    if given:
        return given if os.path.isfile(given) else None
    return shutil.which(name) or next((p for p in [f"/work/peers/bin/{name}"] if os.path.isfile(p)), None)


def arguments(doc, peers):
    """The command line: --runs, --setpoint, one --<peer> per peer, --only, --tier."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    ap.add_argument("--setpoint", default=os.path.join(os.environ.get("CARGO_TARGET_DIR", ROOT + "/target"),
                                                      "release", "setpoint"))
    for p in peers:
        ap.add_argument("--" + p)
    ap.add_argument("--only", help="comma-separated tools to run (setpoint,setpoint-resumed," + ",".join(peers) + ")")
    ap.add_argument("--tier", help="use the tier already up in this SETPOINT_K8S_STATE dir (not started or stopped)")
    args = ap.parse_args()
    args.setpoint = os.path.abspath(args.setpoint)
    if not os.path.isfile(args.setpoint):
        sys.exit(f"no setpoint binary at {args.setpoint}: cargo build --release --locked first, or --setpoint")
    for p in peers:
        setattr(args, p, find_bin(getattr(args, p), p))
        if getattr(args, p) is None:
            log(f"{p} is not installed (--{p} BIN): reported as not run")
    if shutil.which("tmux") is None:
        sys.exit("tmux is needed")
    return args


def main(bench, args):
    """Starts the tier (or uses --tier), populates it, measures every tool RUNS times in rotating order,
    prints the table; returns the exit code of check_budgets."""
    global log
    log = log_as(bench.name)
    work = tempfile.mkdtemp(prefix=bench.name + "-")
    state = os.path.abspath(args.tier) if args.tier else os.path.join(work, "tier")
    tier_env = dict(os.environ, SETPOINT_K8S_STATE=state, SETPOINT_K8S_OWNER_PID=str(os.getpid()),
                    **bench.tier_env)
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
        log(f"the API server streams lists over a watch (WatchList): {watch_list_served(api, bench.stream_path)}")
        bench.populate(api, env)
        wait_idle(api, bench.resources)
        secs, size, mf, n = list_figures(api, bench.stream_path)
        log(f"one unpaged LIST of the {n} objects: {secs:.2f} s, {size / 1e6:.1f} MB "
            f"({mf / 1e6:.2f} MB of it managedFields)")
        streams = [stream_secs(api, bench.stream_path) for _ in range(3)]
        log(f"the API server streams them over a watch in {min(streams):.2f}–{max(streams):.2f} s")

        # the API server's own requests with no tool, over the length of a run
        before = request_counts(api.metrics(), bench.resources)
        time.sleep(IDLE_S + SETTLE_S)
        after = request_counts(api.metrics(), bench.resources)
        baseline = {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}
        log(f"requests for {', '.join(bench.resources)} in {IDLE_S + SETTLE_S:.0f} s with no tool: {baseline}")

        tmux.run("-f", "/dev/null", "new-session", "-d", "-s", "hold", "-x", "200", "-y", "60", "cat")
        tmux.run("set-option", "-g", "status", "off")
        all_tools = bench.tools(args, work, kubeconfig, env)
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

        for t in all_tools:
            if t.cache_dir:
                prime(t, tmux)
        results = {}
        for run_no in range(args.runs):
            order = all_tools[run_no % len(all_tools):] + all_tools[: run_no % len(all_tools)]
            for t in order:
                results.setdefault(t.name, []).append(run_tool(bench, t, tmux, ctl, api, work, run_no))
        ctl.close()
        load_after = open("/proc/loadavg").read().split()[:3]
        print(f"\n{args.runs} runs each, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, load average "
              f"{' '.join(load_before)} before, {' '.join(load_after)} after; {bench.describe(api, env)}LIST of "
              f"{n} objects {secs:.2f} s, {size / 1e6:.1f} MB, streamed over a watch in "
              f"{min(streams):.2f}–{max(streams):.2f} s; one capture-pane {cap_ms:.1f} ms; a key echoed by `cat` "
              f"through tmux {floor_ms:.1f} ms\n")
        report(results, [t.name for t in all_tools], bench.n)
        return check_budgets(results)
    finally:
        subprocess.run(["tmux", "-S", tmux.sock, "kill-server"], capture_output=True)
        if not args.tier:
            subprocess.run([ROOT + "/scripts/k8s-tier", "down"], env=tier_env, capture_output=True, timeout=120)
        shutil.rmtree(work, ignore_errors=True)
