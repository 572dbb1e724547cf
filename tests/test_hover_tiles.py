"""The latent maps' hover images: the test set's sprite sheet (ui.latent_figures.sprite_sheet, ui.hover_tiles) and
the cache that writes it once per dataset copy."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from ui import cache, hover_tiles
from ui.latent_figures import sprite_sheet

RNG = np.random.default_rng(0)


def tile(sheet: np.ndarray, index: int, columns: int, side: int = 32) -> np.ndarray:
    """What the browser cuts out of the sheet for test index `index` (the component's arithmetic)."""
    row, column = divmod(index, columns)
    return sheet[row * side : (row + 1) * side, column * side : (column + 1) * side]


@pytest.mark.parametrize("n", [1, 7, 10, 23])
def test_every_image_is_on_the_sheet_at_its_own_tile(n):
    images = RNG.random((n, 32, 32)).astype(np.float32)
    columns = 5
    sheet = sprite_sheet(images, columns)
    assert sheet.dtype == np.uint8
    assert sheet.shape == (-(-n // columns) * 32, columns * 32)
    for index in range(n):
        np.testing.assert_array_equal(tile(sheet, index, columns), np.round(images[index] * 255).astype(np.uint8))
    for index in range(n, sheet.shape[0] // 32 * columns):  # the last row's padding is black
        assert not tile(sheet, index, columns).any()


def test_the_sheet_is_written_as_a_png_a_browser_can_cut_tiles_from(tmp_path):
    images = RNG.random((12, 32, 32)).astype(np.float32)
    path = tmp_path / "sprites" / "tiny-abc.png"
    hover_tiles.write_sprite(images, path)
    sheet = np.asarray(Image.open(io.BytesIO(path.read_bytes())))
    assert sheet.shape == (32, hover_tiles.SPRITE_COLUMNS * 32)
    np.testing.assert_array_equal(tile(sheet, 11, hover_tiles.SPRITE_COLUMNS), np.round(images[11] * 255))


def test_the_url_is_relative_to_the_page_under_app_static():
    path = hover_tiles.sprite_path("mnist", "1234abcd")
    assert path.is_relative_to(hover_tiles.STATIC_DIR)
    assert hover_tiles.sprite_url(path) == "app/static/sprites/mnist-1234abcd.png"


def test_the_cache_writes_the_test_sets_sheet_once_and_names_it_by_its_fingerprint(tmp_path, monkeypatch):
    monkeypatch.setattr(hover_tiles, "STATIC_DIR", tmp_path)
    monkeypatch.delenv("AECORE_DATA", raising=False)
    cache._hover_sprite.clear()
    data = cache.dataset("mnist-sample")
    url = cache.hover_sprite("mnist-sample")
    assert url == f"app/static/sprites/mnist-sample-{data.fingerprint}.png"
    sheet = np.asarray(Image.open(tmp_path / "sprites" / f"mnist-sample-{data.fingerprint}.png"))
    images = data.test.images[:, 0].numpy()
    for index in (0, 4321, len(images) - 1):
        np.testing.assert_array_equal(tile(sheet, index, hover_tiles.SPRITE_COLUMNS),
                                      np.round(images[index] * 255).astype(np.uint8))  # fmt: skip
    cache._hover_sprite.clear()


def test_a_sheet_that_cannot_be_written_leaves_the_hover_text_only(tmp_path, monkeypatch):
    def refuse(images, path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(hover_tiles, "STATIC_DIR", tmp_path)
    monkeypatch.setattr(hover_tiles, "write_sprite", refuse)
    monkeypatch.delenv("AECORE_DATA", raising=False)
    cache._hover_sprite.clear()
    assert cache.hover_sprite("mnist-sample") is None
    cache._hover_sprite.clear()
