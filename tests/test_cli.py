"""The command line: train, list, evaluate, delete; bad input is one line on stderr and exit code 2."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aecore.__main__ import main

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--epochs", "0"], "epochs must be from 1 to 1000; got 0"),
        (["train", "--epochs", "-5"], "epochs must be from 1 to 1000; got -5"),
        (["train", "--epochs", "ten"], "argument --epochs: invalid int value: 'ten'"),
        (["train", "--learning-rate", "1e9"], "learning_rate must be from"),
        (["train", "--batch-size", "99999999"], "batch_size must be from 1 to 8192"),
        (["train", "--bottleneck", "0"], "bottleneck must be from 1"),
        (["train", "--model", "vae"], "argument --model: invalid choice: 'vae'"),
        (["train", "--recipe", "sgd"], "argument --recipe: invalid choice"),
        (["train", "--dataset", "cifar"], "argument --dataset: invalid choice"),
        (["evaluate", "no-such-run"], "no run named 'no-such-run'"),
        (["delete", "no-such-run"], "no run named 'no-such-run'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, checkpoint_root):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_exit_code_and_stderr_in_a_real_process(checkpoint_root):
    env = {**os.environ, "AECORE_CHECKPOINTS": str(checkpoint_root), "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "aecore", "train", "--epochs", "0"], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 2
    assert done.stderr.strip() == "aecore: error: epochs must be from 1 to 1000; got 0"
    assert not any(checkpoint_root.iterdir()), "nothing may start on bad input"


def test_train_list_evaluate_delete(checkpoint_root, capsys):
    argv = ["train", "--model", "conv", "--epochs", "1", "--train-limit", "50"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    run_id = out.split(":")[0]
    assert run_id.startswith("conv-mnist-sample-") and "test MSE" in out
    assert main(argv) == 0 and "(cached)" in capsys.readouterr().out

    assert main(["list"]) == 0
    listing = capsys.readouterr().out
    assert run_id in listing and "test MSE" in listing and "3,147" in listing  # conv b=2 parameters

    assert main(["evaluate", run_id]) == 0
    table = capsys.readouterr().out
    rows = [line.split() for line in table.splitlines() if line.split() and line.split()[0].isdigit()]
    assert [int(r[0]) for r in rows if len(r) == 4] == list(range(10))
    assert "10,000-image MNIST test set" in table

    assert main(["delete", run_id]) == 0
    assert not (checkpoint_root / run_id).exists()


def test_help_for_every_command(capsys):
    for command in ("train", "evaluate", "list", "delete"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        assert "usage:" in capsys.readouterr().out


def test_shipped_runs_are_listed_and_beat_the_seed():
    # The repository's own checkpoints: both default runs load and beat the seed recipe's test MSE.
    from aecore.checkpoints import find_run, load_model
    from aecore.config import RunConfig

    seed_numbers = {"mlp": 0.0238, "conv": 0.0182}
    for model, seed_mse in seed_numbers.items():
        info = find_run(RunConfig.for_recipe(model).run_id, REPO / "checkpoints")
        load_model(info)
        assert info.latent_dim == 32
        assert info.test_mse < seed_mse, f"shipped {model} run ({info.test_mse:.4f}) does not beat the seed"
