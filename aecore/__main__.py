"""Command line: `python -m aecore train|evaluate|list|delete|migrate|sweep|tune|studies|project ...` (argument
parsing lives only here). Architecture choices, bottleneck help and architecture options come from the registry."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from pathlib import Path

from aecore import architectures, datasets
from aecore.config import RECIPE_DEFAULTS, RECIPES, ConfigError, RunConfig
from aecore.job_request import JobRequest, confirmation, option_owners

USAGE_ERROR = 2
DATASET_HELP = "; ".join(f"{d.name}: {d.title}" for d in datasets.DATASETS)
INTERRUPTED = 130


class UsageError(Exception):
    """Bad input from the user: reported as one line on stderr with exit code 2."""


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + message; we want one line
        raise UsageError(message)


def add_config_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags that make a RunConfig: architecture, recipe, budget, options, seed, data."""
    specs = architectures.ARCHITECTURES
    parser.add_argument(
        "--model", choices=architectures.names(), default=specs[0].name,
        help="; ".join(f"{s.name}: {s.summary}" for s in specs).replace("%", "%%"),
    )  # fmt: skip
    parser.add_argument(
        "--recipe", choices=RECIPES, default="onecycle",
        help="; ".join(f"{r.name}: {r.description}" for r in RECIPE_DEFAULTS.values()).replace("%", "%%"),
    )  # fmt: skip
    bottleneck_help = "; ".join(f"{s.name}: {s.bottleneck_help} (default {s.default_bottleneck})" for s in specs)
    parser.add_argument("--bottleneck", type=int, default=None, help=bottleneck_help.replace("%", "%%"))
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    parser.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    parser.add_argument(
        "--learning-rate", type=float, default=None, help="peak rate for onecycle; default: the recipe's"
    )
    for name, owners in option_owners().items():
        which = ", ".join(spec.name for spec, _ in owners)
        option = owners[0][1]
        parser.add_argument(
            f"--{name.replace('_', '-')}", type=float, default=None, dest=f"option_{name}",
            help=f"{which} only: {option.help} (default {option.default:g})".replace("%", "%%"),
        )  # fmt: skip
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument("--seed", type=int, default=None, help="the run's seed (default: 0)")
    seeds.add_argument("--seeds", type=int, nargs="+", default=None, metavar="SEED", help="one run per seed: 0 1 2")
    parser.add_argument("--dataset", choices=datasets.names(), default=datasets.DEFAULT_DATASET, help=DATASET_HELP)
    parser.add_argument("--train-limit", type=int, default=None, help="train on only this many images (quick trials)")
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")


def folder(text: str) -> Path:
    """A folder argument: an empty one is a mistake (Path("") would be the current folder), not a folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give the folder that holds the runs")
    return Path(text)


def build_parser() -> Parser:
    parser = Parser(prog="python -m aecore", description="Train, evaluate and manage MNIST autoencoder runs.")
    parser.add_argument(
        "--checkpoints", type=folder, default=None,
        help="run folder root (default: $AECORE_CHECKPOINTS or ./checkpoints)",
    )  # fmt: skip
    parser.add_argument("--data", default=None, help="data root (default: $AECORE_DATA or ./data)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = commands.add_parser("train", help="train a run (or reuse the stored one) and print its test MSE")
    add_config_arguments(train)
    train.add_argument("--retrain", action="store_true", help="train even when a stored run exists")
    train.add_argument("--yes", action="store_true", help="do not ask before a long run")

    evaluate = commands.add_parser("evaluate", help="per-digit test MSE of runs, beside the PCA baseline")
    evaluate.add_argument("runs", nargs="*", help="run names or unique prefixes (default: the two default runs)")

    commands.add_parser("list", help="list runs: architecture, latent dims, parameters, test MSE, PCA, age")

    delete = commands.add_parser("delete", help="delete runs (asks first)")
    delete.add_argument("runs", nargs="+", help="run names, as `list` shows them")
    delete.add_argument("--yes", action="store_true", help="do not ask")
    delete.add_argument("--force", action="store_true", help="also delete a shipped default run")

    migrate = commands.add_parser(
        "migrate",
        help="rewrite format-1 runs (.pt weights) in the current format and re-score their PCA baseline; record "
        "the weights' tensors in run.json of runs saved before it held them; store what the dashboard shows of "
        "each run alone (PCA errors, per-digit intervals, default UMAP and PCA maps) where it is missing",
    )
    migrate.add_argument("runs", nargs="*", help="run names (default: every run that needs it)")

    sweep = commands.add_parser(
        "sweep", help="an Optuna grid study: one run per (model, bottleneck, seed); resumable, existing runs are reused"
    )
    sweep.add_argument("--bottlenecks", type=int, nargs="+", required=True, help="e.g. 1 2 4 8 (conv: 16x latent dims)")
    sweep.add_argument("--models", choices=architectures.names(), nargs="+", default=list(architectures.DEFAULT_PAIR))
    sweep.add_argument("--seeds", "--seed", type=int, nargs="+", default=[0], help="one run per seed (default: 0)")
    sweep.add_argument("--recipe", choices=RECIPES, default="onecycle")
    sweep.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    sweep.add_argument("--dataset", choices=datasets.names(), default=datasets.DEFAULT_DATASET, help=DATASET_HELP)
    sweep.add_argument("--train-limit", type=int, default=None, help="train on only this many images (quick trials)")
    sweep.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_study_options(sweep, "sweep-<models>-b<bottlenecks>-s<seeds>-<hash of the settings>")

    tune = commands.add_parser(
        "tune",
        help="an Optuna TPE study of one model's learning rate, epochs and batch size, minimising validation loss; "
        "trials that fall behind are pruned and save no run",
    )
    tune.add_argument("--model", choices=architectures.names(), default=architectures.DEFAULT_PAIR[0])
    tune.add_argument("--trials", type=int, default=20, help="finished trials to reach, earlier runs included")
    tune.add_argument(
        "--learning-rates", type=float, nargs=2, metavar=("LOW", "HIGH"), default=None,
        help="searched on a log scale (default: the recipe's rate /10 to x10)",
    )  # fmt: skip
    tune.add_argument(
        "--epochs", type=int, nargs=2, metavar=("MIN", "MAX"), default=None,
        help="default: a quarter of the recipe's epochs to all of them",
    )  # fmt: skip
    tune.add_argument("--batch-sizes", type=int, nargs="+", default=None, help="choices (default: 32 64 128 256)")
    tune.add_argument(
        "--startup-trials", type=int, default=5, help="random trials, never pruned, before TPE and pruning start"
    )
    tune.add_argument(
        "--warmup-epochs", type=int, default=None,
        help="first epoch at which a trial can be pruned (default: onecycle's warm-up, 30%% of the longest trial)",
    )  # fmt: skip
    tune.add_argument("--sampler-seed", type=int, default=None, help="seed TPE, for a repeatable study")
    tune.add_argument("--recipe", choices=RECIPES, default="onecycle")
    tune.add_argument("--bottleneck", type=int, default=None, help="default: the model's")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--dataset", choices=datasets.names(), default=datasets.DEFAULT_DATASET, help=DATASET_HELP)
    tune.add_argument("--train-limit", type=int, default=None, help="train on only this many images (quick trials)")
    tune.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    add_study_options(tune, "tune-<model>-b<bottleneck>-s<seed>-<recipe>-<hash of the search space>")

    studies = commands.add_parser("studies", help="list the studies in a storage, or one study's trials")
    studies.add_argument("study", nargs="?", help="a study name: show its trials")
    studies.add_argument("--delete", action="store_true", help="delete the study's record (asks first); its runs stay")
    studies.add_argument("--yes", action="store_true", help="with --delete: do not ask")
    studies.add_argument("--storage", default=None, help="an Optuna database URL (default: studies.db beside the runs)")

    project = commands.add_parser("project", help="precompute the latent page's 2-D maps into each run's folder")
    project.add_argument("runs", nargs="*", help="run names or unique prefixes (default: the two default runs)")
    project.add_argument(
        "--method", choices=("umap", "pca", "tsne", "raw"), nargs="+", default=None,
        help="default: umap and pca (and raw for a 2-D latent)",
    )  # fmt: skip
    project.add_argument("--points", type=int, default=10_000, help="test digits per map (default: all 10,000)")
    project.add_argument("--force", action="store_true", help="recompute even when a cached map exists")
    return parser


def add_study_options(command: argparse.ArgumentParser, default_name: str) -> None:
    command.add_argument("--study", default=None, help=f"study name (default: {default_name}); rerun to resume")
    command.add_argument(
        "--storage", default=None,
        help="an Optuna database URL that every worker reaches, e.g. postgresql://user@host:5432/db "
        "(default: sqlite studies.db beside the runs)",
    )  # fmt: skip
    command.add_argument("--workers", type=int, default=1, help="worker processes on this machine (default: 1)")
    command.add_argument(
        "--heartbeat", type=int, default=10, help="seconds between heartbeats; a trial silent 3x as long is retried"
    )


def configs_from_args(args: argparse.Namespace) -> list[RunConfig]:
    """One config per seed; options given for an architecture that does not have them are an error."""
    options = {name: getattr(args, f"option_{name}", None) for name in option_owners()}
    request = JobRequest(
        args.model, args.recipe, dataset=args.dataset, bottleneck=args.bottleneck, epochs=args.epochs,
        batch_size=args.batch_size, learning_rate=args.learning_rate, options=options,
        seeds=args.seeds or [args.seed or 0], train_limit=args.train_limit,
    )  # fmt: skip
    return request.configs()


def warn_and_confirm(configs: list[RunConfig], assume_yes: bool, root: Path) -> None:
    """Say when a bottleneck cannot help, estimate the training time, and ask when it is long (interactive
    terminals only)."""
    asking = confirmation(configs, root)
    if asking.bottleneck_warning:
        print(f"aecore: warning: {asking.bottleneck_warning}", file=sys.stderr)
    if asking.too_long is None:
        return
    if assume_yes or not sys.stdin.isatty():
        print(f"aecore: {asking.too_long}", file=sys.stderr)
        return
    answer = input(f"{asking.too_long}; start? [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise UsageError("not started")


class ProgressBar:
    """A tqdm bar on stderr over one run's batches, opened by the trainer's first progress report."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.bar = None

    def __call__(self, p) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=p.epochs * p.batches, desc=self.desc, unit="batch", file=sys.stderr)
        self.bar.update(1)
        last_val = f"{p.history[-1].val_loss:.5f}" if p.history else "-"
        self.bar.set_postfix_str(f"epoch {p.epoch}/{p.epochs} loss {p.loss:.5f} val {last_val}", refresh=False)

    @property
    def trained(self) -> bool:
        return self.bar is not None

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def cmd_train(args: argparse.Namespace) -> int:
    from aecore.pipeline import load_or_train
    from aecore.runstore import default_checkpoint_root

    configs = configs_from_args(args)
    root = args.checkpoints or default_checkpoint_root()
    warn_and_confirm(configs, args.yes, root)
    for config in configs:
        bar = ProgressBar(config.run_id)
        try:
            info, _ = load_or_train(
                config, root=root, data_root=args.data, device=args.device, progress=bar, retrain=args.retrain
            )
        finally:
            bar.close()
        stored = "" if bar.trained else " (stored run, not retrained)"
        seed = f"seed {config.seed} · " if args.seeds else ""
        print(
            f"{info.run_id}{stored}: {seed}test MSE {info.test_mse:.5f} "
            f"(PCA-{info.latent_dim} {info.pca_mse:.5f}), {info.parameters:,} parameters"
        )
    return 0


def default_run_ids() -> list[str]:
    return [RunConfig.for_recipe(name).run_id for name in architectures.DEFAULT_PAIR]


def cmd_evaluate(args: argparse.Namespace) -> int:
    import pandas as pd

    from aecore.runstore import check_weights, find_run
    from aecore.text import printable

    for name in args.runs or default_run_ids():
        info = find_run(name, args.checkpoints)
        check_weights(info)  # stored metrics of damaged weights are not the run's: one line, exit 2
        if info.format != 2:
            raise UsageError(f"{info.run_id} is in an old format; run `python -m aecore migrate {info.run_id}` first")
        table = pd.DataFrame([vars(row) for row in info.metrics.test.per_digit]).rename(columns={"mse": info.spec.name})
        table[f"pca-{info.latent_dim}"] = [row.mse for row in info.metrics.pca.per_digit]
        table = table.astype({"digit": object})
        table.loc[len(table)] = ["all", int(table["n"].sum()), info.test_mse, info.pca_mse]
        print(
            f"{info.run_id} · {info.spec.title}, latent {info.latent_dim}, {info.parameters:,} parameters · "
            f"{printable(info.dataset.description, 200)}"
        )
        print(f"PCA-{info.latent_dim}: fit on the run's {info.train_images:,} training images, clipped to [0, 1]")
        with pd.option_context("display.float_format", "{:.5f}".format):
            print(table.to_string(index=False))
        print()
    return 0


def _age(created: datetime) -> str:
    seconds = (datetime.now(UTC) - created).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def cmd_list(args: argparse.Namespace) -> int:
    import pandas as pd

    from aecore.runstore import list_runs
    from aecore.text import printable

    runs, broken = list_runs(args.checkpoints)
    if not runs and not broken:
        print("no runs yet; train one with `python -m aecore train --model mlp`")
        return 0
    rows = [
        {
            "run": r.run_id,
            "arch": r.spec.title,
            "bottleneck": r.config.bottleneck,
            "latent": r.latent_dim,
            "params": f"{r.parameters:,}",
            "recipe": r.config.recipe,
            "epochs": r.config.epochs,
            "seed": r.config.seed,
            "test MSE": f"{r.test_mse:.5f}",
            "PCA MSE": f"{r.pca_mse:.5f}" if r.format == 2 else "migrate",
            "age": _age(r.created_at),
        }
        for r in runs
    ]
    if rows:
        print(pd.DataFrame(rows).to_string(index=False))
    for b in broken:
        print(f"unreadable {printable(b.run_id)}: {printable(b.reason, 300)}")
    return 0


def cmd_delete(args: argparse.Namespace) -> int:
    from aecore.runstore import CheckpointError, default_checkpoint_root, delete_run
    from aecore.text import printable

    root = args.checkpoints if args.checkpoints is not None else default_checkpoint_root()
    shipped = set(default_run_ids())
    for name in args.runs:
        if name in shipped and not args.force:
            raise UsageError(f"{name} is a shipped default run; add --force to delete it")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"not deleting {printable(name)} without confirmation; add --yes")
            if input(f"delete {printable(name)} from {root}? [y/N] ").strip().lower() not in ("y", "yes"):
                raise UsageError("nothing was deleted")
        try:
            delete_run(name, root)
        except CheckpointError as error:
            raise UsageError(str(error)) from None
        print(f"deleted {printable(name)}")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from aecore import precompute
    from aecore.data import load_dataset
    from aecore.pipeline import upgrade_run
    from aecore.runstore import LEGACY_FORMAT, find_run, list_runs, record_tensors

    if args.runs:
        runs = [find_run(name, args.checkpoints) for name in args.runs]
    else:
        runs = [r for r in list_runs(args.checkpoints)[0] if r.format == LEGACY_FORMAT or not r.tensors
                or not r.architecture or precompute.missing(r)]  # fmt: skip
    if not runs:
        print("every run is in the current format")
    loaded: dict[str, object] = {}  # datasets by name, loaded once for every run that needs one
    for info in runs:
        done = False
        if info.format == LEGACY_FORMAT:
            info = upgrade_run(info, data_root=args.data)
            print(f"{info.run_id}: migrated; test MSE {info.test_mse:.5f}, PCA-{info.latent_dim} {info.pca_mse:.5f}")
            done = True
        elif not info.tensors or not info.architecture:
            info = record_tensors(info)
            print(f"{info.run_id}: run.json now records its weights' tensors (listing it no longer needs torch)")
            done = True
        absent = precompute.missing(info)
        if absent:
            name = info.config.dataset
            if name not in loaded:
                loaded[name] = load_dataset(name, args.data)
            try:
                precompute.precompute_run(info, loaded[name])
            except (OSError, ValueError) as error:  # one run's folder or data: the others still get theirs
                print(f"{info.run_id}: could not store what the dashboard shows of this run alone: {error}")
                continue
            print(f"{info.run_id}: stored what the dashboard shows of this run alone ({', '.join(absent)})")
        elif not done:
            print(f"{info.run_id}: already in the current format")
    return 0


def run_study_from_args(spec, args: argparse.Namespace):
    """Run a sweep or tune study with the CLI's progress display: a bar per trial (one worker) or a line each.

    Returns the study's report, or None when interrupted (the message is printed).
    """
    import optuna

    from aecore.studies import run_study
    from aecore.train import TrainingCancelled

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    bar = ProgressBar("")

    def started(i: int, n: int, config: RunConfig) -> None:
        nonlocal bar
        bar = ProgressBar(f"[{i}/{n}] {config.run_id}")
        if args.workers > 1:
            print(f"[{i}/{n}] {describe_trial(config)}: {config.run_id}", file=sys.stderr)

    def ended(outcome) -> None:
        bar.close()
        what = {"COMPLETE": "reused" if outcome.reused else "trained", "PRUNED": "pruned", "FAIL": "failed"}
        value = f" val MSE {outcome.value:.5f}" if outcome.value is not None else ""
        note = f" ({outcome.message})" if outcome.message else ""
        print(f"trial {outcome.number}, {describe_trial(outcome.config)}: {what[outcome.state]}{value}{note}",
              file=sys.stderr)  # fmt: skip

    try:
        return run_study(spec, study_name=args.study, storage=args.storage, root=args.checkpoints,
                         data_root=args.data, device=args.device, workers=args.workers, heartbeat=args.heartbeat,
                         on_trial_start=started, on_trial_end=ended, progress=lambda p: bar(p),
                         sampler_seed=getattr(args, "sampler_seed", None))  # fmt: skip
    except (KeyboardInterrupt, TrainingCancelled):
        bar.close()
        print("aecore: interrupted; the study keeps its finished trials; the same command resumes it", file=sys.stderr)
        return None


def describe_trial(config: RunConfig) -> str:
    return (
        f"{config.model} bottleneck {config.bottleneck} seed {config.seed}, {config.epochs} epochs, "
        f"batch {config.batch_size}, lr {config.learning_rate:.3g}"
    )


def cmd_sweep(args: argparse.Namespace) -> int:
    from aecore.studies import SweepSpec, study_runs
    from aecore.text import printable

    spec = SweepSpec(models=tuple(args.models), bottlenecks=tuple(args.bottlenecks), seeds=tuple(args.seeds),
                     recipe=args.recipe, epochs=args.epochs, dataset=args.dataset,
                     train_limit=args.train_limit)  # fmt: skip
    report = run_study_from_args(spec, args)
    if report is None:
        return INTERRUPTED
    runs = {info.run_id: info for info in study_runs(report.name, args.storage, args.checkpoints)}
    done = report.trials[report.trials["state"] == "COMPLETE"].drop_duplicates("run_id")
    print(
        f"study {printable(report.name)} in {printable(report.storage)}: {len(done)} of {spec.size} grid points "
        "have a run"
    )
    for row in done.itertuples():
        info = runs.get(row.run_id)
        if info is None:
            print(f"{row.run_id}: val MSE {row.value:.5f} (trained elsewhere: not in this checkpoints folder)")
        else:
            print(f"{info.run_id}: seed {info.config.seed}, latent {info.latent_dim}, "
                  f"test MSE {info.test_mse:.5f} (PCA {info.pca_mse:.5f})")  # fmt: skip
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    from aecore.studies import BATCH_SIZES, TuneSpec

    spec = TuneSpec(
        model=args.model,
        trials=args.trials,
        learning_rates=None if args.learning_rates is None else tuple(args.learning_rates),
        epochs=None if args.epochs is None else tuple(args.epochs),
        batch_sizes=tuple(args.batch_sizes or BATCH_SIZES),
        recipe=args.recipe,
        bottleneck=args.bottleneck,
        seed=args.seed,
        dataset=args.dataset,
        train_limit=args.train_limit,
        startup_trials=args.startup_trials,
        warmup_epochs=args.warmup_epochs,
    )
    report = run_study_from_args(spec, args)
    if report is None:
        return INTERRUPTED
    trials = report.trials
    counts = trials["state"].value_counts()
    print(
        f"{len(trials)} trials: {counts.get('COMPLETE', 0)} complete, {counts.get('PRUNED', 0)} pruned, "
        f"{counts.get('FAIL', 0)} failed"
    )
    complete = trials[trials["state"] == "COMPLETE"]
    if complete.empty:
        print("no trial finished; nothing to recommend")
        return 0
    best = complete.loc[complete["value"].idxmin()]
    print(
        f"best (lowest validation MSE): trial {best['number']}, learning rate {best['learning_rate']:.3g}, "
        f"{best['epochs']} epochs, batch {best['batch_size']} -> {best['run_id']}: val MSE {best['value']:.5f}"
    )
    return 0


def cmd_studies(args: argparse.Namespace) -> int:
    import pandas as pd

    from aecore.runstore import default_checkpoint_root
    from aecore.studies import (
        default_storage,
        delete_study,
        describe_storage,
        list_studies,
        run_presence,
        trials_frame,
    )
    from aecore.text import printable

    where = describe_storage(args.storage or default_storage(args.checkpoints))
    if args.study is None:
        if args.delete:
            raise UsageError("--delete needs a study name")
        table = list_studies(args.storage, args.checkpoints)
        if table.empty:
            print(f"no studies in {where}; start one with `python -m aecore sweep` or `python -m aecore tune`")
        else:
            print(printable_table(table))
        return 0
    name = printable(args.study)
    if args.delete:
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(f"not deleting study {name} without confirmation; add --yes")
            if input(f"delete study {name} from {where}? Its runs stay. [y/N] ").strip().lower() not in ("y", "yes"):
                raise UsageError("nothing was deleted")
        delete_study(args.study, args.storage, args.checkpoints)
        print(f"deleted study {name} from {where}; its runs stay in the checkpoints folder")
        return 0
    table = trials_frame(args.study, args.storage, args.checkpoints).drop(columns=["started"])
    root = args.checkpoints or default_checkpoint_root()
    table.insert(table.columns.get_loc("run_id") + 1, "run", [run_presence(r, root) for r in table["run_id"]])
    with pd.option_context("display.float_format", "{:.5g}".format, "display.width", 200):
        print(printable_table(table))
    return 0


def printable_table(table) -> str:
    """A frame as text with every cell printable: names and attributes come from a storage other tools write."""
    from aecore.text import printable

    return table.map(lambda v: printable(v, 80) if isinstance(v, str) else v).to_string(index=False)


def cmd_project(args: argparse.Namespace) -> int:
    import time

    from aecore.projection import DEFAULT_METHODS, METHOD_TITLES, ProjectionConfig, project_saved_run
    from aecore.runstore import find_run

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
    "migrate": cmd_migrate,
    "sweep": cmd_sweep,
    "tune": cmd_tune,
    "studies": cmd_studies,
    "project": cmd_project,
}


NAME_MAX = 255  # bytes in one path component on Linux and macOS file systems
READING_COMMANDS = ("evaluate", "list", "delete", "migrate", "studies", "project")  # need runs that exist
DATA_FOLDERS = ("mnist-test", "mnist-train", datasets.FASHION_FOLDERS[0])  # what a data root holds
INTEGER_RANGES = {  # argparse gives any int; these reach sleeps, timedeltas and seeds that overflow or refuse
    "heartbeat": (1, 86_400), "workers": (1, 256), "sampler_seed": (0, 2**32 - 1), "trials": (1, 100_000),
    "startup_trials": (0, 100_000), "warmup_epochs": (0, 1000), "points": (1, 1_000_000),
}  # fmt: skip
MAX_STUDY_NAME = 200  # PostgreSQL's column holds 512; a name is also printed in every line about the study


def check_arguments(args: argparse.Namespace) -> None:
    """Everything a user can get wrong on the command line, checked in one place before any work starts: each
    fault is one UsageError line (exit 2), never a traceback from deep inside."""
    import os

    from aecore.devices import DEVICE_PATTERN
    from aecore.text import printable, shown

    paths = {"--checkpoints": args.checkpoints, "--data": args.data,
             **{name: os.environ.get(name) or None for name in ("AECORE_CHECKPOINTS", "AECORE_DATA")}}  # fmt: skip
    paths.update({f"run {printable(run, 40)}": run for run in getattr(args, "runs", None) or []})
    for where, path in paths.items():
        if path is not None:
            _check_path_length(where, str(path))
    checkpoints = args.checkpoints or (Path(os.environ["AECORE_CHECKPOINTS"]) if os.environ.get("AECORE_CHECKPOINTS")
                                       else None)  # fmt: skip
    if checkpoints is not None:
        if checkpoints.exists() and not checkpoints.is_dir():
            raise UsageError(f"the checkpoints folder {printable(checkpoints)} is a file, not a folder")
        if args.command in READING_COMMANDS and not checkpoints.exists():
            raise UsageError(f"the checkpoints folder {printable(checkpoints)} does not exist")
    data = args.data if args.data is not None else os.environ.get("AECORE_DATA") or None
    check_data_root(data)
    device = getattr(args, "device", None)
    if device is not None and not DEVICE_PATTERN.match(device):
        raise UsageError(f"device must be auto, cpu, cuda, cuda:N or mps; got {shown(device)}")
    for name, (low, high) in INTEGER_RANGES.items():
        value = getattr(args, name, None)
        if value is not None and not low <= value <= high:
            flag = "--" + name.replace("_", "-")
            raise UsageError(f"{flag} must be a whole number from {low:,} to {high:,}; got {printable(value, 40)}")
    study = getattr(args, "study", None)
    if study is not None and (not study.strip() or len(study) > MAX_STUDY_NAME or printable(study) != study):
        raise UsageError(f"a study name is 1 to {MAX_STUDY_NAME} printable characters; got {printable(study, 60)}")
    storage = getattr(args, "storage", None)
    if storage is not None:
        _check_storage(storage)


def _check_path_length(where: str, path: str) -> None:
    from aecore.text import printable

    long = next((part for part in Path(path).parts if len(part.encode(errors="surrogateescape")) > NAME_MAX), None)
    if long is not None:
        raise UsageError(f"{where}: a path component is {len(long):,} characters long, more than {NAME_MAX}: "
                         f"{printable(long, 40)}")  # fmt: skip
    if len(path.encode(errors="surrogateescape")) > 4000:
        raise UsageError(f"{where}: the path is {len(path):,} characters long, more than 4,000")


def _check_storage(storage: str) -> None:
    """An empty --storage is a mistake, not the default; a SQLite file's folder must be a folder or creatable."""
    from aecore.text import printable

    if not storage.strip():
        raise UsageError("--storage is empty; leave it out for studies.db beside the runs, or give a database URL")
    if storage.startswith("sqlite:///"):
        database = Path(storage.removeprefix("sqlite:///"))
        _check_path_length("--storage", str(database))
        for parent in [database.parent, *database.parent.parents]:
            if parent.exists():
                if not parent.is_dir():
                    where = f"--storage {printable(storage, 100)}"
                    raise UsageError(f"{where}: {printable(parent)} is a file, not a folder")
                break


def check_data_root(data: str | None) -> None:
    """A data root given on the command line (or in AECORE_DATA) must exist and hold a dataset: a typo, or `/`,
    must not create folders or caches."""
    if data is None:
        return
    root = Path(data)
    if not data.strip() or not root.is_dir():
        raise UsageError(f"the data folder {data} does not exist; give the folder that holds mnist-test/")
    if not any((root / name).is_dir() for name in DATA_FOLDERS):
        raise UsageError(f"the data folder {data} holds no dataset: mnist-test/ is missing (restore it with git "
                         "checkout data/, or give the folder that holds it)")  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    from aecore.data import DatasetUnavailable
    from aecore.devices import DeviceError
    from aecore.runstore import CheckpointError
    from aecore.studies import StudyError
    from aecore.train import TrainingCancelled, TrainingDiverged

    try:
        args = build_parser().parse_args(argv)
        check_arguments(args)
        return COMMANDS[args.command](args)
    except (
        UsageError,
        ConfigError,
        CheckpointError,
        DatasetUnavailable,
        TrainingDiverged,
        DeviceError,
        StudyError,
    ) as error:
        from aecore.text import printable

        print(f"aecore: error: {printable(error, 500)}", file=sys.stderr)
        return USAGE_ERROR
    except (KeyboardInterrupt, TrainingCancelled):
        print("aecore: cancelled; nothing was saved", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
