#!/usr/bin/env bash
# Runs the training benchmark of two builds alternately, so both meet the same machine phases.
#
#   bench/compare_builds.sh BEFORE_COMMIT AFTER_COMMIT [ROUNDS] [-- training options]
#
# Builds each commit's `cargo bench --bench training` in a worktree (one shared target folder,
# each executable copied away before the next build overwrites it), then runs them in turn,
# ROUNDS times (default 3), with `--no-torch --no-layers --iters 3 --rounds 1` unless options
# are given after `--`. Compare the rows' s/it (best and median): the machine's speed drifts.
set -euo pipefail
before=$1
after=$2
rounds=${3:-3}
shift $(( $# >= 3 ? 3 : $# ))
[ "${1:-}" = "--" ] && shift
options=("$@")
[ ${#options[@]} -eq 0 ] && options=(--no-torch --no-layers --iters 3 --rounds 1)

top=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
target=${CARGO_TARGET_DIR:-$work/target}
trap 'git -C "$top" worktree remove --force "$work/tree" 2>/dev/null || true' EXIT
for side in before after; do
  commit=${!side}
  git -C "$top" worktree add --force --detach "$work/tree" "$commit" >/dev/null
  (cd "$work/tree" && CARGO_TARGET_DIR=$target cargo bench --locked --bench training --no-run 2>"$work/$side.log")
  exe=$(grep -o "$target/release/deps/training-[0-9a-f]*" "$work/$side.log" | tail -1)
  cp "$exe" "$work/training-$side"
  git -C "$top" worktree remove --force "$work/tree"
done
for round in $(seq "$rounds"); do
  for side in before after; do
    echo "== $side (${!side}), round $round"
    "$work/training-$side" "${options[@]}"
  done
done
