"""Quality of the shipped default runs: test MSE against PCA with as many components as latent dims.

Reads the runs `RunConfig.for_recipe(model)` names from the checkpoint root and re-measures both
errors on the 10,000-image MNIST test set (the run's own PCA baseline: fit on the same training
images the run saw, reconstructions clipped to [0, 1]), so the figures do not rest on numbers stored
in run.json.
"""

from __future__ import annotations

import argparse
import json

from common import Row, markdown_table

from aecore.baselines import fit_baseline
from aecore.compare import RunKey
from aecore.config import RunConfig
from aecore.data import load_dataset
from aecore.runstore import CheckpointError, default_checkpoint_root, find_run, load_model
from aecore.train import evaluate_loss


def measure(model_name: str, root) -> dict:
    config = RunConfig.for_recipe(model_name)
    info = find_run(config.run_id, root)
    data = load_dataset(config.dataset)
    model_mse = evaluate_loss(load_model(info), data.test.images)
    pca_mse = float(fit_baseline(data, RunKey.of(info).baseline).errors(data.test.images).mean())
    return {
        "model": model_name,
        "run_id": config.run_id,
        "latent_dim": config.latent_dim,
        "epochs": config.epochs,
        "train_seconds": info.train_seconds,
        "test_mse": model_mse,
        "pca_mse": pca_mse,
    }


def main(smoke: bool = False, root=None) -> dict:
    """`smoke` changes nothing here: the bench only reads the shipped runs and is cheap already."""
    root = root or default_checkpoint_root()
    results, rows = [], []
    for model_name in ("mlp", "conv"):
        bench = f"quality of the shipped default {model_name} run"
        try:
            r = measure(model_name, root)
        except CheckpointError as error:
            rows.append(Row(bench, "PCA", "no run", "", "test MSE <= PCA's", None, note=str(error)))
            continue
        results.append(r)
        ratio = r["test_mse"] / r["pca_mse"]
        rows.append(
            Row(
                bench=f"{bench} ({r['epochs']} epochs, trained in {r['train_seconds']:.0f} s)",
                reference=f"PCA-{r['latent_dim']} (clipped) test MSE {r['pca_mse']:.4f}",
                measured=f"test MSE {r['test_mse']:.4f}",
                ratio=f"{ratio:.2f}",
                target="<= 1.00",
                met=ratio <= 1.0,
            )
        )
    return {"rows": rows, "raw": results}


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    out = main()
    print(markdown_table(out["rows"]))
    print(json.dumps(out["raw"], indent=1))
