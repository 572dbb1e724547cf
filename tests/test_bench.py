"""The bench scripts' reference loop sees the same pixels as aecore, and results land in BENCHMARKS.md."""

import sys
from pathlib import Path

import torch
from torchvision import transforms

# The bench scripts import their helpers as top-level modules, as `python bench/x.py` runs them.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

import bench_training  # noqa: E402
import run_all  # noqa: E402
from common import Row, markdown_table  # noqa: E402


def test_seed_loop_dataset_rebuilds_aecores_images(tiny_dataset):
    # The seed-style reference must train on exactly the images aecore trains on, via PIL + ToTensor + Pad(2).
    split = tiny_dataset.train
    dataset = bench_training.PILDigits(split, transforms.Compose([transforms.ToTensor(), transforms.Pad(2)]))
    assert len(dataset) == len(split)
    for i in (0, len(split) // 2, len(split) - 1):
        image, label = dataset[i]
        assert image.shape == (1, 32, 32)
        assert label == int(split.labels[i])
        assert torch.allclose(image, split.images[i], atol=1e-6), f"image {i} differs from aecore's tensor"


def test_table_marks_unmet_targets_and_notes():
    rows = [
        Row("speed", "ref 1 s", "0.2 s", "0.20", "<= 0.25", True),
        Row("quality", "PCA 0.013", "0.015", "1.15", "<= 1.00", False, note="MLP overfits"),
        Row("memory", "-", "failed", "", "-", None, note="boom"),
    ]
    table = markdown_table(rows)
    lines = table.splitlines()
    assert lines[2].endswith("| yes |") and lines[3].endswith("| **no** |") and lines[4].endswith("| not measured |")
    assert "- quality: MLP overfits" in table and "- memory: boom" in table


def test_latest_run_replaces_only_its_own_block(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text("# Benchmarks\n\nintro\n")
    run_all.write_latest("first table", path)
    run_all.write_latest("second table", path)
    text = path.read_text()
    assert text.startswith("# Benchmarks\n\nintro\n")
    assert "second table" in text and "first table" not in text
    assert text.count(run_all.START) == 1 and text.count(run_all.END) == 1
    path.write_text(text + "\n## Notes kept\n")
    run_all.write_latest("third table", path)
    assert path.read_text().endswith("\n## Notes kept\n") and "third table" in path.read_text()


def test_dashboard_rows_compare_each_figure_with_its_own_reference():
    import bench_dashboard

    bare = {"home": 2.0, "rerun": 0.2}
    dash = {"home": 3.9, "warm_up": 12.0, "switch": 0.29, "latent": 0.59, "idle_switches": [0.3, 0.2, 0.4, 0.3],
            "every_page": {"Runs": 0.25, "Latent space": 0.7, "Overview": 0.3}, "busy_switches": [0.5, 0.4, 0.9, 0.5],
            "job_still_running": True, "exceptions": []}  # fmt: skip
    rows = {row.bench.split(" (")[0]: row for row in bench_dashboard.rows(bare, dash)}
    home = rows["dashboard: server ready -> home rendered"]
    assert home.ratio == "1.95x" and home.met
    latent = rows["dashboard: first visit of the latent page, cached maps"]
    assert latent.ratio == "2.95x" and latent.met
    busy = rows["dashboard: page switch while a training job runs"]
    assert busy.reference == "idle page switch 0.30 s" and busy.ratio == "1.67x" and not busy.met
    every = rows["dashboard: page switch, idle, every page"]
    assert every.measured == "0.30 s" and every.ratio == "1.50x" and every.met, "the median over the pages"
    slowest = rows["dashboard: page switch, idle, slowest page"]
    assert "Latent space" in slowest.bench and slowest.ratio == "3.50x" and not slowest.met, "worst page: <= 3x"
    dash["latent"] = 1.2  # within 3x of a slow bare rerun, but over the absolute 1.0 s
    slow = {row.bench.split(" (")[0]: row for row in bench_dashboard.rows({**bare, "rerun": 0.6}, dash)}
    assert not slow["dashboard: first visit of the latent page, cached maps"].met


def test_idle_wait_returns_at_the_first_window_the_process_stays_under_the_share(monkeypatch):
    import bench_dashboard

    readings = iter([0.0, 0.9, 0.9, 1.5, 1.5, 1.52, 1.52, 9.0])  # CPU seconds: busy, busy, idle (0.02 s in 1 s)
    calls = []
    monkeypatch.setattr(bench_dashboard, "cpu_seconds", lambda pid: calls.append(pid) or next(readings))
    monkeypatch.setattr(bench_dashboard.time, "sleep", lambda seconds: None)
    bench_dashboard.wait_until_idle(123, share=0.05, window=1.0)
    assert calls == [123] * 6, "it should stop at the third window, the first under 5% of a core"
