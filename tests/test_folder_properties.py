"""Any run folder, never a hang, a traceback or a write outside it (issue 19): Hypothesis replaces one file of the
shipped default MLP run (run.json, weights, artefacts, a cached projection) by a FIFO, a link to /dev/zero, a link
to a file outside the folder, garbage or a bomb (deep JSON nesting, an .npz that decompresses to gigabytes, a
safetensors header claiming terabytes), with or without run.json's checksum updated to match. Then the listing,
the loaders, the CLI commands and every page run against it, each call under a time limit.

Example counts are small (the whole file runs in about a minute on 2 busy cores); under CI=true they are
derandomised, so the same examples run every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aecore.config import RunConfig
from tests.browser_support import REPO
from tests.runs import within_limit

CI = os.environ.get("CI") == "true"
PROFILE = {"deadline": None, "derandomize": CI, "database": None,
           "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}  # fmt: skip
RUN = RunConfig.for_recipe("mlp").run_id  # slot A's default: every page reads it
OTHER = RunConfig.for_recipe("conv").run_id
CALL_LIMIT_S = 120  # a call still running after this hangs (a FIFO opened, /dev/zero read to the end)
APP_TIMEOUT = 240
SHIPPED = REPO / "checkpoints" / RUN
FILES = sorted(str(p.relative_to(SHIPPED)) for p in SHIPPED.rglob("*") if p.is_file())
KINDS = ["fifo", "zero", "outside", "garbage", "bomb"]


def bomb(name: str) -> bytes:
    """Something small that claims or unpacks to far more than its kind can be."""
    if name.endswith(".json"):
        return b"[" * 200_000 + b"]" * 200_000
    if name.endswith(".npz"):
        header = io.BytesIO()
        np.lib.format.write_array_header_1_0(header, {"descr": "|u1", "fortran_order": False, "shape": (10**9,)})
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in ("test_errors", "frames", "coords", "indices", "probe_positions", "display_images"):
                archive.writestr(f"{member}.npy", header.getvalue() + bytes(50 << 20))  # 50 MB of zeros: ~50 kB
        return buffer.getvalue()
    header = json.dumps({"w": {"dtype": "F32", "shape": [10**12], "data_offsets": [0, 4 * 10**12]}}).encode()
    return len(header).to_bytes(8, "little") + header + bytes(1024)


def plant(folder: Path, name: str, kind: str, outside: Path, keep_checksum: bool) -> None:
    """Replace `folder/name` by `kind`; with keep_checksum, run.json names the new content's sha256 and size."""
    target = folder / name
    target.unlink()
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "zero":
        target.symlink_to("/dev/zero")
    elif kind == "outside":
        target.symlink_to(outside / "sentinel")
    else:
        data = os.urandom(4096) if kind == "garbage" else bomb(name)
        target.write_bytes(data)
        if keep_checksum and "/" not in name and name != "run.json":
            record = json.loads((folder / "run.json").read_text())
            for entry in record["files"].values():
                if entry["name"] == name:
                    entry.update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            (folder / "run.json").write_text(json.dumps(record))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def limited(call: Callable[[], object]) -> object:
    return within_limit(call, CALL_LIMIT_S)


@pytest.fixture(scope="module")
def place(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("folders")


def fresh(place: Path, monkeypatch) -> tuple[Path, Path]:
    """A checkpoints folder with copies of the two default runs, and a folder outside it with a sentinel."""
    for child in place.iterdir():
        shutil.rmtree(child)
    root, outside = place / "checkpoints", place / "outside"
    outside.mkdir()
    (outside / "sentinel").write_bytes(b"not the checkpoints' to touch")
    for name in (RUN, OTHER):
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(root))
    return root, outside


def check_cli(root: Path, capsys) -> None:
    from aecore.__main__ import main

    for argv in (["list"], ["evaluate", RUN], ["project", RUN, "--method", "pca"], ["delete", "--yes", "x" + RUN]):
        code = limited(lambda argv=argv: main(argv))
        error = capsys.readouterr().err
        assert code in (0, 2), (argv, code, error[-500:])
        assert "Traceback" not in error and (code == 0 or error.count("\n") == 1), (argv, error[-500:])


def check_store(root: Path) -> None:
    from aecore.projection import ProjectionConfig, load_cached
    from aecore.runstore import CheckpointError, list_runs, load_evaluation, load_timeline

    runs, broken = limited(lambda: list_runs(root))
    assert {r.run_id for r in runs} | {b.run_id for b in broken} == {RUN, OTHER}
    for info in runs:
        for load in (load_evaluation, load_timeline):
            with contextlib.suppress(CheckpointError):
                limited(lambda load=load, info=info: load(info))
        for method in ("pca", "umap"):
            limited(lambda info=info, method=method: load_cached(info, ProjectionConfig(method=method)))


@settings(max_examples=8, **PROFILE)
@given(name=st.sampled_from(FILES), kind=st.sampled_from(KINDS), keep_checksum=st.booleans())
@example(name=FILES[-1], kind="fifo", keep_checksum=False)  # a cached projection: no checksum guards it
@example(name="run.json", kind="zero", keep_checksum=False)
@example(name=next(f for f in FILES if f.startswith("timeline")), kind="bomb", keep_checksum=True)
def test_any_planted_file_is_listed_and_every_command_answers(place, monkeypatch, capsys, name, kind, keep_checksum):
    root, outside = fresh(place, monkeypatch)
    plant(root / RUN, name, kind, outside, keep_checksum)
    before = snapshot(outside)
    check_store(root)
    check_cli(root, capsys)
    assert snapshot(outside) == before, "something outside the checkpoints folder was written"


@pytest.mark.slow
@settings(max_examples=1, **PROFILE)
@given(name=st.sampled_from(FILES), kind=st.sampled_from(KINDS), keep_checksum=st.booleans())
@example(name=next(f for f in FILES if f.startswith("projections/pca") and f.endswith(".npz")), kind="fifo",
         keep_checksum=False)  # fmt: skip
def test_every_page_renders_with_a_planted_file(place, monkeypatch, name, kind, keep_checksum):
    from streamlit.testing.v1 import AppTest

    from ui.navigation import PAGES

    root, outside = fresh(place, monkeypatch)
    plant(root / RUN, name, kind, outside, keep_checksum)
    before = snapshot(outside)
    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    at.session_state["latent_method"] = "pca"
    limited(at.run)
    assert not at.exception, f"frame: {at.exception[0].value}"
    for entry in PAGES:
        limited(lambda entry=entry: at.switch_page(entry.path).run())
        assert not at.exception, f"{entry.path}: {at.exception[0].value}"
    assert snapshot(outside) == before, "something outside the checkpoints folder was written"
