"""Own-digit preprocessing: real digits survive it, any paper/ink colour and size works, bad uploads are refused."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from aecore.own_digit import MAX_UPLOAD_BYTES, canvas_to_grey, preprocess, read_upload


def _mse(a, b) -> float:
    return float(((np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)) ** 2).mean())


def _png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    image = Image.fromarray(array)
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def test_real_test_digits_come_back_close_to_themselves(tiny_dataset):
    images = tiny_dataset.test.images[::10]  # 20 real MNIST test digits, 32x32 in [0, 1]
    errors = [_mse(preprocess(image[0].numpy()), image) for image in images]
    other_digit = _mse(images[0], images[1])
    assert np.median(errors) < 0.002, f"preprocessing moved real digits: median MSE {np.median(errors):.4f}"
    assert max(errors) < other_digit, "a processed digit must be nearer itself than another digit"


def test_a_large_dark_on_light_photo_of_a_digit_becomes_the_mnist_digit(tiny_dataset):
    errors = []
    for image in tiny_dataset.test.images[:10]:
        digit = image[0, 2:30, 2:30].numpy()
        paper = (255 * (1 - digit)).astype(np.uint8)  # black ink on white paper
        big = np.asarray(Image.fromarray(paper).resize((196, 196), Image.Resampling.BILINEAR))
        big = np.pad(big, ((40, 5), (10, 70)), constant_values=255)  # off-centre on a larger sheet
        errors.append(_mse(preprocess(read_upload(_png(big))), image))
    assert np.mean(errors) < 0.015, f"upscaled, inverted, off-centre digits did not come back: {errors}"


def test_output_is_32x32_in_unit_range_with_mnist_geometry():
    grey = np.zeros((100, 60), dtype=np.float32)
    grey[10:90, 25:35] = 1.0  # a tall bar: height is the long side
    out = preprocess(grey)[0, 0].numpy()
    assert out.shape == (32, 32) and out.min() >= 0 and out.max() <= 1
    rows = np.flatnonzero(out.max(axis=1) > 0.1)
    assert rows.max() - rows.min() + 1 == 20, "the long side must be scaled to 20 pixels"
    from scipy import ndimage

    cy, cx = ndimage.center_of_mass(out)
    assert abs(cy - 16) <= 0.5 and abs(cx - 16) <= 0.5, "centre of mass must sit at the centre"
    assert out[:2].sum() == 0 and out[:, :2].sum() == 0, "the 2-pixel padding must stay empty"


def test_canvas_strokes_on_black_are_used_as_drawn():
    rgba = np.zeros((280, 280, 4), dtype=np.uint8)
    rgba[..., 3] = 255
    rgba[60:220, 130:150, :3] = 255  # a white "1"
    out = preprocess(canvas_to_grey(rgba))
    assert out.max() == pytest.approx(1.0, abs=0.05) and out.mean() > 0.02


def test_a_blank_canvas_is_refused():
    with pytest.raises(ValueError, match="no digit found"):
        preprocess(np.zeros((50, 50)))


def test_oversized_upload_is_refused_with_a_size_message():
    with pytest.raises(ValueError, match="at most 1 MB"):
        read_upload(b"\x89PNG" + b"0" * MAX_UPLOAD_BYTES)


@pytest.mark.parametrize("data", [b"hello, not an image", b"%PDF-1.4 fake", b""])
def test_non_images_are_refused(data):
    with pytest.raises(ValueError, match="PNG or JPEG"):
        read_upload(data)


def test_images_of_other_formats_are_refused():
    buffer = io.BytesIO()
    Image.new("L", (28, 28)).save(buffer, format="GIF")
    with pytest.raises(ValueError, match="GIF image; upload a PNG or JPEG"):
        read_upload(buffer.getvalue())


def test_transparent_png_counts_as_white_paper():
    rgba = np.zeros((40, 40, 4), dtype=np.uint8)  # fully transparent...
    rgba[5:35, 18:22] = (0, 0, 0, 255)  # ...with an opaque black stroke
    grey = read_upload(_png(rgba))
    assert grey[0, 0] == 1.0 and grey[20, 20] == 0.0
    assert preprocess(grey).max() > 0.9


def test_jpeg_is_accepted():
    buffer = io.BytesIO()
    Image.fromarray(np.full((30, 30), 255, dtype=np.uint8)).save(buffer, format="JPEG")
    assert read_upload(buffer.getvalue()).shape == (30, 30)
