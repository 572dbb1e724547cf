"""Faults from the hardening issue, recreated against the run store: each test fails if its protection is removed.

Numbers in the test names refer to the rows of the issue's table.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import aecore.runstore as runstore
import aecore.safe_io as safe_io
from aecore.__main__ import main
from aecore.models.mlp import MLPAutoencoder
from aecore.pipeline import load_or_train
from aecore.runstore import CheckpointError, RunInfo, list_runs, load_model, read_run
from aecore.train import TrainingDiverged
from tests.runs import make_run, resave, tiny_config, tree, write_legacy_run

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, tiny_dataset) -> RunInfo:
    """One tiny MLP run, trained once for the module; tests work on copies of it (see `stored`)."""
    info, _ = make_run(tmp_path_factory.mktemp("pristine"), tiny_dataset)
    return info


@pytest.fixture
def stored(pristine, checkpoint_root) -> RunInfo:
    """A fresh copy of the pristine run in this test's checkpoint root."""
    shutil.copytree(pristine.path, checkpoint_root / pristine.run_id)
    return read_run(checkpoint_root / pristine.run_id)


def stored_files(root: Path) -> dict:
    """The tree under `root` without the store's lock files (taken by every save, held by nobody afterwards)."""
    return {name: value for name, value in tree(root).items() if not name.startswith(runstore.LOCK_FOLDER)}


def only_broken(root: Path) -> str:
    runs, broken = list_runs(root)
    assert not runs and len(broken) == 1, f"expected one unreadable run, got {runs} and {broken}"
    return broken[0].reason


# 1 ------------------------------------------------------------------------------------------------

KILL_AT_EVERY_WRITE = textwrap.dedent(
    """
    # For each file-system call an action makes (open, write, fsync, rename, unlink, rmdir, ...), fork a child
    # that SIGKILLs itself just before that call; after each kill the parent lists the runs. Every action
    # starts from the same state, so every child is killed at a different point of the same sequence.
    import os, pathlib, shutil, signal, sys, tempfile
    from pathlib import Path
    import torch
    from aecore import runstore, safe_io
    from tests.runs import resave

    torch.set_num_threads(1)
    source = runstore.read_run(Path(sys.argv[1]))
    in_place, first, deleting = (Path(p) for p in sys.argv[2:5])
    model = runstore.load_model(source)
    WATCHED = {runstore.__file__, safe_io.__file__, pathlib.__file__, tempfile.__file__, shutil.__file__}
    IO = {"open", "write", "flush", "fsync", "replace", "rename", "close", "__exit__", "unlink", "rmdir", "mkdir",
          "chmod"}

    def counted(action, kill_at):
        seen = [0]

        def hook(frame, event, arg):
            if event == "c_call" and frame.f_code.co_filename in WATCHED and getattr(arg, "__name__", "") in IO:
                seen[0] += 1
                if seen[0] == kill_at:
                    os.kill(os.getpid(), signal.SIGKILL)

        sys.setprofile(hook)
        try:
            action(kill_at)
        finally:
            sys.setprofile(None)
        return seen[0]

    def save(root):
        def action(kill_at):
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(1e-4 * (kill_at + 1))  # new weights every time: every save writes new files
            resave(source, root, model)
        return action

    def delete(kill_at):
        runstore.delete_run(source.run_id, deleting)

    def reset(root, with_run):
        for path in root.iterdir():
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()
        if with_run:
            shutil.copytree(source.path, root / source.run_id)

    def check(root, allowed):
        runs, broken = runstore.list_runs(root)
        ids = [r.run_id for r in runs]
        return "ok" if ids in allowed and not broken else f"BROKEN {ids} {[b.reason for b in broken]}"

    def kill_everywhere(name, action, root, with_run, allowed):
        reset(root, with_run)
        counted(action, 0)  # warm-up: first-use imports make their own file-system calls
        reset(root, with_run)
        points = counted(action, 0)
        killed = 0
        for kill_at in range(1, points + 1):
            reset(root, with_run)
            pid = os.fork()
            if pid == 0:
                counted(action, kill_at)
                os._exit(0)
            _, status = os.waitpid(pid, 0)
            killed += os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            print(name, kill_at, check(root, allowed), flush=True)
        print(name, "killed", killed, "of", points, flush=True)
        return points

    ids = [source.run_id]
    kill_everywhere("in-place", save(in_place), in_place, True, [ids])
    points = kill_everywhere("first", save(first), first, False, [[], ids])
    kill_everywhere("delete", delete, deleting, True, [[], ids])

    # A first save killed halfway leaves a hidden staging folder; the next save of that run removes it.
    reset(first, False)
    pid = os.fork()
    if pid == 0:
        counted(save(first), points // 2)
        os._exit(0)
    os.waitpid(pid, 0)
    hidden = lambda: sorted(p.name for p in first.iterdir() if p.name.startswith((".tmp-", ".trash-")))
    print("leftovers", len(hidden()), flush=True)
    save(first)(0)
    print("after the next save", len(hidden()), check(first, [ids]), flush=True)
    """
)


def test_1_sigkill_at_every_step_of_a_save_or_delete_never_leaves_a_broken_run(pristine, tmp_path):
    roots = [tmp_path / name for name in ("in-place", "first", "delete")]
    for root in roots:
        root.mkdir()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", KILL_AT_EVERY_WRITE, str(pristine.path), *map(str, roots)], capture_output=True,
        text=True, env=env, timeout=400,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    for name in ("in-place", "first", "delete"):
        summary = next(line for line in lines if line.startswith(f"{name} killed"))
        killed, points = int(summary.split()[2]), int(summary.split()[4])
        assert points >= 8 and killed == points, f"{name}: not killed at every point: {summary}"
    broken = [line for line in lines if "BROKEN" in line]
    assert not broken, f"a kill left a broken or half-listed run: {broken[:5]}"
    assert lines[-2] != "leftovers 0", "the halfway kill left no staging folder: the test proves nothing"
    assert lines[-1] == "after the next save 0 ok", lines[-1]


# 2, 3, 4 -------------------------------------------------------------------------------------------


class _Payload:
    """Unpickling this object would call os.system and create the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_4_a_format_1_checkpoint_crafted_to_run_code_is_refused(checkpoint_root, tiny_dataset, tmp_path, capsys):
    import io

    marker = tmp_path / "pwned"
    buffer = io.BytesIO()
    torch.save({"encoder.0.weight": _Payload(marker)}, buffer)
    info, _ = write_legacy_run(checkpoint_root, tiny_dataset, weights=buffer.getvalue())
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_model(read_run(info.path))
    assert "cannot be loaded safely" in only_broken(checkpoint_root)
    assert main(["migrate", info.run_id]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be loaded safely" in err and "Traceback" not in err
    assert not marker.exists(), "the payload ran: weights were unpickled without weights_only"


def test_3_format_1_weights_of_another_architecture_name_the_mismatch(checkpoint_root, tiny_dataset):
    import io

    from aecore.architectures import build_model

    buffer = io.BytesIO()
    torch.save(build_model("conv", 1).state_dict(), buffer)
    write_legacy_run(checkpoint_root, tiny_dataset, weights=buffer.getvalue())  # an MLP's run.json
    reason = only_broken(checkpoint_root)
    assert "weights do not fit the config" in reason and re.search(r"Missing key|Unexpected key", reason)


# 5 --------------------------------------------------------------------------------------------------


def test_5_nan_during_retraining_saves_nothing_over_the_earlier_run(checkpoint_root, monkeypatch, capsys):
    config = tiny_config(train_limit=50)
    load_or_train(config, root=checkpoint_root, device="cpu")
    before = stored_files(checkpoint_root)
    monkeypatch.setattr(MLPAutoencoder, "training_loss", lambda self, x: self(x).mean() * float("inf"))
    with pytest.raises(TrainingDiverged, match="loss became inf"):
        load_or_train(config, root=checkpoint_root, device="cpu", retrain=True)
    assert stored_files(checkpoint_root) == before
    argv = ["train", "--epochs", "1", "--train-limit", "50", "--bottleneck", "4", "--learning-rate", "0.01"]
    assert main([*argv, "--retrain"]) == 2
    assert "loss became" in capsys.readouterr().err
    assert stored_files(checkpoint_root) == before


# 9 --------------------------------------------------------------------------------------------------


def test_9_missing_mnist_files_are_one_line_and_save_nothing(checkpoint_root, tmp_path, capsys):
    assert main(["--data", str(tmp_path), "train", "--dataset", "mnist", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "missing" in err and "git checkout data/" in err and err.count("\n") == 1
    assert not stored_files(checkpoint_root)


# 10 -------------------------------------------------------------------------------------------------


def _disk_full_after(monkeypatch, n_bytes: int) -> None:
    """Every file the store opens for writing takes `n_bytes`, then fails with ENOSPC."""

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

    real_fdopen = os.fdopen

    def fdopen(fd, mode="r", *args, **kwargs):
        handle = real_fdopen(fd, mode, *args, **kwargs)
        return FillingFile(handle) if "w" in mode else handle

    def open_(file, mode="r", *args, **kwargs):
        handle = open(file, mode, *args, **kwargs)  # noqa: SIM115 (closed by the caller's with block)
        return FillingFile(handle) if "w" in mode else handle

    monkeypatch.setattr(runstore.os, "fdopen", fdopen)  # write_atomic: in-place saves
    monkeypatch.setattr(safe_io, "open", open_, raising=False)  # write_synced: staged first saves


def test_10_disk_full_keeps_the_previous_run_and_leaves_no_partial_files(stored, checkpoint_root, monkeypatch):
    model = load_model(stored)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    before = stored_files(checkpoint_root)
    _disk_full_after(monkeypatch, 100)
    with pytest.raises(CheckpointError, match=f"disk full while saving {stored.run_id}: nothing was changed"):
        resave(stored, checkpoint_root, model)
    assert stored_files(checkpoint_root) == before
    new = tiny_config("mlp", seed=5)
    with pytest.raises(CheckpointError, match=f"disk full while saving {new.run_id}"):
        runstore.save_run(
            checkpoint_root, new, model, history=stored.history, best_epoch=1, metrics=stored.metrics,
            dataset=stored.dataset, train_seconds=1.0, evaluation=runstore.load_evaluation(stored), timeline=None,
        )  # fmt: skip
    assert stored_files(checkpoint_root) == before, "no partial run folder or staging folder may remain"


# 11 -------------------------------------------------------------------------------------------------


def test_11_a_read_only_root_still_lists_and_training_says_it_cannot_save(stored, checkpoint_root, read_only, capsys):
    before = stored_files(checkpoint_root)
    with read_only(checkpoint_root):
        runs, broken = list_runs(checkpoint_root)
        assert [r.run_id for r in runs] == [stored.run_id] and not broken
        assert main(["train", "--epochs", "1", "--train-limit", "50", "--model", "conv", "--bottleneck", "1"]) == 2
        err = capsys.readouterr().err
        assert "is read-only" in err and err.count("\n") == 1
    assert stored_files(checkpoint_root) == before


def test_11_a_read_only_run_folder_refuses_a_save_and_stays_as_it_was(stored, checkpoint_root, read_only):
    model = load_model(stored)
    with torch.no_grad():
        next(model.parameters()).add_(1.0)
    before = stored_files(checkpoint_root)
    with read_only(stored.path), pytest.raises(CheckpointError, match="read-only"):
        resave(stored, checkpoint_root, model)
    assert stored_files(checkpoint_root) == before


# 12 -------------------------------------------------------------------------------------------------

_DELETE = object()


class _Literal(str):
    """JSON text written as is (json.dumps cannot write 1e999)."""


def _edit(path: str, value):
    def edit(raw: dict) -> None:
        *parents, last = path.split(".")
        block = raw
        for key in parents:
            block = block[int(key)] if key.isdigit() else block[key]
        key = int(last) if last.isdigit() else last
        if value is _DELETE:
            del block[key]
        else:
            block[key] = f"@@{value}@@" if isinstance(value, _Literal) else value

    return edit


def _rows(n: int):
    return lambda raw: raw["metrics"]["test"].update(per_digit=raw["metrics"]["test"]["per_digit"][:n])


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (_edit("best_epoch", float("inf")), "best_epoch must be a whole number from 1 to 1, got inf"),
        (_edit("best_epoch", _Literal("1e999")), "best_epoch must be a whole number from 1 to 1, got inf"),
        (_edit("best_epoch", 2), "best_epoch must be a whole number from 1 to 1, got 2"),
        (_edit("best_epoch", 0), "best_epoch must be a whole number from 1 to 1, got 0"),
        (_edit("parameters", float("inf")), "parameters must be a whole number"),
        (_edit("parameters", _Literal("1e999")), "parameters must be a whole number"),
        (_edit("parameters", 12345), "parameters is 12,345, but a MLP of this config has"),
        (_edit("history.0.epoch", _Literal("1e999")), "history[0].epoch must be a whole number from 1 to 1"),
        (_edit("history.0.epoch", 2), "history[0].epoch must be a whole number from 1 to 1, got 2"),
        (_edit("history.0.val_loss", float("nan")), "history[0].val_loss must be a finite number"),
        (_edit("history.0", "epoch one"), "history[0] must be an object, got a string"),
        (_edit("history", []), "history must hold 1 to 1 epochs"),
        (_edit("history", "lots"), "history must be a list"),
        (_edit("train_seconds", _Literal("-1e999")), "train_seconds must be a finite number"),
        (_edit("created", "2026-01-01T00:00:00"), "created must include a time zone"),
        (_edit("created", "yesterday"), "created must be an ISO 8601 time"),
        (_edit("created", _DELETE), "missing field created"),
        (_edit("metrics.pca.mse", -0.5), "metrics.pca.mse must be a finite number from 0 to 1, got -0.5"),
        (_edit("metrics.test.mse", 0), "metrics.test.mse must be a finite number from 1e-12 to 1, got 0"),
        (_edit("metrics.test.mse", "low"), "metrics.test.mse must be a number"),
        (_rows(9), "metrics.test.per_digit must hold 10 rows, got 9"),
        (_edit("metrics.test.per_digit.3.n", _DELETE), "missing field metrics.test.per_digit[3].n"),
        (_edit("metrics.pca.per_digit.2.mse", "low"), "metrics.pca.per_digit[2].mse must be a number"),
        (_edit("metrics.pca.per_digit.4", "four"), "metrics.pca.per_digit[4] must be an object"),
        (_edit("metrics.test.per_digit.5.digit", 6), "metrics.test.per_digit[5].digit must be a whole number"),
        (_edit("metrics.pca.train_images", "all"), "metrics.pca.train_images must be a whole number"),
        (_edit("metrics", _DELETE), "missing field metrics"),
        (_edit("dataset.description", ["a", "list"]), "dataset.description must be a string"),
        (_edit("dataset.description", 42), "dataset.description must be a string"),
        (_edit("dataset.name", "mnist-sample"), "dataset.name is 'mnist-sample', but the config trains on mnist"),
        (_edit("versions.torch", 2.1), "versions.torch must be a string"),
        (_edit("versions", "torch 2"), "versions must be an object"),
        (_edit("config.epochs", "20"), "epochs must be a whole number"),
        (_edit("config.model", "transformer"), "model must be one of"),
        (_edit("config.bottleneck", 8), "the config hashes to"),
        (_edit("config.options", {"beta": 1.0}), "mlp has no option beta"),
        (_edit("files.weights.name", "../../../etc/passwd"), "files.weights.name has an unexpected form"),
        (_edit("files.weights.sha256", "abc"), "files.weights.sha256 has an unexpected form"),
        (_edit("files.evaluation.size", -1), "files.evaluation.size must be a whole number"),
        (_edit("files.evaluation", _DELETE), "missing field files.evaluation"),
        (_edit("format", 99), "format must be a whole number from 1 to 2, got 99"),
    ],
)
def test_12_hand_edited_run_json_is_listed_as_unreadable_naming_the_field(
    stored, checkpoint_root, edit, reason, capsys
):
    run_file = stored.path / "run.json"
    raw = json.loads(run_file.read_text())
    edit(raw)
    run_file.write_text(re.sub(r'"@@(.*?)@@"', r"\1", json.dumps(raw)))
    assert reason in only_broken(checkpoint_root)
    with pytest.raises(CheckpointError, match=re.escape(reason)):
        read_run(stored.path)
    assert main(["list"]) == 0
    assert f"unreadable {stored.run_id}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b"{ this is not json", "run.json is not valid JSON"),
        (b"\xff\xfe\x00garbage", "run.json is not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "run.json is not valid JSON (nested too deeply)"),
        (b'{"format": 2, "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "nested too deeply"),
        (b"[1, 2]", "the top level must be an object, got a list"),
        (b"", "run.json is not valid JSON"),
    ],
)
def test_12_run_json_that_is_not_a_json_object(stored, checkpoint_root, text, reason):
    (stored.path / "run.json").write_bytes(text)
    assert reason in only_broken(checkpoint_root)


# Security defaults -----------------------------------------------------------------------------------


def test_no_unsafe_deserialisation_or_dynamic_code_in_the_source():
    sources = [*REPO.glob("aecore/**/*.py"), *REPO.glob("pages/*.py"), *REPO.glob("*.py")]
    assert len(sources) > 20
    forbidden = re.compile(
        r"(?<![.\w])eval\(|(?<![.\w])exec\(|import pickle|weights_only\s*=\s*False|allow_pickle\s*=\s*True"
    )
    offenders = [f"{p.name}:{n}" for p in sources for n, line in enumerate(p.read_text().splitlines(), 1)
                 if forbidden.search(line)]  # fmt: skip
    assert not offenders, f"unsafe loading or dynamic code: {offenders}"
    for path in sources:
        text = path.read_text()
        if "torch.load(" in text:
            assert "weights_only=True" in text, f"{path.name} calls torch.load without weights_only=True"


def test_streamlit_config_binds_locally_with_xsrf_and_no_telemetry():
    import tomllib

    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["address"] == "127.0.0.1"
    assert config["server"].get("enableXsrfProtection", True) is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"]["maxUploadSize"] <= 1
    # A full GC after every 0.5 s panel refresh holds the GIL long enough to starve a training job.
    assert config["runner"]["postScriptGC"] is False, "post-script GC starves background training"
