"""Build small real runs on disk for tests: the real trainer, evaluation and run store, on a tiny dataset.

Also: a format-1 run written by hand (the old format the store must still read), run.json edits that keep
or break its checksums on purpose, and a listing of a folder tree to prove nothing else was touched.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from aecore import architectures
from aecore.config import RunConfig
from aecore.data import Dataset
from aecore.models import Autoencoder, parameter_count
from aecore.pipeline import evaluate_run
from aecore.run_schema import DatasetRecord, RunMetrics
from aecore.runstore import RunInfo, read_run, save_run
from aecore.train import train


def tiny_config(model: str = "mlp", **overrides: Any) -> RunConfig:
    """One epoch on 100 images with a narrow code: seconds to train for any registered architecture."""
    spec = architectures.get(model)
    values = {
        "model": model,
        "bottleneck": 4 if spec.code_cells == 1 else 1,
        "epochs": 1,
        "batch_size": 64,
        "learning_rate": 1e-2,
        "train_limit": 100,
    }
    values.update(overrides)
    return RunConfig(**values)


def make_run(root: Path, data: Dataset, config: RunConfig | None = None) -> tuple[RunInfo, Autoencoder]:
    """Train `config` (default: a 1-epoch MLP) on `data`, evaluate it as the pipeline does and save it."""
    config = config or tiny_config()
    result = train(config, data, device="cpu")
    (test, pca), artefacts = evaluate_run(result.model, config, data)
    metrics = RunMetrics(test, pca, val_mse=result.history[result.best_epoch - 1].val_loss)
    info = save_run(
        root, config, result.model, history=result.history, best_epoch=result.best_epoch, metrics=metrics,
        dataset=DatasetRecord(data.name, data.fingerprint, data.description),
        train_seconds=0.1, evaluation=artefacts, timeline=result.timeline,
    )  # fmt: skip
    return info, result.model


def write_legacy_run(
    root: Path, data: Dataset, config: RunConfig | None = None, weights: bytes | None = None
) -> tuple[RunInfo, Autoencoder]:
    """A format-1 run as older versions wrote it: `weights-<sha12>.pt` (torch.save of a state_dict) and a
    run.json without file sizes, evaluation or timeline. `weights` replaces the file's content (checksum kept
    matching) to plant something else in it."""
    config = config or tiny_config()
    result = train(config, data, device="cpu")
    (test, pca), _ = evaluate_run(result.model, config, data)
    metrics = {"test": test.to_json(), "pca": pca.to_json(), "val_mse": result.history[result.best_epoch - 1].val_loss}
    for key in ("train_images", "clipped"):
        del metrics["pca"][key]  # format 1 did not record them
    if weights is None:
        buffer = io.BytesIO()
        torch.save(result.model.state_dict(), buffer)
        weights = buffer.getvalue()
    digest = hashlib.sha256(weights).hexdigest()
    folder = root / config.run_id
    folder.mkdir(parents=True)
    (folder / f"weights-{digest[:12]}.pt").write_bytes(weights)
    record = {
        "format": 1,
        "run_id": config.run_id,
        "config": config.to_dict(),
        "history": [vars(e) for e in result.history],
        "best_epoch": result.best_epoch,
        "metrics": metrics,
        "parameters": parameter_count(result.model),
        "created": "2026-01-02T03:04:05+00:00",
        "train_seconds": 1.5,
        "dataset": {"name": data.name, "fingerprint": data.fingerprint, "description": data.description},
        "versions": {"python": "3.11.7", "torch": "2.14.1"},
        "weights": f"weights-{digest[:12]}.pt",
        "weights_sha256": digest,
    }
    (folder / "run.json").write_text(json.dumps(record, indent=1))
    return read_run(folder), result.model


def edit_run_json(info: RunInfo, edit: Callable[[dict], object]) -> None:
    """Apply `edit` to the run's parsed run.json and write it back."""
    path = info.path / "run.json"
    raw = json.loads(path.read_text())
    edit(raw)
    path.write_text(json.dumps(raw, indent=1))


def replace_file(info: RunInfo, kind: str, blob: bytes) -> None:
    """Replace one of the run's files and record its new checksum and size, so only the content is at fault."""
    (info.path / info.files[kind].name).write_bytes(blob)
    digest = hashlib.sha256(blob).hexdigest()

    def record(raw: dict) -> None:
        if raw["format"] == 1:
            raw["weights_sha256"] = digest
        else:
            raw["files"][kind].update(sha256=digest, size=len(blob))

    edit_run_json(info, record)


def tree(folder: Path) -> dict[str, bytes | str]:
    """Every path under `folder` (relative) with a file's bytes, a link's target or "dir": a snapshot."""
    shot: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            shot[name] = f"-> {path.readlink()}"
        elif path.is_dir():
            shot[name] = "dir"
        else:
            shot[name] = path.read_bytes()
    return shot


def resave(info: RunInfo, root: Path, model: Autoencoder | None = None) -> RunInfo:
    """Save the stored run `info` (or `model` in its place) under `root` again, with all its artefacts."""
    from aecore.runstore import load_evaluation, load_model, load_timeline

    return save_run(
        root, info.config, model if model is not None else load_model(info), history=info.history,
        best_epoch=info.best_epoch, metrics=info.metrics, dataset=info.dataset, train_seconds=info.train_seconds,
        evaluation=load_evaluation(info), timeline=load_timeline(info), created=info.created,
    )  # fmt: skip


def save_in_child(source: str, root: str, barrier: Any, hold_seconds: float) -> None:
    """Body of a child process: wait for its sibling, then save the run at `source` under `root`. Every file
    write is held open `hold_seconds` longer, so that two children's saves surely overlap."""
    import time

    from aecore import runstore

    torch.set_num_threads(1)
    info = read_run(Path(source))
    real_write = runstore.write_synced

    def slow_write(target: Path, data: bytes) -> None:
        real_write(target, data)
        time.sleep(hold_seconds)

    runstore.write_synced = slow_write
    barrier.wait(timeout=120)
    resave(info, Path(root))


def within_limit(call: Callable[[], object], seconds: float) -> object:
    """The result of `call()`, run in a thread; fails (instead of hanging the suite) when it has not returned after
    `seconds` (a FIFO opened, /dev/zero read to its end). What it raises is raised here."""
    import threading

    box: dict = {}

    def target() -> None:
        try:
            box["value"] = call()
        except BaseException as error:  # noqa: BLE001  (handed back below)
            box["error"] = error

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), "the call hung (a FIFO or an endless file was opened)"
    if "error" in box:
        raise box["error"]
    return box.get("value")
