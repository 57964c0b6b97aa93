#!/usr/bin/env bash
# One-command GPU check, at most 13 minutes on one GPU (the sum of the step timeouts below):
#   1. the CUDA tests (pytest -m cuda)
#   2. ResNet-50 none/ECA/SE/CBAM inference at batch 256, bf16 autocast, channels_last, eager and
#      torch.compile, timed in interleaved rounds, with peak memory
#   3. the same four at batch 128 for a full training step (forward, loss, backward, SGD), eager
#   4. ResNet-20 + ECA on Fashion-MNIST, 2 epochs on CUDA (needs apt's dataset-fashion-mnist)
#   5. config/paper.yaml in miniature (benchmarks/paper_miniature.py): the whole workflow to the report
#      on tiny written data, bf16, channels_last, inference and train timing (eager: step 2 compiles)
# and writes results/gpu_check/gpu_check.{json,md} (plus each step's own output and log).
#
#   benchmarks/gpu_check.sh [--out DIR] [--device cuda[:N]] [--rounds N]
#
# Without CUDA it checks its arguments, says so in one line and exits 0. A failing step does not stop
# the others; the exit status is 1 if any step failed or timed out.
set -euo pipefail

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "gpu_check: $*" >&2; exit 2; }

OUT=results/gpu_check
DEVICE=cuda
ROUNDS=11
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --out) [[ $# -ge 2 && -n "$2" ]] || die "--out needs a folder"; OUT=$2; shift 2 ;;
    --device) [[ $# -ge 2 ]] || die "--device needs a value (cuda or cuda:N)"; DEVICE=$2; shift 2 ;;
    --rounds) [[ $# -ge 2 ]] || die "--rounds needs a value (an integer >= 3)"; ROUNDS=$2; shift 2 ;;
    *) die "unknown argument '$1'; allowed: --out DIR, --device cuda[:N], --rounds N, --help" ;;
  esac
done
[[ "$DEVICE" =~ ^cuda(:[0-9]+)?$ ]] || die "--device must be cuda or cuda:N, got '$DEVICE'"
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 3 ]] || die "--rounds must be an integer >= 3, got '$ROUNDS'"

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
[[ -x "$PYTHON" ]] || PYTHON=$(command -v python3) || die "no Python found (set PYTHON or run scripts/setup.sh)"

if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
  echo "gpu_check: no CUDA device on this machine (torch.cuda.is_available() is False); nothing to check"
  exit 0
fi
INDEX=${DEVICE#cuda}; INDEX=${INDEX#:}; INDEX=${INDEX:-0}
"$PYTHON" -c "import sys, torch; sys.exit(0 if $INDEX < torch.cuda.device_count() else 1)" \
  || die "--device $DEVICE: this machine has $("$PYTHON" -c 'import torch; print(torch.cuda.device_count())') CUDA device(s)"

cd "$ROOT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
: > "$OUT/steps.tsv"
export CUDA_VISIBLE_DEVICES=$INDEX  # every step sees the chosen GPU as cuda:0

step() {  # step NAME TIMEOUT_S COMMAND...: run, log, record (name, exit status, seconds); never abort
  local name=$1 limit=$2 rc=0 t0
  shift 2
  echo "gpu_check: $name (at most ${limit} s)"
  t0=$EPOCHREALTIME
  timeout --kill-after=10 "$limit" "$@" > "$OUT/$name.log" 2>&1 || rc=$?
  printf '%s\t%s\t%.1f\n' "$name" "$rc" "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')" >> "$OUT/steps.tsv"
  [[ $rc -eq 0 ]] || echo "gpu_check: $name exited with $rc (log: $OUT/$name.log)"
}

MEASURE=("$PYTHON" -m ecabench.cli measure none eca se cbam --backbone resnet50 --input 3x224x224
         --num-classes 1000 --device cuda --dtype bfloat16 --channels-last --rounds "$ROUNDS" --json)
step cuda_tests 60 "$PYTHON" -m pytest -m cuda -q -rs -p no:cacheprovider --junitxml="$OUT/cuda_tests.xml" tests
step inference 240 sh -c "$(printf '%q ' "${MEASURE[@]}") --batch-size 256 --modes inference \
  --implementations eager compile > '$OUT/inference.json'"
step train 90 sh -c "$(printf '%q ' "${MEASURE[@]}") --batch-size 128 --modes train \
  --implementations eager > '$OUT/train.json'"
rm -rf "$OUT/resnet20_fashion_mnist"
step resnet20_fashion_mnist 60 "$PYTHON" -m ecabench.cli run --backbone resnet20 --attention eca \
  --dataset fashion-mnist --epochs 2 --batch-size 128 --device cuda --no-throughput --quiet \
  --out "$OUT/resnet20_fashion_mnist"
rm -rf "$OUT/paper_miniature"
step paper_miniature 300 "$PYTHON" "$ROOT/benchmarks/paper_miniature.py" --out "$OUT/paper_miniature" \
  --device cuda --cores "$(nproc)" --implementations eager

"$PYTHON" "$ROOT/benchmarks/gpu_check_summary.py" "$OUT"
