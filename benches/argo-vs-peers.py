#!/usr/bin/env python3
"""The setpoint console on 5,000 Argo CD Applications (argonaut, its peer, does not install here: see below).

Starts the Kubernetes test tier with Argo CD (scripts/k8s-tier: application-controller, repo-server and API
server; a state dir of its own, torn down on every exit path) and creates 5,000 Applications in the namespace
`bench-apps`, which the application-controller does not reconcile: it runs with `--namespace argocd` and no
`--application-namespaces`, so it only processes Applications in `argocd`, and the tier stays idle. Each
Application is the size of a synced one: spec with a source, a destination and automated sync; a status (no
status subresource in Argo CD's CRD, so it is created with the object) with sync Synced at a revision, health
Healthy, three resources, one history entry, the last operation's state with its per-object results, a
summary and reconciledAt, as the controller writes them. Then it runs each tool in its own tmux session of
200x60 on the tier's kubeconfig, RUNS times in rotating order, and measures what benches/flux-vs-peers.py
measures (see benches/common/side_by_side.py): all 5,000 shown, RSS, idle CPU and bytes, LIST and WATCH
requests for applications at the API server's /metrics, keys.

setpoint runs twice over: `setpoint`, started cold (`watch_cache = false` in its config: each start streams the
whole list from the API server), and `setpoint-resumed`, started from the watch cache an earlier console of the
same build wrote (one unmeasured run writes it first; README, "Starting again"). The all-shown budget is held by
the resumed start; the cold start's figure is in the table beside it, with the API server's own stream time.

argonaut (github.com/darksworm/argonaut, a Go console on the Argo CD API server) is not run: the Go module
proxy answers 403 for github.com/darksworm/argonaut (so `go install` fails here), and the crate `argonaut` on
crates.io is an unrelated argument parser. The table has setpoint's figures, the API server's own LIST and
streaming times as the floor, and the budgets.

Exits 1 when setpoint misses one of its budgets (issue 11 item 7: all shown <= 0.5 s, RSS <= 40 MB, 0 bytes and
< 0.05 s CPU per 10 s idle, 0 LIST requests; keys <= 16 ms), 2 when a setpoint figure is missing.

Run:  benches/argo-vs-peers.py [--runs N] [--setpoint BIN] [--tier DIR] [--tier DIR]
      Build setpoint first with `cargo build --release --locked`. Needs tmux, python3, and the tier's Go
      binaries (scripts/k8s-tier build).
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "common"))
import side_by_side as sbs  # noqa: E402

NS = "bench-apps"
N_APPS = 5000
RESOURCES = ("applications",)
log = sbs.log_as("argo-vs-peers")


def sha(i):
    return f"{(i * 2654435761) % (1 << 32):08x}" * 5


def application(i, git_url):
    name = f"app-{i:04d}"
    rev = sha(i)
    source = {"repoURL": f"{git_url}/apps.git", "path": f"apps/{name}", "targetRevision": "main"}
    dest = {"server": "https://kubernetes.default.svc", "namespace": name}
    objs = [("", "Service", name), ("apps", "Deployment", name), ("", "ConfigMap", name + "-config")]
    when = "2026-11-27T07:%02d:%02dZ" % (i // 60 % 60, i % 60)
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Application",
        "metadata": {"name": name, "namespace": NS, "labels": {"bench": "argo-vs-peers", "team": f"team-{i % 7}"}},
        "spec": {
            "project": "default",
            "source": source,
            "destination": dest,
            "syncPolicy": {"automated": {"prune": True, "selfHeal": True}, "syncOptions": ["CreateNamespace=true"]},
        },
        "status": {
            "sync": {"status": "Synced", "revision": rev, "comparedTo": {"source": source, "destination": dest}},
            "health": {"status": "Healthy", "lastTransitionTime": when},
            "resources": [
                {"group": g, "version": "v1", "kind": k, "namespace": name, "name": n, "status": "Synced",
                 **({"health": {"status": "Healthy"}} if k != "ConfigMap" else {})}
                for g, k, n in objs
            ],
            "history": [{"id": 0, "revision": rev, "source": source, "deployedAt": when, "deployStartedAt": when,
                         "initiatedBy": {"automated": True}}],
            "operationState": {
                "operation": {"sync": {"revision": rev, "prune": True, "syncOptions": ["CreateNamespace=true"]},
                              "initiatedBy": {"automated": True}, "retry": {"limit": 5}},
                "phase": "Succeeded",
                "message": "successfully synced (all tasks run)",
                "startedAt": when,
                "finishedAt": when,
                "syncResult": {
                    "revision": rev,
                    "source": source,
                    "resources": [
                        {"group": g, "version": "v1", "kind": k, "namespace": name, "name": n, "status": "Synced",
                         "message": f"{k.lower()}/{n} created", "hookPhase": "Running", "syncPhase": "Sync"}
                        for g, k, n in objs
                    ],
                },
            },
            "reconciledAt": when,
            "sourceType": "Directory",
            "summary": {"images": [f"registry.example.com/{name}:1.{i % 40}.0"]},
            "controllerNamespace": "argocd",
        },
    }


def populate(api, env):
    apps = f"/apis/argoproj.io/v1alpha1/namespaces/{NS}/applications"
    status, _ = api.request("GET", f"/api/v1/namespaces/{NS}")
    if status == 404:
        sbs.create_all(api, [("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": NS}})])
    if sbs.count(api, apps) >= N_APPS:
        log("the Applications are there already")
        return
    t0 = time.monotonic()
    sbs.create_all(api, [(apps, application(i, env["GIT_HTTP_URL"])) for i in range(N_APPS)])
    log(f"created {N_APPS} Applications in {NS} in {time.monotonic() - t0:.1f} s")
    # the controller must not have touched them: their status is the one they were created with
    _, body = api.request("GET", apps + "?limit=1")
    item = json.loads(body)["items"][0]
    if item["status"].get("controllerNamespace") != "argocd" or item["status"]["reconciledAt"] != \
            application(0, env["GIT_HTTP_URL"])["status"]["reconciledAt"]:
        log("warning: an Application's status changed after creation: the controller reconciles them")


def tools(args, work, kubeconfig, env):
    return sbs.setpoint_tools(args, work, kubeconfig, "argo", N_APPS)


BENCH = sbs.Bench("argo-vs-peers", N_APPS, RESOURCES, "/apis/argoproj.io/v1alpha1/applications", populate, tools)

if __name__ == "__main__":
    sys.exit(sbs.main(BENCH, sbs.arguments(__doc__, [])))
