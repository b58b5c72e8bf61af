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

setpoint runs twice over: `setpoint`, started cold (`watch_cache = false` in its config: each start streams the
whole list from the API server), and `setpoint-resumed`, started from the watch cache an earlier console of the
same build wrote (one unmeasured run writes it first; README, "Starting again"). The all-shown budget is held by
the resumed start; the cold start's figure is in the table beside it, with the API server's own stream time.

Prints a table with medians, ranges and setpoint/peer ratios, and exits 1 when setpoint misses one of its
budgets (all shown <= 0.5 s, RSS <= 40 MB, 0 bytes and < 0.05 s CPU per 10 s idle, 0 LIST requests,
keys <= 16 ms), 2 when a setpoint figure is missing.

Run:  benches/flux-vs-peers.py [--runs N] [--setpoint BIN] [--sofka BIN] [--flux9s BIN] [--only TOOLS] [--tier DIR]
      (defaults: $CARGO_TARGET_DIR/release/setpoint or target/release/setpoint; sofka and flux9s on PATH or
      in /work/peers/bin; a peer that is not found is reported as not installed). Build setpoint first with
      `cargo build --release --locked`. Needs tmux, python3, and the tier's Go binaries (scripts/k8s-tier build).
The harness is benches/common/side_by_side.py (shared with benches/argo-vs-peers.py).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "common"))
import side_by_side as sbs  # noqa: E402

NS = "flux-system"
N_KS = 5000
N_GIT = 500
RESOURCES = ("kustomizations", "gitrepositories")
log = sbs.log_as("flux-vs-peers")


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


def populate(api, env):
    """Creates the objects with 16 parallel keep-alive connections (an existing one is fine)."""
    ks = f"/apis/kustomize.toolkit.fluxcd.io/v1/namespaces/{NS}/kustomizations"
    git = f"/apis/source.toolkit.fluxcd.io/v1/namespaces/{NS}/gitrepositories"
    if sbs.count(api, ks) >= N_KS and sbs.count(api, git) >= N_GIT:
        log("the objects are there already")
        return
    t0 = time.monotonic()
    sbs.create_all(api, [(git, git_repository(i, env["GIT_HTTP_URL"])) for i in range(N_GIT)]
                   + [(ks, kustomization(i)) for i in range(N_KS)])
    log(f"created {N_KS} Kustomizations and {N_GIT} GitRepositories in {time.monotonic() - t0:.1f} s")


def tools(args, work, kubeconfig, env):
    out = sbs.setpoint_tools(args, work, kubeconfig, "flux", N_KS)
    count = lambda s: bool(re.search(rf"[\[(]{N_KS}[\])]", s))
    keys = dict(page=["PageDown"], end=(["Home"], ["End"]), filter_keys=(["/"], ["7"]))
    if args.sofka:
        out.append(sbs.Tool("sofka", [args.sofka, "--context", "admin", "-n", NS, "kustomizations"],
                            sbs.tool_env(work, kubeconfig, "sofka"), count,
                            f"the count `[{N_KS}]` or `({N_KS})` in the title", **keys))
    if args.flux9s:
        out.append(sbs.Tool("flux9s", [args.flux9s, "-c", "ks"], sbs.tool_env(work, kubeconfig, "flux9s"), count,
                            f"the count `[{N_KS}]` or `({N_KS})` on screen", **keys))
    return out


BENCH = sbs.Bench("flux-vs-peers", N_KS, RESOURCES, "/apis/kustomize.toolkit.fluxcd.io/v1/kustomizations",
                  populate, tools)

if __name__ == "__main__":
    sys.exit(sbs.main(BENCH, sbs.arguments(__doc__, ["sofka", "flux9s"])))
