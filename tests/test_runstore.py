"""Run folders: the format-2 round trip, checksums and safe reads, format 1 still read, concurrent and repeated
saves, the registry (list, find) and deletes that delete exactly one run or nothing."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

import aecore.runstore as runstore
from aecore.architectures import ARCHITECTURES
from aecore.data import display_indices
from aecore.inference import reconstruct
from aecore.runstore import (
    FILE_PATTERNS,
    CheckpointError,
    delete_run,
    find_run,
    list_runs,
    load_evaluation,
    load_model,
    load_timeline,
    read_regular_file,
    read_run,
    weights_cap,
)
from aecore.train import to_uint8
from tests.runs import (
    edit_run_json,
    make_run,
    replace_file,
    resave,
    save_in_child,
    tiny_config,
    tree,
    write_legacy_run,
)

REPO = Path(__file__).resolve().parent.parent


def only_broken(root: Path) -> str:
    """The reason of the one unreadable run under `root` (and no readable ones)."""
    runs, broken = list_runs(root)
    assert not runs and len(broken) == 1, f"expected one unreadable run, got {runs} and {broken}"
    return broken[0].reason


# --- round trip ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)
def test_format_2_round_trip_restores_model_evaluation_and_timeline(checkpoint_root, tiny_dataset, spec):
    info, trained = make_run(checkpoint_root, tiny_dataset, tiny_config(spec.name))
    assert info.path == checkpoint_root / info.config.run_id and info.format == 2
    loaded = read_run(info.path)
    assert loaded == info
    restored = load_model(loaded)
    assert type(restored) is type(trained) and not restored.training
    state, original = restored.state_dict(), trained.state_dict()
    assert state.keys() == original.keys() and all(torch.equal(state[k], original[k]) for k in state)

    test = tiny_dataset.test
    evaluation = load_evaluation(loaded)
    assert evaluation.test_errors.shape == (len(test),) and evaluation.test_errors.dtype == np.float32
    assert float(evaluation.test_errors.mean()) == pytest.approx(loaded.test_mse, rel=1e-5)
    np.testing.assert_array_equal(evaluation.display_indices, display_indices(test.labels.numpy()))
    expected = to_uint8(reconstruct(trained, test.images[evaluation.display_indices]))
    np.testing.assert_array_equal(evaluation.display_recon, expected)

    timeline = load_timeline(loaded)
    assert timeline.frames.shape == (1, 20, 32, 32) and timeline.frames.dtype == np.uint8
    assert np.bincount(timeline.probe_labels, minlength=10).tolist() == [2] * 10


def test_run_json_names_each_file_by_its_checksum_and_weights_are_safetensors(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    stored = json.loads((info.path / "run.json").read_text())
    assert stored["format"] == 2 and stored["run_id"] == info.run_id
    assert stored["config"] == info.config.to_dict()
    assert stored["metrics"]["pca"]["train_images"] == 100 and stored["metrics"]["pca"]["clipped"] is True
    assert stored["dataset"]["fingerprint"] == tiny_dataset.fingerprint
    assert set(stored["versions"]) >= {"python", "torch", "numpy", "scikit-learn", "safetensors"}
    assert set(stored["files"]) == {"weights", "evaluation", "timeline"}
    for kind, entry in stored["files"].items():
        blob = (info.path / entry["name"]).read_bytes()
        digest = hashlib.sha256(blob).hexdigest()
        assert (entry["sha256"], entry["size"]) == (digest, len(blob))
        assert FILE_PATTERNS[kind].match(entry["name"]) and digest[:12] in entry["name"]
    assert sorted(p.name for p in info.path.iterdir()) == sorted(
        ["run.json", *(e["name"] for e in stored["files"].values())]
    )
    header = info.weights_path.read_bytes()
    assert header[8:9] == b"{", "weights must be a safetensors file (a JSON header, no pickle)"


# --- checksums and safe reads -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["weights", "evaluation", "timeline"])
def test_a_changed_byte_in_any_file_is_a_checksum_mismatch(checkpoint_root, tiny_dataset, kind):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    path = info.path / info.files[kind].name
    blob = bytearray(path.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    path.write_bytes(bytes(blob))
    reason = only_broken(checkpoint_root)
    assert f"{info.files[kind].name} is damaged (checksum mismatch)" in reason and info.run_id in reason


def test_truncated_weights_are_refused_with_or_without_a_matching_checksum(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    blob = info.weights_path.read_bytes()
    info.weights_path.write_bytes(blob[: len(blob) // 2])
    assert "damaged (checksum mismatch)" in only_broken(checkpoint_root)
    replace_file(info, "weights", blob[: len(blob) // 2])
    assert "cannot be loaded safely" in only_broken(checkpoint_root)
    with pytest.raises(CheckpointError, match="cannot be loaded safely"):
        load_model(read_run(info.path))


def test_all_nan_weights_with_a_matching_checksum_are_refused(checkpoint_root, tiny_dataset):
    from safetensors.torch import save

    info, model = make_run(checkpoint_root, tiny_dataset)
    replace_file(info, "weights", save({k: torch.full_like(v, float("nan")) for k, v in model.state_dict().items()}))
    reason = only_broken(checkpoint_root)
    assert "NaN or infinite" in reason and "retrain" in reason


def test_weights_of_another_shape_name_the_mismatch(checkpoint_root, tiny_dataset):
    from safetensors.torch import save

    from aecore.architectures import build_model

    info, _ = make_run(checkpoint_root, tiny_dataset)  # an MLP with bottleneck 4
    replace_file(info, "weights", save(build_model("mlp", 8).state_dict()))
    reason = only_broken(checkpoint_root)
    assert "weights do not fit the config" in reason and "encoder.6.weight is (8, 32), not (4, 32)" in reason


def test_a_weights_file_larger_than_its_cap_is_refused_unread(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    cap = weights_cap(info.parameters, legacy=False)
    replace_file(info, "weights", b"\0" * (cap + 1))
    assert f"is {cap + 1:,} bytes, more than the {cap:,} it can be" in only_broken(checkpoint_root)


def test_read_regular_file_enforces_its_cap(tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"x" * 100)
    assert read_regular_file(path, 100) == b"x" * 100
    with pytest.raises(CheckpointError, match="blob is 100 bytes, more than the 99 it can be"):
        read_regular_file(path, 99)
    with pytest.raises(CheckpointError, match="cannot read missing"):
        read_regular_file(tmp_path / "missing", 99)


def test_a_huge_run_json_is_refused_unread(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    path = info.path / "run.json"
    path.write_bytes(path.read_bytes() + b" " * (runstore.MAX_RUN_JSON_BYTES + 1))
    assert "run.json is" in only_broken(checkpoint_root) and "more than the" in only_broken(checkpoint_root)


LIST_IN_A_CHILD = textwrap.dedent(
    """
    import sys, time
    from aecore.runstore import list_runs
    started = time.perf_counter()
    runs, broken = list_runs(sys.argv[1])
    print(f"{time.perf_counter() - started:.2f}")
    for run in runs:
        print("ok", run.run_id)
    for run in broken:
        print("broken", run.run_id, run.reason)
    """
)


def test_fifos_and_links_to_devices_are_listed_as_unreadable_without_hanging(checkpoint_root, tiny_dataset):
    faults = {
        "weights fifo": ("weights", "fifo", "is not a regular file"),
        "weights link": ("weights", "link", "is a symbolic link"),
        "timeline link": ("timeline", "link", "is a symbolic link"),
        "run.json fifo": ("run.json", "fifo", "is not a regular file"),
        "run.json link": ("run.json", "link", "is a symbolic link"),
    }
    expected = {}
    for seed, (kind, fault, reason) in enumerate(faults.values()):
        info, _ = make_run(checkpoint_root, tiny_dataset, tiny_config(seed=seed))
        path = info.path / (kind if kind == "run.json" else info.files[kind].name)
        path.unlink()
        if fault == "fifo":
            os.mkfifo(path)  # a reader that opens it blocking waits forever for a writer
        else:
            path.symlink_to("/dev/zero")  # a reader that follows it reads forever
        expected[info.run_id] = (path.name, reason)
    good, _ = make_run(checkpoint_root, tiny_dataset, tiny_config(seed=99))
    (checkpoint_root / "linked-run").symlink_to(good.path)  # a symlinked folder is skipped, not read
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", LIST_IN_A_CHILD, str(checkpoint_root)], capture_output=True, text=True, env=env,
        timeout=90,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seconds, *lines = done.stdout.splitlines()
    assert float(seconds) < 15, f"listing took {seconds} s"
    assert [line for line in lines if line.startswith("ok")] == [f"ok {good.run_id}"]
    broken = {line.split()[1]: line for line in lines if line.startswith("broken")}
    assert broken.keys() == expected.keys()
    for run_id, (name, reason) in expected.items():
        assert f"{name} {reason}" in broken[run_id], broken[run_id]


# --- format 1 -------------------------------------------------------------------------------------------


def test_a_format_1_run_still_reads_and_loads_with_weights_only(checkpoint_root, tiny_dataset, monkeypatch):
    info, trained = write_legacy_run(checkpoint_root, tiny_dataset)
    assert info.format == 1 and info.weights_path.suffix == ".pt" and info.train_images is None
    loads = []
    real_load = torch.load

    def spy(*args, **kwargs):
        loads.append(kwargs.get("weights_only"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    model = load_model(info)
    assert loads == [True], "format-1 weights must be loaded with weights_only=True"
    state = trained.state_dict()
    assert all(torch.equal(model.state_dict()[k], state[k]) for k in state)
    assert load_evaluation(info) is None and load_timeline(info) is None
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [info.run_id] and not broken


# --- saving -----------------------------------------------------------------------------------------------


def test_a_second_save_replaces_the_files_and_removes_the_old_ones(checkpoint_root, tiny_dataset):
    info, model = make_run(checkpoint_root, tiny_dataset)
    old_weights = info.files["weights"].name
    with torch.no_grad():
        next(model.parameters()).add_(0.5)
    new = resave(info, checkpoint_root, model)
    assert new.files["weights"].name != old_weights and not (info.path / old_weights).exists()
    assert sorted(p.name for p in info.path.iterdir()) == sorted(["run.json", *(f.name for f in new.files.values())])
    assert torch.equal(next(load_model(new).parameters()), next(model.parameters()))


def test_a_save_that_fails_midway_leaves_the_previous_run_as_it_was(checkpoint_root, tiny_dataset, monkeypatch):
    info, model = make_run(checkpoint_root, tiny_dataset)
    before = tree(checkpoint_root)
    real_write = runstore.write_atomic

    def fail_on_run_json(target, data):
        if target.name == "run.json":
            raise OSError(5, "Input/output error")
        real_write(target, data)

    monkeypatch.setattr(runstore, "write_atomic", fail_on_run_json)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)  # different weights, so a new weights file is written before run.json fails
    with pytest.raises(CheckpointError, match=f"cannot save {info.run_id}: Input/output error"):
        resave(info, checkpoint_root, model)
    assert tree(checkpoint_root) == before, "a failed save left files behind"


def test_the_next_save_of_a_run_removes_its_leftovers_only(checkpoint_root, tiny_dataset, tmp_path):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    other, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    run_id = info.run_id
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("not the store's")
    leftovers = [
        checkpoint_root / f".tmp-{run_id}-a1b2c3" / "weights-000000000000.safetensors",  # a killed first save
        checkpoint_root / f".trash-{run_id}-0badf00d" / "run.json",  # a killed delete
        info.path / ".tmp-run.json.x8y9",  # a killed in-place write
        info.path / "weights-000000000000.safetensors",  # an orphan of an older save
        info.path / "timeline-000000000000.npz",
        info.path / ".incomplete",  # an older version's marker
    ]
    for path in leftovers:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"left over")
    kept = [
        checkpoint_root / f".tmp-{other.run_id}-d4e5f6" / "run.json",  # another run's save may be in progress
        info.path / "projections" / "pca-n100-abc.json",  # not the store's file
    ]
    for path in kept:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"keep")
    (checkpoint_root / f".tmp-{run_id}-link").symlink_to(outside)  # never followed into
    resave(info, checkpoint_root)
    assert not [path for path in leftovers if path.exists()], "leftovers were kept"
    assert not [path.parent for path in leftovers[:2] if path.parent.exists()], "staging or trash folders were kept"
    assert all(path.exists() for path in kept)
    assert (outside / "keep.txt").read_text() == "not the store's"
    assert [r.run_id for r in list_runs(checkpoint_root)[0]].count(run_id) == 1


def test_two_processes_saving_the_same_run_at_once_both_succeed(checkpoint_root, tiny_dataset, tmp_path):
    source, _ = make_run(tmp_path / "source", tiny_dataset)
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    children = [
        context.Process(target=save_in_child, args=(str(source.path), str(checkpoint_root), barrier, 0.3))
        for _ in range(2)
    ]
    for child in children:
        child.start()
    for child in children:
        child.join(timeout=120)
    assert [child.exitcode for child in children] == [0, 0], "a concurrent save failed"
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [source.run_id] and not broken
    assert sorted(p.name for p in checkpoint_root.iterdir()) == [".locks", source.run_id], "leftovers remain"
    assert runs[0].files == source.files


# --- the registry -----------------------------------------------------------------------------------------


def test_list_runs_newest_first_skipping_hidden_entries_and_naming_non_runs(checkpoint_root, tiny_dataset):
    older, _ = make_run(checkpoint_root, tiny_dataset)
    newer, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    edit_run_json(older, lambda raw: raw.update(created="2026-01-01T00:00:00+00:00"))
    (checkpoint_root / ".tmp-something").mkdir()
    (checkpoint_root / "notes.txt").write_text("a plain file")
    (checkpoint_root / "holiday-photos").mkdir()
    runs, broken = list_runs(checkpoint_root)
    assert [r.run_id for r in runs] == [newer.run_id, older.run_id]
    assert [(b.run_id, b.reason) for b in broken] == [
        ("holiday-photos", "holiday-photos: not a run (no run.json); move it out of the checkpoints folder")
    ]
    assert list_runs(checkpoint_root / "absent") == ([], [])


def test_an_interrupted_save_of_an_older_version_is_listed_as_incomplete(checkpoint_root, tiny_dataset):
    info, _ = write_legacy_run(checkpoint_root, tiny_dataset)
    (info.path / "run.json").unlink()
    assert "incomplete run" in only_broken(checkpoint_root)


def test_find_run_by_name_or_unique_prefix(checkpoint_root, tiny_dataset):
    mlp, _ = make_run(checkpoint_root, tiny_dataset)
    make_run(checkpoint_root, tiny_dataset, tiny_config(seed=1))
    assert find_run(mlp.run_id, checkpoint_root).run_id == mlp.run_id
    conv, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    assert find_run("conv", checkpoint_root).run_id == conv.run_id
    with pytest.raises(CheckpointError, match="'mlp' matches 2 runs"):
        find_run("mlp", checkpoint_root)
    for name in ("", " mlp", "../mlp", ".locks", "absent"):
        with pytest.raises(CheckpointError, match="no run named"):
            find_run(name, checkpoint_root)


# --- deleting ---------------------------------------------------------------------------------------------


def fake_run_folder(path: Path) -> Path:
    """A folder delete_run would accept as a run (it holds a run.json): what a wrong deletion would destroy."""
    path.mkdir(parents=True)
    (path / "run.json").write_text("{}")
    (path / "weights-000000000000.safetensors").write_bytes(b"precious")
    return path


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("", "give the name of a run to delete; got ''"),
        (" ", "give the name of a run to delete"),
        ("\t\n", "give the name of a run to delete"),
        (" victim", "give the name of a run to delete"),
        (".", "'.' is not a run name"),
        ("..", "'..' is not a run name"),
        ("a/b", "'a/b' is not a run name"),
        ("../outside", "is not a run name"),
        ("victim/", "is not a run name"),
        (".locks", "is not a run name"),
        ("absent", "no run named 'absent'"),
    ],
)
def test_delete_refuses_what_is_not_a_run_name_and_deletes_nothing(tmp_path, name, message):
    root = tmp_path / "checkpoints"
    fake_run_folder(root / "victim")
    fake_run_folder(root / "a" / "b")
    fake_run_folder(root / ".locks")
    fake_run_folder(tmp_path / "outside")
    (tmp_path / "run.json").write_text("{}")  # the root's parent looks like a run too
    before = tree(tmp_path)
    with pytest.raises(CheckpointError, match=message):
        delete_run(name, root)
    assert tree(tmp_path) == before


def test_delete_refuses_a_symlinked_run_folder_and_a_non_run_folder(tmp_path):
    root = tmp_path / "checkpoints"
    target = fake_run_folder(tmp_path / "elsewhere" / "run")
    root.mkdir()
    (root / "linked").symlink_to(target)
    (root / "somedir").mkdir()
    (root / "somedir" / "notes.txt").write_text("mine")
    (root / "linked-json").mkdir()
    (root / "linked-json" / "run.json").symlink_to(target / "run.json")
    (root / "plain-file").write_text("x")
    before = tree(tmp_path)
    for name, message in [
        ("linked", "'linked' is a symbolic link, not a run folder"),
        ("somedir", "'somedir' is not a run \\(no run.json\\)"),
        ("linked-json", "'linked-json' is not a run"),
        ("plain-file", "'plain-file' is not a run folder"),
    ]:
        with pytest.raises(CheckpointError, match=message):
            delete_run(name, root)
    assert tree(tmp_path) == before


@pytest.mark.parametrize("frozen", ["root", "run", "inside"])
def test_delete_in_a_read_only_place_deletes_nothing(tmp_path, read_only, frozen):
    root = tmp_path / "checkpoints"
    run = fake_run_folder(root / "victim")
    (run / "projections").mkdir()
    (run / "projections" / "map.npz").write_bytes(b"map")
    folder = {"root": root, "run": run, "inside": run / "projections"}[frozen]
    before = tree(tmp_path)
    with read_only(folder), pytest.raises(CheckpointError, match="is read-only; nothing was deleted"):
        delete_run("victim", root)
    assert tree(tmp_path) == before


def test_delete_removes_exactly_that_run(checkpoint_root, tiny_dataset):
    victim, _ = make_run(checkpoint_root, tiny_dataset)
    kept, _ = make_run(checkpoint_root, tiny_dataset, tiny_config("conv"))
    (victim.path / "projections").mkdir()
    (victim.path / "projections" / "pca.npz").write_bytes(b"map")
    before = tree(checkpoint_root)
    assert delete_run(victim.run_id, checkpoint_root) == victim.path
    after = tree(checkpoint_root)
    gone = {name for name in before if name == victim.run_id or name.startswith(f"{victim.run_id}/")}
    assert after == {name: value for name, value in before.items() if name not in gone}
    assert [r.run_id for r in list_runs(checkpoint_root)[0]] == [kept.run_id]


def test_an_incomplete_run_of_an_older_version_can_be_deleted(checkpoint_root):
    folder = checkpoint_root / "mlp-mnist-sample-0123456789"
    folder.mkdir()
    (folder / ".incomplete").write_text("")
    delete_run(folder.name, checkpoint_root)
    assert not folder.exists()


def test_the_typed_records_write_back_exactly_the_json_the_shipped_runs_hold():
    """run.json's metrics and dataset are parsed into frozen records once; writing them back must give the same
    JSON, key order included, as the shipped runs (saved before the records existed) hold."""
    folders = sorted(p for p in runstore.default_checkpoint_root().iterdir() if (p / "run.json").is_file())
    assert folders, "the shipped runs are missing"
    for folder in folders:
        raw = json.loads((folder / "run.json").read_text())
        info = read_run(folder)
        assert json.dumps(info.metrics.to_json()) == json.dumps(raw["metrics"]), folder.name
        assert json.dumps(info.dataset.to_json()) == json.dumps(raw["dataset"]), folder.name
        assert info.metrics.pca.is_baseline and info.n_test == sum(
            row["n"] for row in raw["metrics"]["test"]["per_digit"]
        )


def test_a_format_1_run_reads_as_one_whose_pca_is_not_its_baseline(checkpoint_root, tiny_dataset):
    legacy, _ = write_legacy_run(checkpoint_root, tiny_dataset)
    pca = legacy.metrics.pca
    assert not pca.is_baseline and (pca.train_images, pca.val_mse, pca.clipped) == (None, None, False)
    assert len(pca.per_digit) == 10 and legacy.test_mse == legacy.metrics.test.mse > 0
