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
