#!/usr/bin/env bash
# The agent as a whole process against git on the same tree of 10,000 files (about 2.6 MB in 100 directories),
# side by side on this machine:
#   no-op pass:  `setpoint agent --once` on an applied workspace   vs  `git status` in a checkout of the tree
#   full apply:  `setpoint agent --once` on a fresh workspace       vs  `git clone` of the tree
# Budgets: no-op within 2x of git status, full apply within 1.5x of git clone. Prints medians and ratios;
# exits 1 when a budget is missed.
#
# Run: benches/agent-vs-git.sh [path/to/setpoint]   (default: target/release/setpoint; build it with
#      `cargo build --release` first). RUNS=N sets the number of timed runs (default 15).
set -euo pipefail

bin="${1:-${CARGO_TARGET_DIR:-target}/release/setpoint}"
runs="${RUNS:-15}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first, or pass its path" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export SETPOINT_CONFIG_DIR="$work/config" SETPOINT_DATA_DIR="$work/data"
export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.org
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.org

# The tree: the same shape as benches/agent.rs.
repo="$work/repo"
mkdir -p "$repo/envs/a"
git -C "$repo" init -q -b main
pad="$(printf 'x%.0s' $(seq 240))"
for d in $(seq -f '%03g' 0 99); do mkdir -p "$repo/base/d$d"; done
for i in $(seq 0 9999); do
    printf 'key = %d\nvalue = %s\n' "$i" "$pad" > "$repo/base/d$(printf '%03d' $((i % 100)))/f$(printf '%05d' "$i").conf"
done
echo 'bases: [base]' > "$repo/envs/a/overlay.yaml"
git -C "$repo" add -A
git -C "$repo" commit -q -m "10k files"

workspace() { # DIR: a workspace on the repository
    mkdir -p "$1"
    cat > "$1/setpoint.yaml" <<EOF
sources:
  - name: s
    url: $repo
environments:
  - name: a
    source: s
    path: envs/a
    target: ./live/a
EOF
}

# Milliseconds of one run of a command.
ms() {
    local t0 t1
    t0=$(date +%s%N)
    "$@" > /dev/null 2>&1
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# Full apply vs clone: each run on a fresh directory.
apply_times=(); clone_times=()
for r in $(seq "$runs"); do
    workspace "$work/full$r"
    sync
    apply_times+=("$(ms "$bin" --workspace "$work/full$r" agent --once)")
    sync
    clone_times+=("$(ms git clone -q --no-hardlinks "file://$repo" "$work/clone$r")")
    [ -f "$work/full$r/live/a/d000/f00000.conf" ] || { echo "the agent did not apply" >&2; exit 2; }
done
full_apply=$(printf '%s\n' "${apply_times[@]}" | median)
full_clone=$(printf '%s\n' "${clone_times[@]}" | median)

# No-op pass vs status: on the first applied workspace and the first clone, warm.
noop_times=(); status_times=()
"$bin" --workspace "$work/full1" agent --once > /dev/null
git -C "$work/clone1" status --porcelain > /dev/null
for r in $(seq "$runs"); do
    noop_times+=("$(ms "$bin" --workspace "$work/full1" agent --once)")
    status_times+=("$(ms git -C "$work/clone1" status)")
done
noop=$(printf '%s\n' "${noop_times[@]}" | median)
status=$(printf '%s\n' "${status_times[@]}" | median)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
noop_ratio=$(ratio "$noop" "$status")
full_ratio=$(ratio "$full_apply" "$full_clone")
echo "no-op pass: setpoint agent --once ${noop} ms, git status ${status} ms: ${noop_ratio}x (budget 2x)"
echo "full apply: setpoint agent --once ${full_apply} ms, git clone ${full_clone} ms: ${full_ratio}x (budget 1.5x)"
echo "medians of $runs runs; $(nproc) cores; $(git --version)"
fail=0
awk -v r="$noop_ratio" 'BEGIN { exit !(r > 2) }' && { echo "no-op pass over budget" >&2; fail=1; }
awk -v r="$full_ratio" 'BEGIN { exit !(r > 1.5) }' && { echo "full apply over budget" >&2; fail=1; }
exit "$fail"
