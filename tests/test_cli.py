"""The command line: train (every architecture, options as flags, several seeds), list, evaluate, migrate, delete;
bad input is one line on stderr and exit code 2, before anything is written."""

from __future__ import annotations

import builtins
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from aecore.__main__ import build_parser, configs_from_args, main
from aecore.architectures import ARCHITECTURES
from aecore.config import RunConfig
from aecore.runstore import find_run, list_runs, load_evaluation, load_model, load_timeline
from tests.runs import tiny_config, tree, write_legacy_run

REPO = Path(__file__).resolve().parent.parent
QUICK = ["--epochs", "1", "--train-limit", "50"]


def one_line_error(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert message in err, err
    assert err.count("\n") == 1 and err.startswith("aecore: error: ") and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--epochs", "0"], "epochs must be from 1 to 1000; got 0"),
        (["train", "--epochs", "-5"], "epochs must be from 1 to 1000; got -5"),
        (["train", "--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
        (["train", "--learning-rate", "1e9"], "learning_rate must be from"),
        (["train", "--learning-rate", "nan"], "learning_rate must be a number"),
        (["train", "--batch-size", "99999999"], "batch_size must be from 1 to 8192"),
        (["train", "--bottleneck", "0"], "bottleneck must be from 1"),
        (["train", "--model", "conv", "--bottleneck", "257"], "bottleneck must be from 1 to 256; got 257"),
        (["train", "--model", "transformer"], "argument --model: invalid choice: 'transformer'"),
        (["train", "--model", "conv", "--beta", "2"], "conv has no option beta (its options: none)"),
        (["train", "--model", "vae", "--beta", "500"], "beta must be from 0 to 100; got 500"),
        (["train", "--model", "vae", "--beta", "inf"], "beta must be a number from 0 to 100; got inf"),
        (["train", "--model", "dae", "--noise", "-1"], "noise must be from 0 to 1; got -1"),
        (["train", "--model", "mlp", "--noise", "0.1"], "mlp has no option noise"),
        (["train", "--seeds"], "argument --seeds: expected at least one argument"),
        (["train", "--seeds", "-1"], "seed must be from 0"),
        (["train", "--train-limit", "5"], "train_limit must be from 10"),
        (["train", "--recipe", "sgd"], "argument --recipe: invalid choice"),
        (["train", "--dataset", "cifar"], "argument --dataset: invalid choice"),
        (["evaluate", "no-such-run"], "no run named 'no-such-run'"),
        (["delete", "no-such-run", "--yes"], "no run named 'no-such-run'"),
        (["--checkpoints", "", "list"], "argument --checkpoints"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, checkpoint_root):
    assert main(argv) == 2
    one_line_error(capsys, message)
    assert not any(checkpoint_root.iterdir()), "nothing may be written on bad input"


def test_exit_code_and_stderr_in_a_real_process(checkpoint_root):
    env = {**os.environ, "AECORE_CHECKPOINTS": str(checkpoint_root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "aecore", "train", "--epochs", "0"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "aecore: error: epochs must be from 1 to 1000; got 0"
    assert not any(checkpoint_root.iterdir()), "nothing may start on bad input"


@pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)
def test_every_architecture_trains_from_the_cli_into_a_valid_run(checkpoint_root, capsys, spec):
    assert main(["train", "--model", spec.name, *QUICK]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{spec.name}-mnist-") and "test MSE" in out
    runs, broken = list_runs(checkpoint_root)
    assert len(runs) == 1 and not broken
    info = runs[0]
    assert info.config == RunConfig.for_recipe(spec.name, epochs=1, train_limit=50)
    assert info.files.keys() == {"weights", "evaluation", "timeline"}
    load_model(info)
    assert load_evaluation(info).test_errors.shape == (10_000,)
    assert load_timeline(info).frames.shape == (1, 20, 32, 32)


@pytest.mark.parametrize(
    ("argv", "options"),
    [
        (["--model", "vae", "--beta", "0.5"], (("beta", 0.5),)),
        (["--model", "vae"], (("beta", 1.0),)),
        (["--model", "dae", "--noise", "0.1"], (("noise", 0.1),)),
        (["--model", "conv"], ()),
    ],
)
def test_architecture_options_are_flags(argv, options):
    [config] = configs_from_args(build_parser().parse_args(["train", *argv]))
    assert config.options == options


def test_several_seeds_train_one_run_each(checkpoint_root, capsys):
    assert main(["train", "--bottleneck", "2", *QUICK, "--seeds", "0", "1", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    runs, _ = list_runs(checkpoint_root)
    assert len(lines) == 2 and sorted(r.config.seed for r in runs) == [0, 1]
    assert replace(runs[0].config, seed=0) == replace(runs[1].config, seed=0), "only the seed may differ"


def test_train_list_evaluate_delete(checkpoint_root, capsys):
    argv = ["train", "--model", "conv", *QUICK]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run_id = out.split(":")[0]
    assert run_id.startswith("conv-mnist-") and "test MSE" in out and "PCA-32" in out
    assert main(argv) == 0 and "(stored run, not retrained)" in capsys.readouterr().out

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert run_id in listing and "test MSE" in listing and "3,147" in listing  # conv b=2 parameters

    assert main(["evaluate", run_id]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows if len(r) == 4] == list(range(10))
    assert "10,000-image MNIST test set" in table and "fit on the run's 50 training images" in table

    assert main(["delete", run_id, "--yes"]) == 0
    assert capsys.readouterr().out == f"deleted {run_id}\n"
    assert not (checkpoint_root / run_id).exists()


# --- devices and data -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stored_root(tmp_path_factory) -> Path:
    """A checkpoint root holding the run of `train --bottleneck 2 --epochs 1 --train-limit 50`."""
    root = tmp_path_factory.mktemp("stored")
    assert main(["--checkpoints", str(root), "train", "--bottleneck", "2", *QUICK]) == 0
    return root


BAD_DEVICES = [
    ("foo", "device must be auto, cpu, cuda, cuda:N or mps; got 'foo'"),
    ("", "device must be auto, cpu, cuda, cuda:N or mps; got ''"),
    ("cuda:99", "device cuda:99 is not available"),
    pytest.param(
        "cuda", "device cuda is not available", marks=pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA")
    ),
    pytest.param(
        "mps", "device mps is not available", marks=pytest.mark.skipif(torch.backends.mps.is_available(), reason="mps")
    ),
]


@pytest.mark.parametrize(("device", "message"), BAD_DEVICES)
def test_a_bad_device_is_one_line_before_training(checkpoint_root, capsys, device, message):
    assert main(["train", "--bottleneck", "2", *QUICK, "--device", device]) == 2
    one_line_error(capsys, message)
    assert not any(checkpoint_root.iterdir())


@pytest.mark.parametrize(("device", "message"), BAD_DEVICES)
def test_a_bad_device_is_one_line_even_when_the_run_is_stored(stored_root, capsys, device, message):
    capsys.readouterr()
    before = tree(stored_root)
    assert main(["--checkpoints", str(stored_root), "train", "--bottleneck", "2", *QUICK, "--device", device]) == 2
    one_line_error(capsys, message)
    assert tree(stored_root) == before


def test_a_missing_data_folder_fails_before_writing_anything(checkpoint_root, tmp_path, capsys):
    missing = tmp_path / "no" / "such" / "dir"
    assert main(["--data", str(missing), "train", "--bottleneck", "2", *QUICK]) == 2
    one_line_error(capsys, f"the data folder {missing} does not exist")
    assert not any(checkpoint_root.iterdir()) and not (tmp_path / "no").exists()


# --- format 1 ---------------------------------------------------------------------------------------------


def test_migrate_upgrades_format_1_runs_and_evaluate_asks_for_it(checkpoint_root, tiny_dataset, capsys):
    legacy, _ = write_legacy_run(checkpoint_root, tiny_dataset, tiny_config(train_limit=50))
    assert main(["list"]) == 0
    assert "migrate" in capsys.readouterr().out  # no honest PCA figure to show yet
    assert main(["evaluate", legacy.run_id]) == 2
    one_line_error(capsys, f"run `python -m aecore migrate {legacy.run_id}` first")
    assert main(["migrate"]) == 0
    assert capsys.readouterr().out.startswith(f"{legacy.run_id}: migrated; test MSE")
    assert find_run(legacy.run_id, checkpoint_root).format == 2
    assert main(["migrate"]) == 0 and capsys.readouterr().out == "every run is in the current format\n"
    assert main(["migrate", legacy.run_id]) == 0 and "already in the current format" in capsys.readouterr().out


# --- delete -----------------------------------------------------------------------------------------------


def run_folder(path: Path) -> Path:
    """A folder the store would delete as a run (it holds a run.json)."""
    path.mkdir(parents=True)
    (path / "run.json").write_text("{}")
    return path


def test_delete_asks_unless_yes(checkpoint_root, capsys, monkeypatch):
    run_folder(checkpoint_root / "victim")
    assert main(["delete", "victim"]) == 2  # pytest's stdin is no terminal: nobody can answer
    one_line_error(capsys, "not deleting victim without confirmation; add --yes")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    questions = []
    monkeypatch.setattr(builtins, "input", lambda prompt: questions.append(prompt) or "n")
    assert main(["delete", "victim"]) == 2
    one_line_error(capsys, "nothing was deleted")
    assert (checkpoint_root / "victim").exists() and questions == [f"delete victim from {checkpoint_root}? [y/N] "]
    monkeypatch.setattr(builtins, "input", lambda prompt: "y")
    assert main(["delete", "victim"]) == 0 and not (checkpoint_root / "victim").exists()
    run_folder(checkpoint_root / "victim")
    monkeypatch.setattr(builtins, "input", lambda prompt: pytest.fail("--yes must not ask"))
    assert main(["delete", "victim", "--yes"]) == 0 and not (checkpoint_root / "victim").exists()


def test_delete_refuses_a_shipped_default_run_without_force(checkpoint_root, capsys):
    shipped = RunConfig.for_recipe("mlp").run_id
    run_folder(checkpoint_root / shipped)
    assert main(["delete", shipped, "--yes"]) == 2
    one_line_error(capsys, f"{shipped} is a shipped default run; add --force to delete it")
    assert (checkpoint_root / shipped).exists()
    assert main(["delete", shipped, "--yes", "--force"]) == 0 and not (checkpoint_root / shipped).exists()


def test_delete_of_an_empty_name_or_root_deletes_nothing_in_a_real_process(tmp_path):
    root = tmp_path / "checkpoints"
    run_folder(root / "kept")
    cwd = tmp_path / "cwd"
    run_folder(cwd / "somedir")  # what `--checkpoints ''` read as the current folder would delete
    before = tree(tmp_path)
    env = {**os.environ, "AECORE_CHECKPOINTS": str(root), "PYTHONPATH": str(REPO)}
    for argv, message in [
        (["delete", "", "--yes"], "give the name of a run to delete; got ''"),
        (["--checkpoints", "", "delete", "somedir", "--yes"], "argument --checkpoints"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "aecore", *argv], capture_output=True, text=True, env=env, cwd=cwd, timeout=120
        )
        assert done.returncode == 2, done.stdout + done.stderr
        assert done.stderr.count("\n") == 1 and message in done.stderr, done.stderr
        assert tree(tmp_path) == before, f"{argv} deleted something"


# --- help and the shipped runs ----------------------------------------------------------------------------


def test_help_for_every_command_lists_every_architecture(capsys):
    for command in ("train", "evaluate", "list", "delete", "migrate", "sweep", "project"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        text = capsys.readouterr().out
        assert "usage:" in text
        if command == "train":
            assert all(f"{spec.name}: {spec.summary}"[:40] in " ".join(text.split()) for spec in ARCHITECTURES)
            assert "--beta" in text and "--noise" in text


SHIPPED = {"mlp": 0.0238, "conv": 0.0182}  # the seed recipe's test MSE, which the defaults must beat


@pytest.mark.parametrize("model", SHIPPED)
def test_the_shipped_default_runs_load_and_beat_the_seed(model):
    info = find_run(RunConfig.for_recipe(model).run_id, REPO / "checkpoints")
    assert info.format != 1, "checkpoints/ holds a format-1 run; retrain and re-ship it in format 2"
    load_model(info)
    assert load_evaluation(info).test_errors.shape == (10_000,) and load_timeline(info) is not None
    assert info.latent_dim == 32 and info.train_images == 54_000 and info.metrics.pca.clipped
    assert info.test_mse < SHIPPED[model], f"shipped {model} run ({info.test_mse:.4f}) does not beat the seed"
