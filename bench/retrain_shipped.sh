#!/usr/bin/env bash
# Retrain every shipped run on `mnist` (54,000 train / 6,000 validation images), one process per run, all at once.
# Usage: bash bench/retrain_shipped.sh CHECKPOINTS_DIR DEVICE [PYTHON]
# The shipped runs of 2026-12-04 were made with DEVICE=cuda on an H200 (BENCHMARKS.md, "GPU"); on a CPU run it with
# DEVICE=cpu and expect one to two hours on 2 cores (each run uses one thread).
set -uo pipefail
root=$1; device=$2; py=${3:-python3}
mkdir -p "$root"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1
"$py" -c "from aecore.data import load_dataset; load_dataset('mnist')"  # unpack the data cache once, before the jobs
train() { "$py" -m aecore --checkpoints "$root" train --device "$device" --yes "$@"; }
pids=()
for seed in 0 1 2; do
  train --model mlp --seed "$seed" & pids+=($!)
  train --model conv --seed "$seed" & pids+=($!)
done
train --model vae --seed 0 & pids+=($!)
train --model dae --seed 0 & pids+=($!)
train --model mlp --recipe seed & pids+=($!)
train --model conv --recipe seed & pids+=($!)
for b in 2 4 8 16 64; do train --model mlp --bottleneck "$b" & pids+=($!); done
for b in 1 4; do train --model conv --bottleneck "$b" & pids+=($!); done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=$((failed + 1)); done
echo "retrain_shipped: ${#pids[@]} runs, $failed failed"
exit "$failed"
