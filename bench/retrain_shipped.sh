#!/usr/bin/env bash
# Retrain every shipped run on `mnist` (54,000 train / 6,000 validation images) on the CPU, one run at a time.
# Usage: bash bench/retrain_shipped.sh CHECKPOINTS_DIR [PYTHON] [STUDY_STORAGE_URL]
# The order puts what the dashboard opens on first (the default pair), then the sample pair, the other seeds, the
# VAE and DAE, and the bottleneck sweeps (as sweep studies in STUDY_STORAGE_URL, which reuse the seed-0 defaults).
# About an hour on 2 quiet cores (BENCHMARKS.md, "Shipped runs on real MNIST").
set -uo pipefail
root=$1; py=${2:-python3}; storage=${3:-}
mkdir -p "$root"
"$py" -c "from aecore.data import load_dataset; load_dataset('mnist')"  # unpack the data cache once
failed=0
train() { "$py" -m aecore --checkpoints "$root" train --device cpu --yes "$@" 2>&1 | grep -v "batch/s" \
  || failed=$((failed + 1)); }
train --model mlp --seed 0
train --model conv --seed 0
train --model mlp --dataset mnist-sample
train --model conv --dataset mnist-sample
for seed in 1 2; do train --model mlp --seed "$seed"; train --model conv --seed "$seed"; done
train --model mlp --recipe seed
train --model conv --recipe seed
train --model vae --seed 0
train --model dae --seed 0
study=(); [[ -n "$storage" ]] && study=(--storage "$storage")
"$py" -m aecore --checkpoints "$root" sweep --models mlp --bottlenecks 2 4 8 16 32 64 --study sweep-mlp-mnist \
  "${study[@]}" --device cpu 2>&1 | grep -v "batch/s" || failed=$((failed + 1))
"$py" -m aecore --checkpoints "$root" sweep --models conv --bottlenecks 1 2 4 --study sweep-conv-mnist \
  "${study[@]}" --device cpu 2>&1 | grep -v "batch/s" || failed=$((failed + 1))
for seed in 1 2; do train --model vae --seed "$seed"; train --model dae --seed "$seed"; done
echo "retrain_shipped: $failed failed"
exit "$failed"
