#!/usr/bin/env bash
# The agent as a whole process against git on the same tree of 10,000 files (about 2.6 MB in 100 directories),
# side by side on this machine:
#   no-op pass:  `setpoint agent --once` on an applied workspace   vs  `git status` in a checkout of the tree
#   full apply:  `setpoint agent --once` on a fresh workspace       vs  `git clone` of the tree
# Budgets: no-op within 2x of git status, full apply within 1.5x of git clone. Prints medians and ratios;
# exits 1 when a budget is missed.
#
# Each figure is the median of RUNS pairs; each pair runs the two commands side by side, in alternating
# order, so that a slow stretch of the machine or the disk hits both; the ranges and the load average are
# printed too (the figures mean little on a busy machine).
#
# Run: benches/agent-vs-git.sh [path/to/setpoint [path/to/other/setpoint]]   (default: target/release/setpoint;
#      build it with `cargo build --release` first). RUNS=N sets the number of timed runs (default 15). A second
#      binary (an older build, say) is timed too, in the same runs: each full apply is then a triple (this
#      binary, the other, git clone, in rotating order), and each no-op run times both binaries.
set -euo pipefail

bin="${1:-${CARGO_TARGET_DIR:-target}/release/setpoint}"
other="${2:-}"
runs="${RUNS:-15}"
[ -x "$bin" ] || { echo "no binary at $bin: cargo build --release first, or pass its path" >&2; exit 2; }
bin="$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")"
if [ -n "$other" ]; then
    [ -x "$other" ] || { echo "no binary at $other" >&2; exit 2; }
    other="$(cd "$(dirname "$other")" && pwd)/$(basename "$other")"
fi

load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
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

# Each measurement as a pair, run side by side and in alternating order (odd runs the agent first, even
# runs git first), so that whatever slows the machine or the disk for a while (other processes, ext4
# discards after an earlier delete, writeback) falls on both sides alike; medians of each side.
# Full apply vs clone: each run in a fresh directory holding both the workspace and the clone. An untimed
# pair first warms the page cache (the repository, both binaries).
pair() { # R: the full apply and the clone of run R, in the order R says; sets $a and $c (ms), and $o
    local r="$1" step
    mkdir -p "$work/run$r"
    workspace "$work/run$r/ws"
    [ -z "$other" ] || workspace "$work/run$r/other"
    sync
    local order=(apply clone)
    [ $((r % 2)) -eq 1 ] || order=(clone apply)
    if [ -n "$other" ]; then
        case $((r % 3)) in
            0) order=(apply other clone) ;;
            1) order=(other clone apply) ;;
            *) order=(clone apply other) ;;
        esac
    fi
    for step in "${order[@]}"; do
        case "$step" in
            apply) a=$(ms "$bin" --workspace "$work/run$r/ws" agent --once) ;;
            other) o=$(ms "$other" --workspace "$work/run$r/other" agent --once) ;;
            clone) c=$(ms git clone -q --no-hardlinks "file://$repo" "$work/run$r/clone") ;;
        esac
        sync
    done
    [ -f "$work/run$r/ws/live/a/d000/f00000.conf" ] || { echo "the agent did not apply" >&2; exit 2; }
    [ -z "$other" ] || [ -f "$work/run$r/other/live/a/d000/f00000.conf" ] || { echo "the other did not apply" >&2; exit 2; }
    [ -f "$work/run$r/clone/base/d000/f00000.conf" ] || { echo "git did not clone" >&2; exit 2; }
}
pair 0
apply_times=(); clone_times=(); other_times=()
for r in $(seq "$runs"); do
    pair "$r"
    apply_times+=("$a"); clone_times+=("$c")
    [ -z "$other" ] || other_times+=("$o")
done
full_apply=$(printf '%s\n' "${apply_times[@]}" | median)
full_clone=$(printf '%s\n' "${clone_times[@]}" | median)

# No-op pass vs status: on the first applied workspace and its clone, warm, in alternating order.
noop_times=(); status_times=(); other_noop_times=()
"$bin" --workspace "$work/run1/ws" agent --once > /dev/null
git -C "$work/run1/clone" status --porcelain > /dev/null
[ -z "$other" ] || "$other" --workspace "$work/run1/other" agent --once > /dev/null
for r in $(seq "$runs"); do
    if [ $((r % 2)) -eq 1 ]; then
        noop_times+=("$(ms "$bin" --workspace "$work/run1/ws" agent --once)")
        status_times+=("$(ms git -C "$work/run1/clone" status)")
    else
        status_times+=("$(ms git -C "$work/run1/clone" status)")
        noop_times+=("$(ms "$bin" --workspace "$work/run1/ws" agent --once)")
    fi
    [ -z "$other" ] || other_noop_times+=("$(ms "$other" --workspace "$work/run1/other" agent --once)")
done
noop=$(printf '%s\n' "${noop_times[@]}" | median)
status=$(printf '%s\n' "${status_times[@]}" | median)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
noop_ratio=$(ratio "$noop" "$status")
full_ratio=$(ratio "$full_apply" "$full_clone")
range() { printf '%s\n' "$@" | sort -n | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%s-%s", lo, hi }'; }
echo "no-op pass: setpoint agent --once ${noop} ms, git status ${status} ms: ${noop_ratio}x (budget 2x)"
echo "full apply: setpoint agent --once ${full_apply} ms, git clone ${full_clone} ms: ${full_ratio}x (budget 1.5x)"
echo "medians of $runs runs, each pair side by side in alternating order; ranges (ms): no-op $(range "${noop_times[@]}"),"
echo "  git status $(range "${status_times[@]}"), full apply $(range "${apply_times[@]}"), git clone $(range "${clone_times[@]}")"
if [ -n "$other" ]; then
    other_apply=$(printf '%s\n' "${other_times[@]}" | median)
    other_noop=$(printf '%s\n' "${other_noop_times[@]}" | median)
    echo "other binary ($other): full apply ${other_apply} ms ($(ratio "$other_apply" "$full_clone")x git clone;" \
        "range $(range "${other_times[@]}")), no-op ${other_noop} ms (range $(range "${other_noop_times[@]}"))"
fi
echo "$(nproc) cores; $(git --version); load average before: $load_before, after: $(cut -d' ' -f1-3 /proc/loadavg)"
fail=0
awk -v r="$noop_ratio" 'BEGIN { exit !(r > 2) }' && { echo "no-op pass over budget" >&2; fail=1; }
awk -v r="$full_ratio" 'BEGIN { exit !(r > 1.5) }' && { echo "full apply over budget" >&2; fail=1; }
exit "$fail"
