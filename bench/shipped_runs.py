"""Print the table of shipped runs for BENCHMARKS.md: config, training seconds, test MSE beside PCA at the same dims.

python bench/shipped_runs.py [CHECKPOINTS]
"""

from __future__ import annotations

import sys
from pathlib import Path

from common import REPO

from aecore.runstore import list_runs


def main() -> None:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "checkpoints"
    print("| run | model | data | recipe | epochs | batch | seed | train s | test MSE | PCA MSE |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    runs, _ = list_runs(root)
    for run in sorted(runs, key=lambda r: (r.config.dataset, r.config.model, r.config.bottleneck,
                                                       r.config.recipe, r.config.seed)):  # fmt: skip
        c = run.config
        print(
            f"| `{run.run_id}` | {c.spec.title} b={c.bottleneck} | {c.dataset} | {c.recipe} | {c.epochs} | "
            f"{c.batch_size} | {c.seed} | {run.train_seconds:.0f} | {run.test_mse:.5f} | {run.pca_mse:.5f} |"
        )


if __name__ == "__main__":
    main()
