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


def test_first_load_counts_top_level_main_thread_tasks_and_the_longest_module():
    import bench_first_load

    main, other = {"pid": 1, "tid": 10}, {"pid": 1, "tid": 11}
    events = [
        {"name": "thread_name", "ph": "M", **main, "args": {"name": "CrRendererMain"}},
        {"name": "thread_name", "ph": "M", **other, "args": {"name": "Compositor"}},
        {"name": "RunTask", "ph": "X", **main, "ts": 0, "dur": 400_000, "tdur": 250_000},
        {"name": "RunTask", "ph": "X", **main, "ts": 100_000, "dur": 50_000, "tdur": 50_000},  # inside the first
        {"name": "v8.evaluateModule", "ph": "X", **main, "ts": 10_000, "dur": 300_000},
        {"name": "RunTask", "ph": "X", **main, "ts": 1_000_000, "dur": 200_000, "tdur": 150_000},
        {"name": bench_first_load.GL_WAIT, "ph": "X", **main, "ts": 1_150_000, "dur": 40_000},
        {"name": bench_first_load.GL_WAIT, "ph": "X", **other, "ts": 0, "dur": 70_000},
        {"name": "v8.evaluateModule", "ph": "X", **main, "ts": 1_000_000, "dur": 100_000},
        {"name": "RunTask", "ph": "X", **other, "ts": 0, "dur": 5_000_000},  # another thread: not counted
        {"name": "v8.evaluateModule", "ph": "X", **other, "ts": 0, "dur": 900_000},
    ]
    work = bench_first_load.main_thread_work(events)
    assert work == {"busy_s": 0.6, "cpu_s": 0.4, "gl_wait_s": 0.04, "longest_module_s": 0.3}


def test_first_load_rows_hold_the_home_target_against_the_bare_app():
    import bench_first_load

    raw = {"bare": {"first": 1.0, "returning": [0.9, 1.0, 1.1], "traced": {"busy_s": 0.5, "cpu_s": 0.3}},
           "dashboard": {"first": 3.0, "returning": [2.5, 1.9, 2.0],
                         "traced": {"seconds": 3.2, "busy_s": 2.4, "cpu_s": 2.1, "longest_module_s": 0.6},
                         "latent": {"seconds": 1.2, "busy_s": 1.1, "cpu_s": 0.7, "gl_wait_s": 0.3}}}  # fmt: skip
    returning, cpu, module, latent = bench_first_load.rows(raw)
    assert returning.ratio == "2.00x" and returning.met  # medians: 2.0 s against 1.0 s
    assert cpu.ratio == "2.10x" and not cpu.met and "2.40 s of wall time" in cpu.note and "0.30 s CPU" in cpu.note
    assert module.ratio == "0.60x" and module.met is None
    assert latent.met and latent.measured == "0.70 s of a 1.20 s visit" and "1.10 s of wall time, 0.30 s" in latent.note


def test_compile_bench_uses_only_full_batches_and_reports_the_median_ratio():
    import bench_train_compile

    images = torch.arange(150 * 4, dtype=torch.float32).reshape(150, 1, 2, 2)  # two full batches of 64, then 22
    batches = bench_train_compile._batches(images, 5, channels_last=False)
    assert [len(b) for b in batches] == [64] * 5
    assert torch.equal(batches[2], batches[0]) and not torch.equal(batches[1], batches[0])
    result = {"model": "conv", "layout": "channels_last", "warm_up_seconds": {"eager": 0.1, "compiled": 30.0},
              "ms_per_batch": {"eager": [2.0, 2.2, 1.8], "compiled": [1.0, 1.2, 5.0]}}  # fmt: skip
    (row,) = bench_train_compile.rows([result])
    assert row.ratio == "0.60" and row.reference == "eager 2.00 ms/batch" and row.measured == "1.20 ms/batch"
    assert row.note.startswith("channels_last layout; the compiled warm-up took 30 s")
