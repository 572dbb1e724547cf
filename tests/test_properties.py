"""Any run.json, never a crash: one field of a real run.json replaced by arbitrary JSON (Hypothesis).

The field is any top-level or nested one (config fields, history entries, best_epoch, metrics.*, parameters,
created, dataset.*, files.*, ...), the value any JSON: deep nesting, huge and infinite numbers, NaN, odd text,
or the field is missing. `list_runs` must list the run as valid or as unreadable with a one-line reason, and
every page of the dashboard must render with that run in the registry. Under CI=true the examples are
derandomised (the same ones every run), so these tests cannot flake.
"""

from __future__ import annotations

import json
import os
import shutil
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from aecore.compare import details_line, picker_label, run_table
from aecore.config import RunConfig
from aecore.runstore import list_runs
from tests.browser_support import REPO
from ui.navigation import PAGES

CI = os.environ.get("CI") == "true"
PROFILE = {
    "deadline": None,
    "derandomize": CI,
    "database": None,  # nothing written into the repository; a failure prints the example to reproduce it
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
}
RUN = RunConfig.for_recipe("mlp").run_id  # the shipped default MLP: what slot A opens on
OTHER = RunConfig.for_recipe("conv").run_id
APP_TIMEOUT = 240
DELETE = object()
PLACEHOLDER = "@@replaced-field@@"

# Values json.dumps cannot write but a hand-edited file can hold: numbers past float range, an integer past
# Python's 4,300-digit limit, bare NaN/Infinity tokens, and nesting deeper than the parser's recursion limit.
RAW_VALUES = ["1e999", "-1e999", "NaN", "Infinity", "-Infinity", "9" * 5000, "[" * 100_000 + "]" * 100_000,
              '{"a":' * 5000 + "0" + "}" * 5000, "-0", "1E-400", '"\\ud800"']  # fmt: skip

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(10**300), max_value=10**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
)
json_values = st.recursive(
    leaves, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5), max_leaves=30
)
deeply_nested = st.integers(1, 400).map(lambda depth: json.loads("[" * depth + "]" * depth))
raw_texts = json_values.map(lambda value: json.dumps(value, allow_nan=True)) | st.sampled_from(RAW_VALUES)
replacements = raw_texts | deeply_nested.map(json.dumps) | st.just(DELETE)


def field_paths(value, prefix: tuple = ()) -> list[tuple]:
    """Every field path of `value` (objects by key, lists by first, second and last entry)."""
    paths = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            paths += field_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index in sorted({0, 1, len(value) - 1} & set(range(len(value)))):
            paths += field_paths(value[index], (*prefix, index))
    return paths


def damaged(record: dict, path: tuple, replacement) -> str:
    """run.json text with the field at `path` replaced by the raw JSON `replacement` (or removed)."""
    copy = json.loads(json.dumps(record))
    block = copy
    for key in path[:-1]:
        block = block[key]
    if replacement is DELETE:
        del block[path[-1]]
        return json.dumps(copy)
    block[path[-1]] = PLACEHOLDER
    return json.dumps(copy).replace(json.dumps(PLACEHOLDER), replacement, 1)


PRISTINE = json.loads((REPO / "checkpoints" / RUN / "run.json").read_text())
PATHS = field_paths(PRISTINE)
TOP_LEVEL = sorted({path[0] for path in PATHS})
# Each top-level field is as likely as the next, then any path under it: history's 60 entries and the
# per-digit rows do not drown out created or parameters.
any_path = st.sampled_from(TOP_LEVEL).flatmap(lambda top: st.sampled_from([p for p in PATHS if p[0] == top]))


def test_the_fields_cover_every_part_of_run_json():
    tops = set(TOP_LEVEL)
    assert {"config", "history", "best_epoch", "metrics", "parameters", "created", "dataset", "files"} <= tops
    nested = {".".join(map(str, p)) for p in PATHS}
    for expected in ("config.bottleneck", "history.0.val_loss", "metrics.test.per_digit.0.mse", "metrics.pca.mse",
                     "dataset.description", "files.weights.sha256", "files.timeline.name"):  # fmt: skip
        assert expected in nested, expected


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A checkpoint root holding a copy of the shipped default MLP run (its run.json is rewritten per example)."""
    root = tmp_path_factory.mktemp("properties") / "checkpoints"
    root.mkdir()
    shutil.copytree(REPO / "checkpoints" / RUN, root / RUN, ignore=shutil.ignore_patterns("projections"))
    return root


def assert_listed_sanely(root: Path) -> None:
    """The run is listed, as valid or as unreadable with a one-line reason; a valid one can be labelled."""
    runs, broken = list_runs(root)  # must not raise, whatever run.json holds
    listed = [r.run_id for r in runs] + [b.run_id for b in broken]
    assert RUN in listed, "the damaged run vanished from the listing instead of being listed as unreadable"
    for item in broken:
        assert item.reason.strip(), "an unreadable run needs a reason"
        odd = [ch for ch in item.reason if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")]
        assert not odd and len(item.reason) <= 1000, f"not a one-line reason: {item.reason[:200]!r}"
    for info in runs:  # what the sidebar and the Runs page compute from every listed run
        picker_label(info), details_line(info), run_table([info])


@settings(max_examples=250, **PROFILE)
@given(path=any_path, replacement=replacements)
@example(path=("dataset", "description"), replacement=json.dumps("![i](http://leak.invalid/x.png)"))
@example(path=("created",), replacement=json.dumps("0001-01-01T00:00:00+23:59"))
@example(path=("history",), replacement="[" * 100_000 + "]" * 100_000)
@example(path=("config",), replacement=json.dumps({"a\nb\x1b[2J": 1}))  # found by this test: a reason in 2 lines
@example(path=("config", "model"), replacement=json.dumps(["x" * 50] * 40))  # and one of 2,258 characters
def test_any_value_in_any_field_is_listed_never_raised(store, path, replacement):
    (store / RUN / "run.json").write_text(damaged(PRISTINE, path, replacement))
    assert_listed_sanely(store)


# Fields a run may lack and still be valid: the run id (the folder names it), the training-image limit (all of
# them), the tensor list and layer text (older runs; `migrate` adds them), library versions, the timeline.
OPTIONAL_FIELDS = {("run_id",), ("config", "train_limit"), ("tensors",), ("architecture",), ("files", "timeline")}


def may_be_missing(path: tuple) -> bool:
    """The field itself may go (inside an optional block, only library versions may: a half tensor list or
    timeline record is damage, not age)."""
    return path in OPTIONAL_FIELDS or (path[0] == "versions" and len(path) == 2)


def names_it(reason: str, path: tuple) -> bool:
    """The reason names the missing field or the field it made inconsistent (a list's entry, the tensor count)."""
    names = {str(key) for key in path if isinstance(key, str)}
    if path[0] == "history":  # removing the last epoch leaves best_epoch past the end, which is what is reported
        names.add("best_epoch")
    return any(name in reason for name in names)


@settings(max_examples=150, **PROFILE)
@given(path=any_path)
def test_a_missing_field_is_listed_as_unreadable_naming_it(store, path):
    (store / RUN / "run.json").write_text(damaged(PRISTINE, path, DELETE))
    runs, broken = list_runs(store)
    if may_be_missing(path):
        assert [r.run_id for r in runs] == [RUN], f"{'.'.join(map(str, path))} is optional, yet the run is unreadable"
        return
    assert not runs, f"run.json without {'.'.join(map(str, path))} was listed as valid"
    assert len(broken) == 1 and names_it(broken[0].reason, path), (path, broken[0].reason)


def test_the_optional_fields_are_optional_and_nothing_else(store):
    """The same, over every field path at once (the Hypothesis test samples them)."""
    for path in PATHS:
        (store / RUN / "run.json").write_text(damaged(PRISTINE, path, DELETE))
        runs, broken = list_runs(store)
        assert bool(runs) == may_be_missing(path), ".".join(map(str, path))
        assert runs or names_it(broken[0].reason, path), (path, broken[0].reason)


# --- the pages, with the damaged run in the registry ---------------------------------------------------------


@pytest.fixture(scope="module")
def app_store(tmp_path_factory) -> Path:
    """The damaged run beside the shipped conv run, so the pages have something to compare."""
    root = tmp_path_factory.mktemp("properties-app") / "checkpoints"
    root.mkdir()
    for name in (RUN, OTHER):
        shutil.copytree(REPO / "checkpoints" / name, root / name)
    return root


def render_every_page(root: Path) -> None:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(REPO / "dashboard.py"), default_timeout=APP_TIMEOUT)
    at.session_state["latent_method"] = "pca"  # UMAP of a run without a stored map would take a minute
    at.run()
    assert not at.exception, f"frame: {at.exception[0].value}"
    for entry in PAGES:
        at.switch_page(entry.path).run()
        assert not at.exception, f"{entry.path}: {at.exception[0].value}"
        assert at.title, f"{entry.path} drew nothing"


@pytest.mark.slow
@settings(max_examples=6, **PROFILE)
@given(path=any_path, replacement=raw_texts | st.text().map(json.dumps))
@example(path=("dataset", "description"), replacement=json.dumps("![i](http://leak.invalid/x.png) <b>x</b> $x$"))
@example(path=("dataset", "fingerprint"), replacement=json.dumps("\x1b[31m" + "f" * 400))
@example(path=("metrics", "pca", "clipped"), replacement=json.dumps({"a": [1e308]}))
def test_every_page_renders_with_a_damaged_run_in_the_registry(app_store, monkeypatch, path, replacement):
    monkeypatch.setenv("AECORE_CHECKPOINTS", str(app_store))
    (app_store / RUN / "run.json").write_text(damaged(PRISTINE, path, replacement))
    render_every_page(app_store)


# --- the bounded stores of the dashboard ---------------------------------------------------------------------


@settings(max_examples=300, **PROFILE)
@given(budget=st.integers(1, 1000), requests=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 1500)), max_size=60))
def test_a_bounded_store_is_an_lru_that_never_exceeds_its_budget(budget, requests):
    """Against a reference LRU: the same values are made again, the same keys kept, in the same order."""
    from collections import OrderedDict

    from ui.cache import BoundedStore

    store, reference = BoundedStore(budget), OrderedDict()
    for key, size in requests:
        made = []
        value = store.get(key, lambda size=size, made=made: made.append(size) or bytes(size), len)
        expected_made = key not in reference
        if key in reference:
            reference.move_to_end(key)
        elif size <= budget:
            reference[key] = size
            while sum(reference.values()) > budget:
                reference.popitem(last=False)
        assert bool(made) == expected_made and len(value) == (size if made else reference[key])
        assert store.nbytes == sum(reference.values()) <= budget
        assert list(store._items) == list(reference), "evicted something other than the least recently used"
