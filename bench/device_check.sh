#!/bin/sh
# One device-machine check (issue 21): --device auto picks the accelerator, a short training run uses it, and the
# full-set throughput bench with CPU thread counts 1-8 and the accelerator. Output lands in $OUT when set.
set -e
export PYTHONUNBUFFERED=1
OUT=${OUT:-/tmp}
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), 'cores', __import__('os').cpu_count())"
python3 - <<'PY'
from aecore.config import RunConfig
from aecore.data import load_dataset
from aecore.devices import resolve_device
from aecore.train import train
print("auto ->", resolve_device("auto"))
data = load_dataset("mnist")
result = train(RunConfig.for_recipe("conv", "seed", epochs=1, train_limit=2000), data, device="auto")
print("trained on", next(result.model.parameters()).device, "val loss", result.history[-1].val_loss)
PY
python3 bench/bench_training.py --full-set --batches 200 --threads 1 2 4 8 --repeats 2 | tee "$OUT/full_set.txt"
