#!/usr/bin/env bash
# Frechet distance of deepstyle's DCGAN and of the PyTorch reference over several seeds, at
# several iteration counts, on Fashion-MNIST 32x32 (width 32, batch 64): the README's FID table.
#
#   bench/fid_seeds.sh [--seeds "1 2 3"] [--at "1000 2000 3000"] [--out DIR] [--python PY]
#                      [--resize "lanczos bicubic"] [--skip-ours] [--skip-reference]
#
# Needs a release build (`cargo build --release`), Debian's dataset-fashion-mnist and, for the
# reference, a Python with torch and numpy (`--python`, default $DEEPSTYLE_TORCH_PYTHON). Ours is
# trained to each count in turn with `--resume`, so one run gives every row. Each line of
# DIR/fid.txt is `who resize seed iterations fid`. About 7 minutes per run on a 2-core CPU.
# DEEPSTYLE_BIN picks another deepstyle binary.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${DEEPSTYLE_BIN:-$root/target/release/deepstyle}"
data=/usr/share/datasets/fashion-mnist
classifier="$root/weights/fashion-classifier-32.safetensors"
seeds="1 2 3"
at="1000 2000 3000"
out=/tmp/deepstyle-fid
python="${DEEPSTYLE_TORCH_PYTHON:-python3}"
resizes="lanczos bicubic"
ours=1
reference=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seeds) seeds="$2"; shift 2 ;;
    --at) at="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --python) python="$2"; shift 2 ;;
    --resize) resizes="$2"; shift 2 ;;
    --skip-ours) ours=0; shift ;;
    --skip-reference) reference=0; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -x "$bin" ]] || { echo "build first: cargo build --release ($bin is missing)" >&2; exit 1; }
mkdir -p "$out"
fid() { "$bin" fid --classifier "$classifier" --fashion-mnist "$data" "$@" 2>>"$out/fid.log" | awk '/FID/ {print $NF}'; }
last() { echo "$at" | awk '{print $NF}'; }

for seed in $seeds; do
  if [[ $ours == 1 ]]; then
    run="$out/ours_s$seed"
    rm -rf "$run"
    resume=""
    for iters in $at; do
      "$bin" train-gan "fashion-mnist:$data" --out "$run" --iters "$iters" --batch 64 \
        --image-size 32 --channels 1 --width 32 --seed "$seed" --threads 2 \
        --sample-every 500 --checkpoint-every 500 $resume > "$run.log" 2>&1
      resume="--resume"
      echo "ours lanczos $seed $iters $(fid --weights "$run/generator.safetensors")" | tee -a "$out/fid.txt"
    done
  fi
  if [[ $reference == 1 ]]; then
    for resize in $resizes; do
      run="$out/torch_${resize}_s$seed"
      "$python" "$root/bench/reference/dcgan_torch.py" --fashion-mnist "$data" --image-size 32 \
        --channels 1 --width 32 --iters "$(last)" --threads 2 --seed "$seed" --out "$run" \
        --resize "$resize" --save-at "$(echo $at | tr ' ' ',')" > "$run.log" 2>&1
      for iters in $at; do
        echo "torch $resize $seed $iters $(fid --npy "$run/samples_$iters.npy")" | tee -a "$out/fid.txt"
      done
    done
  fi
done
