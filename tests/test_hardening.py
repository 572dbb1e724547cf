"""Faults from the hardening issue, recreated: each test fails if its protection is removed.

Numbers in the test names refer to the rows of the issue's table.
"""

from __future__ import annotations

import errno
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import aecore.checkpoints as checkpoints
from aecore.__main__ import main
from aecore.checkpoints import CheckpointError, list_runs, load_model, load_or_train, read_run
from tests.runs import make_run, tiny_config

REPO = Path(__file__).resolve().parent.parent


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def rewrite_weights(info, blob: bytes) -> None:
    """Replace a run's weights and record the new checksum, so only the content itself is at fault."""
    import hashlib

    info.weights_path.write_bytes(blob)
    raw = json.loads((info.path / "run.json").read_text())
    raw["weights_sha256"] = hashlib.sha256(blob).hexdigest()
    (info.path / "run.json").write_text(json.dumps(raw))


# 1 ------------------------------------------------------------------------------------------------

KILL_AT_EVERY_WRITE = textwrap.dedent(
    """
    # Fork one child per I/O call a save makes (open, write, flush, fsync, replace, close, unlink, ...);
    # each child SIGKILLs itself just before that call. The parent checks the run after every kill.
    import os, pathlib, signal, sys, torch
    from pathlib import Path
    import aecore.checkpoints as checkpoints
    torch.set_num_threads(1)
    run = checkpoints.read_run(Path(sys.argv[1]))
    model = checkpoints.load_model(run)
    WATCHED = {checkpoints.__file__, pathlib.__file__}
    IO = {"open", "write", "write_bytes", "flush", "fsync", "replace", "close", "mkstemp", "unlink", "mkdir"}

    def save(kill_at):
        seen = [0]

        def hook(frame, event, arg):
            if frame.f_code.co_filename in WATCHED and event in ("call", "c_call"):
                name = getattr(arg, "__name__", "") if event == "c_call" else frame.f_code.co_name
                if name in IO:
                    seen[0] += 1
                    if seen[0] == kill_at:
                        os.kill(os.getpid(), signal.SIGKILL)

        with torch.no_grad():
            for p in model.parameters():
                p.add_(0.001)  # new weights, so every save writes a new weights file
        sys.setprofile(hook)
        checkpoints.save_run(run.path.parent, run.config, model, history=list(run.history),
                             best_epoch=run.best_epoch, metrics=run.metrics, dataset=run.dataset, train_seconds=1.0)
        sys.setprofile(None)
        return seen[0]

    save(kill_at=0)  # warm-up: first-use imports make their own I/O calls
    points = save(kill_at=0)  # a complete save, counting its I/O calls
    killed = 0
    for kill_at in range(1, points + 1):
        pid = os.fork()
        if pid == 0:
            save(kill_at)
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
        runs, broken = checkpoints.list_runs(run.path.parent)
        state = "ok" if [r.run_id for r in runs] == [run.run_id] and not broken else f"BROKEN {broken}"
        print(kill_at, state, flush=True)
    print("killed", killed, "of", points, flush=True)
    """
)


def test_1_sigkill_at_every_write_of_a_save_never_leaves_a_broken_run(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_EVERY_WRITE, str(info.path)], capture_output=True, text=True, env=env,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.strip().splitlines()
    killed, points = int(lines[-1].split()[1]), int(lines[-1].split()[3])
    assert points >= 8 and killed == points, f"the save loop was not killed at every point: {lines[-1]}"
    broken = [line for line in lines[:-1] if "ok" not in line.split()]
    assert not broken, f"a kill left a broken run: {broken}"
    load_model(read_run(info.path))
    assert not [p for p in checkpoint_root.iterdir() if p.name != info.run_id]


def test_1_a_first_save_interrupted_is_listed_as_incomplete(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    (info.path / "run.json").unlink()  # what a kill between the weights and run.json leaves behind
    runs, broken = list_runs(checkpoint_root)
    assert not runs and len(broken) == 1 and "incomplete" in broken[0].reason


# 2, 3, 4 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda blob: blob[: len(blob) // 2], "damaged \\(checksum mismatch\\)"),
        (lambda blob: b"\x00garbage" * 50, "damaged \\(checksum mismatch\\)"),
    ],
)
def test_2_truncated_or_garbage_weights_are_listed_as_unreadable(checkpoint_root, tiny_dataset, damage, reason):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    good, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    info.weights_path.write_bytes(damage(info.weights_path.read_bytes()))
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [good.run_id]
    assert broken[0].run_id == info.run_id and re.search(reason, broken[0].reason)


def test_2_garbage_with_a_matching_checksum_is_refused_by_the_loader(checkpoint_root, tiny_dataset, capsys):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    rewrite_weights(info, b"not a torch file at all")
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_model(read_run(info.path))
    assert main(["evaluate", info.run_id]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be loaded safely" in err and "Traceback" not in err


def test_3_weights_of_another_architecture_name_the_mismatch(checkpoint_root, tiny_dataset, capsys):
    import io

    from aecore.models import build_model

    info, _ = make_run(checkpoint_root, tiny_dataset)  # MLP, bottleneck 4
    for other in (build_model("mlp", 8), build_model("conv", 1)):
        buffer = io.BytesIO()
        torch.save(other.state_dict(), buffer)
        rewrite_weights(info, buffer.getvalue())
        runs, broken = list_runs(checkpoint_root)
        assert not runs and "weights do not fit the config" in broken[0].reason
        assert re.search(r"size mismatch|Missing key|Unexpected key", broken[0].reason)
    assert main(["evaluate", info.run_id]) == 2
    assert "weights do not fit the config" in capsys.readouterr().err


class _Payload:
    """Unpickling this object would call os.system and create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_4_a_checkpoint_crafted_to_run_code_is_refused(checkpoint_root, tiny_dataset, tmp_path):
    import io

    marker = tmp_path / "pwned"
    info, _ = make_run(checkpoint_root, tiny_dataset)
    buffer = io.BytesIO()
    torch.save({"encoder.0.weight": _Payload(marker)}, buffer)
    rewrite_weights(info, buffer.getvalue())
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_model(read_run(info.path))
    runs, broken = list_runs(checkpoint_root)
    assert not runs and broken
    assert not marker.exists(), "the payload ran: weights were unpickled without weights_only"


# 5 --------------------------------------------------------------------------------------------------


def test_5_nan_during_retraining_saves_nothing_over_the_earlier_run(checkpoint_root, monkeypatch, capsys):
    import aecore.train as train_module

    config = tiny_config(train_limit=50)
    info, _ = load_or_train(config, root=checkpoint_root, device="cpu")
    before = snapshot(info.path)
    monkeypatch.setattr(train_module, "reconstruction_loss", lambda x, x_hat: torch.mean(x_hat) * float("inf"))
    with pytest.raises(train_module.TrainingDiverged, match="loss became"):
        load_or_train(config, root=checkpoint_root, device="cpu", retrain=True)
    assert snapshot(info.path) == before
    argv = ["train", "--epochs", "1", "--train-limit", "50", "--bottleneck", "4", "--retrain"]
    assert main(argv) == 2
    assert "loss became" in capsys.readouterr().err


# 9 --------------------------------------------------------------------------------------------------


def test_9_full_dataset_offline_offers_the_sample(checkpoint_root, tmp_path, monkeypatch, capsys):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise OSError("no network")

    monkeypatch.setattr(torchvision.datasets, "MNIST", offline)
    assert main(["--data", str(tmp_path), "train", "--dataset", "mnist", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "use --dataset mnist-sample" in err and err.count("\n") == 1
    assert not any(checkpoint_root.iterdir())


# 10 -------------------------------------------------------------------------------------------------


def _disk_full_after(monkeypatch, n_bytes: int) -> None:
    real_fdopen = os.fdopen

    class FillingFile:
        def __init__(self, handle):
            self.handle = handle

        def write(self, data):
            self.handle.write(data[:n_bytes])
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name):
            return getattr(self.handle, name)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

    monkeypatch.setattr(checkpoints.os, "fdopen", lambda fd, mode="r": FillingFile(real_fdopen(fd, mode)))


def test_10_disk_full_keeps_the_previous_run_and_leaves_no_partial_files(checkpoint_root, tiny_dataset, monkeypatch):
    info, model = make_run(checkpoint_root, tiny_dataset)
    before = snapshot(info.path)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    _disk_full_after(monkeypatch, 100)
    with pytest.raises(CheckpointError, match="disk full while saving"):
        checkpoints.save_run(
            checkpoint_root, info.config, model, history=list(info.history), best_epoch=1,
            metrics=info.metrics, dataset=info.dataset, train_seconds=1.0,
        )  # fmt: skip
    assert snapshot(info.path) == before
    new_config = tiny_config("conv")
    with pytest.raises(CheckpointError, match="disk full while saving"):
        checkpoints.save_run(
            checkpoint_root, new_config, model, history=list(info.history), best_epoch=1,
            metrics=info.metrics, dataset=info.dataset, train_seconds=1.0,
        )  # fmt: skip
    assert sorted(p.name for p in checkpoint_root.iterdir()) == [info.run_id], "no partial run folder may remain"


# 11 -------------------------------------------------------------------------------------------------


def test_11_read_only_checkpoints_still_list_and_training_says_it_cannot_save(
    checkpoint_root, tiny_dataset, monkeypatch, capsys
):
    info, _ = make_run(checkpoint_root, tiny_dataset)

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    # Root ignores chmod, so the read-only file system is simulated where every write starts.
    monkeypatch.setattr(checkpoints.tempfile, "mkstemp", read_only)
    monkeypatch.setattr(checkpoints.Path, "mkdir", read_only)
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [info.run_id] and not broken
    assert main(["train", "--epochs", "1", "--train-limit", "50", "--model", "conv", "--bottleneck", "1"]) == 2
    err = capsys.readouterr().err
    assert "is read-only" in err and err.count("\n") == 1


# 12 -------------------------------------------------------------------------------------------------


def _edit(raw: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    block = raw
    for key in parents:
        block = block[key] if not key.isdigit() else block[int(key)]
    if value is _DELETE:
        del block[last]
    elif last.isdigit():
        block[int(last)] = value
    else:
        block[last] = value
    return raw


_DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        ("config.epochs", "20", "epochs must be a whole number"),
        ("config.model", "transformer", "model must be one of"),
        ("config.bottleneck", 8, "config hashes to"),
        ("metrics", _DELETE, "missing field 'metrics'"),
        ("metrics.test.mse", "low", "mse must be a number"),
        ("metrics.test.per_digit", [], "per_digit must hold 10 rows"),
        ("history", "lots", "history must be a list"),
        ("history.0", "epoch one", "history entries must be objects"),
        ("weights", "../../../etc/passwd", "weights must name a file like"),
        ("format", 99, "format must be 1"),
        ("created", _DELETE, "missing field 'created'"),
    ],
)
def test_12_hand_edited_json_is_listed_as_unreadable(checkpoint_root, tiny_dataset, path, value, reason, capsys):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    run_file = info.path / "run.json"
    run_file.write_text(json.dumps(_edit(json.loads(run_file.read_text()), path, value)))
    runs, broken = list_runs(checkpoint_root)
    assert not runs and len(broken) == 1
    assert reason in broken[0].reason
    assert main(["list"]) == 0
    assert f"unreadable {info.run_id}" in capsys.readouterr().out


def test_12_run_json_that_is_not_json(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    (info.path / "run.json").write_text("{ this is not json")
    _, broken = list_runs(checkpoint_root)
    assert "not valid JSON" in broken[0].reason


# Security defaults -----------------------------------------------------------------------------------


def test_no_unsafe_deserialisation_or_dynamic_code_in_the_source():
    sources = [*REPO.glob("aecore/*.py"), *REPO.glob("pages/*.py"), *REPO.glob("*.py")]
    assert sources
    forbidden = re.compile(
        r"(?<![.\w])eval\(|(?<![.\w])exec\(|import pickle|weights_only\s*=\s*False|allow_pickle\s*=\s*True"
    )
    offenders = [f"{p.name}:{n}" for p in sources for n, line in enumerate(p.read_text().splitlines(), 1)
                 if forbidden.search(line)]  # fmt: skip
    assert not offenders, f"unsafe loading or dynamic code: {offenders}"
    loads = [p.name for p in sources if "torch.load(" in p.read_text()]
    for name in loads:
        text = (REPO / "aecore" / name).read_text() if (REPO / "aecore" / name).exists() else ""
        assert "weights_only=True" in text, f"{name} calls torch.load without weights_only=True"


def test_streamlit_config_binds_locally_with_xsrf_and_no_telemetry():
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"].get("enableXsrfProtection", True) is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["maxUploadSize"] <= 1
    # A full GC after every 0.5 s panel refresh holds the GIL long enough to starve a training job.
    assert config["runner"]["postScriptGC"] is False, "post-script GC starves background training"
