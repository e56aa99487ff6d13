#!/usr/bin/env bash
# Each training change of the conditional-generation work, alone, against today's trainer:
# Fashion-MNIST 32x32, width 32, batch 64, seed 1, `--iters` iterations (default 3,000, the shipped
# generator's budget), scored by the project's Frechet distance on 10,000 samples (and, for
# conditional runs, per class).
#
#   bench/gan_changes.sh [--iters 3000] [--seed 1] [--out DIR] [--only "base ema hinge ..."]
#
# Variants: base (today's trainer), ema (an average of G at 0.999; the same run's live weights
# score as base), hinge, sn (spectral norm in D instead of BatchNorm), ttur (lr G 1e-4, D 4e-4),
# cond (class-conditional G and projection D), and any extra given as `name:flags` in --extra.
# Each line of DIR/fid.txt is `variant iterations fid`. About 5-7 minutes a run on a 2-core CPU.
# DEEPSTYLE_BIN picks another deepstyle binary.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DEEPSTYLE_BIN:-$root/target/release/deepstyle}"
data=/usr/share/datasets/fashion-mnist
classifier="$root/weights/fashion-classifier-32.safetensors"
iters=3000
seed=1
out=/tmp/deepstyle-gan-changes
only="base ema hinge sn ttur cond"
extra=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --iters) iters="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --extra) extra="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "build first: cargo build --release ($bin is missing)" >&2; exit 1; }
mkdir -p "$out"

flags_of() {
  case "$1" in
    base) echo "" ;;
    ema) echo "--ema 0.999" ;;
    hinge) echo "--loss hinge" ;;
    sn) echo "--spectral-norm" ;;
    ttur) echo "--lr 1e-4 --lr-d 4e-4" ;;
    cond) echo "--conditional" ;;
    *) for e in $extra; do [[ "${e%%:*}" == "$1" ]] && echo "${e#*:}" | tr ',' ' '; done ;;
  esac
}

variants="$only"
for e in $extra; do variants="$variants ${e%%:*}"; done
for variant in $variants; do
  run="$out/$variant"
  rm -rf "$run"
  # shellcheck disable=SC2046
  "$bin" train-gan "fashion-mnist:$data" --out "$run" --iters "$iters" --batch 64 \
    --image-size 32 --channels 1 --width 32 --seed "$seed" --threads 2 \
    --sample-every 500 --checkpoint-every 500 $(flags_of "$variant") > "$run.log" 2>&1
  per_class=""
  grep -q '"classes": \[\]' "$run/generator.json" || per_class="--per-class"
  "$bin" fid --classifier "$classifier" --fashion-mnist "$data" \
    --weights "$run/generator.safetensors" $per_class > "$run.fid" 2>>"$out/fid.log"
  echo "$variant $iters $(awk '/^FID/ {print $NF}' "$run.fid")" | tee -a "$out/fid.txt"
  if [[ -f "$run/generator-live.safetensors" ]]; then
    "$bin" fid --classifier "$classifier" --fashion-mnist "$data" \
      --weights "$run/generator-live.safetensors" $per_class > "$run.live.fid" 2>>"$out/fid.log"
    echo "$variant(live) $iters $(awk '/^FID/ {print $NF}' "$run.live.fid")" | tee -a "$out/fid.txt"
  fi
done
