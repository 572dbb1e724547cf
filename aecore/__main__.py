"""Command line: `python -m aecore train|evaluate|list|delete ...` (argument parsing lives only here)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from aecore.config import DATASETS, MODELS, RECIPE_DEFAULTS, RECIPES, ConfigError, RunConfig

USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr with exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(message)


def build_parser() -> Parser:
    parser = Parser(prog="python -m aecore", description="Train, evaluate and manage the two MNIST autoencoders.")
    parser.add_argument(
        "--checkpoints", type=Path, default=None, help="run folder root (default: $AECORE_CHECKPOINTS or ./checkpoints)"
    )
    parser.add_argument("--data", default=None, help="data root (default: $AECORE_DATA or ./data)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a run (or reuse the cached one) and print its test MSE")
    train.add_argument("--model", choices=MODELS, default="mlp")
    train.add_argument(
        "--recipe",
        choices=RECIPES,
        default="onecycle",
        help="; ".join(f"{r.name}: {r.description}" for r in RECIPE_DEFAULTS.values()).replace("%", "%%"),
    )
    train.add_argument(
        "--bottleneck", type=int, default=None, help="code width (MLP) or code channels of 4x4 (conv); default 32 / 2"
    )
    train.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    train.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    train.add_argument(
        "--learning-rate", type=float, default=None, help="peak rate for onecycle; default: the recipe's"
    )
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--dataset", choices=DATASETS, default="mnist-sample")
    train.add_argument("--train-limit", type=int, default=None, help="train on only this many images (quick trials)")
    train.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")
    train.add_argument("--retrain", action="store_true", help="train even when a cached run exists")

    evaluate = commands.add_parser("evaluate", help="per-digit test MSE of runs, beside the PCA baseline")
    evaluate.add_argument("runs", nargs="*", help="run names or unique prefixes (default: the two default runs)")

    commands.add_parser("list", help="list runs with model, latent dims, parameters, test MSE and age")

    delete = commands.add_parser("delete", help="delete runs")
    delete.add_argument("runs", nargs="+", help="run names")

    sweep = commands.add_parser("sweep", help="load or train one run per (model, bottleneck); cached runs are reused")
    sweep.add_argument("--bottlenecks", type=int, nargs="+", required=True, help="e.g. 1 2 4 8 (conv: 16x latent dims)")
    sweep.add_argument("--models", choices=MODELS, nargs="+", default=list(MODELS))
    sweep.add_argument("--recipe", choices=RECIPES, default="onecycle")
    sweep.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    sweep.add_argument("--seed", type=int, default=0)
    sweep.add_argument("--dataset", choices=DATASETS, default="mnist-sample")
    sweep.add_argument("--train-limit", type=int, default=None, help="train on only this many images (quick trials)")
    sweep.add_argument("--device", default="auto", help="auto, cpu, cuda or mps")

    project = commands.add_parser("project", help="precompute the latent page's 2-D maps into each run's folder")
    project.add_argument("runs", nargs="*", help="run names or unique prefixes (default: the two default runs)")
    project.add_argument(
        "--method",
        choices=("umap", "pca", "tsne", "raw"),
        nargs="+",
        default=None,
        help="default: umap and pca (and raw for a 2-D latent)",
    )
    project.add_argument("--points", type=int, default=10_000, help="test digits per map (default: all 10,000)")
    project.add_argument("--force", action="store_true", help="recompute even when a cached map exists")
    return parser


def config_from_args(args: argparse.Namespace) -> RunConfig:
    overrides = {
        name: value
        for name, value in (
            ("bottleneck", args.bottleneck),
            ("epochs", args.epochs),
            ("batch_size", args.batch_size),
            ("learning_rate", args.learning_rate),
        )
        if value is not None
    }
    return RunConfig.for_recipe(
        args.model, args.recipe, seed=args.seed, dataset=args.dataset, train_limit=args.train_limit, **overrides
    )


def cmd_train(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from aecore.checkpoints import load_or_train

    config = config_from_args(args)
    bar = None

    def progress(p) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=p.epochs * p.batches, desc=config.run_id, unit="batch", file=sys.stderr)
        bar.update(1)
        last_val = f"{p.history[-1].val_loss:.5f}" if p.history else "-"
        bar.set_postfix_str(f"epoch {p.epoch}/{p.epochs} loss {p.loss:.5f} val {last_val}", refresh=False)

    try:
        info, _ = load_or_train(
            config,
            root=args.checkpoints,
            data_root=args.data,
            device=args.device,
            progress=progress,
            retrain=args.retrain,
        )
    finally:
        if bar is not None:
            bar.close()
    cached = " (cached)" if bar is None else ""
    print(
        f"{info.run_id}{cached}: test MSE {info.test_mse:.5f} "
        f"(PCA-{info.latent_dim} {info.pca_mse:.5f}), {info.parameters:,} parameters"
    )
    return 0


def default_run_ids() -> list[str]:
    return [RunConfig.for_recipe(model).run_id for model in MODELS]


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from aecore.checkpoints import find_run, load_model
    from aecore.data import load_dataset
    from aecore.metrics import PCABaseline, evaluate

    for name in args.runs or default_run_ids():
        info = find_run(name, args.checkpoints)
        model = load_model(info)
        data = load_dataset(info.config.dataset, args.data)
        ours = evaluate(model, data.test.images, data.test.labels)
        pca = PCABaseline.fit(data.train.images, info.latent_dim, seed=info.config.seed).evaluate(
            data.test.images, data.test.labels
        )
        table = ours.per_digit().rename(columns={"mse": info.config.model}).astype({"digit": object})
        table[f"pca-{info.latent_dim}"] = pca.per_digit()["mse"]
        table.loc[len(table)] = ["all", len(ours.labels), ours.mse, pca.mse]
        print(
            f"{info.run_id} · {info.config.model}, latent {info.latent_dim}, {info.parameters:,} parameters · "
            f"{data.description}"
        )
        with pd.option_context("display.float_format", "{:.5f}".format):
            print(table.to_string(index=False))
        print()
    return 0


def _age(created: str) -> str:
    seconds = (datetime.now(UTC) - datetime.fromisoformat(created)).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from aecore.checkpoints import list_runs

    runs, broken = list_runs(args.checkpoints)
    if not runs and not broken:
        print("no runs yet; train one with `python -m aecore train --model mlp`")
        return 0
    rows = [
        {
            "run": r.run_id,
            "model": r.config.model,
            "latent": r.latent_dim,
            "params": f"{r.parameters:,}",
            "recipe": r.config.recipe,
            "epochs": r.config.epochs,
            "test MSE": f"{r.test_mse:.5f}",
            "PCA MSE": f"{r.pca_mse:.5f}",
            "age": _age(r.created),
        }
        for r in runs
    ]
    if rows:
        print(pd.DataFrame(rows).to_string(index=False))
    for b in broken:
        print(f"unreadable {b.run_id}: {b.reason}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from aecore.checkpoints import delete_run

    for run_id in args.runs:
        delete_run(run_id, args.checkpoints)
        print(f"deleted {run_id}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from aecore.sweep import run_sweep, sweep_configs

    overrides = {"seed": args.seed, "dataset": args.dataset, "train_limit": args.train_limit}
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    configs = sweep_configs(args.models, args.bottlenecks, args.recipe, **overrides)

    def announce(i: int, config: RunConfig) -> None:
        print(
            f"[{i + 1}/{len(configs)}] {config.model} bottleneck {config.bottleneck}: {config.run_id}", file=sys.stderr
        )

    runs = run_sweep(configs, root=args.checkpoints, data_root=args.data, device=args.device, on_start=announce)
    for info in runs:
        print(f"{info.run_id}: latent {info.latent_dim}, test MSE {info.test_mse:.5f} (PCA {info.pca_mse:.5f})")
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    import time

    from aecore.checkpoints import find_run
    from aecore.projection import DEFAULT_METHODS, METHOD_TITLES, ProjectionConfig, project_saved_run

    for name in args.runs or default_run_ids():
        info = find_run(name, args.checkpoints)
        methods = args.method or [*DEFAULT_METHODS, *(["raw"] if info.latent_dim == 2 else [])]
        for method in methods:
            if method == "raw" and info.latent_dim != 2:
                print(f"{info.run_id}: skipped raw (the code has {info.latent_dim} dims, not 2)", file=sys.stderr)
                continue
            try:
                config = ProjectionConfig(method=method, n_points=args.points)
            except ValueError as error:
                raise UsageError(str(error)) from None
            started = time.perf_counter()
            projection = project_saved_run(info, config, data_root=args.data, use_cache=not args.force)
            took = time.perf_counter() - started
            print(
                f"{info.run_id}: {METHOD_TITLES[method]} of {projection.provenance['n_points']:,} test codes "
                f"ready in {took:.1f} s (computed in {projection.provenance['runtime_seconds']:.1f} s)"
            )
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "list": cmd_list,
    "delete": cmd_delete,
    "sweep": cmd_sweep,
    "project": cmd_project,
}


def main(argv: list[str] | None = None) -> int:
    from aecore.checkpoints import CheckpointError
    from aecore.data import DatasetUnavailable
    from aecore.train import TrainingCancelled, TrainingDiverged

    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (UsageError, ConfigError, CheckpointError, DatasetUnavailable, TrainingDiverged) as error:
        print(f"aecore: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (KeyboardInterrupt, TrainingCancelled):
        print("aecore: cancelled; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
