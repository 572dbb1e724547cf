"""Digit images in the latent maps' hover labels: a sprite sheet of the test set, served as a static file, and a
small browser-side component that draws the hovered digit's tile beside plotly's label.

Plotly's hover labels take text only and Streamlit sends no hover events to Python, so the image has to be drawn
in the browser. The sheet (every test image, 32 × 32, `SPRITE_COLUMNS` to a row: ~1.7 MB for MNIST's 10,000) is
written once per dataset copy under `static/sprites/` and fetched once per page load: sending it with the page
would resend it on every rerun. The component listens to `plotly_hover` on the maps it is told about, reads the
test index from the point's customdata[0], and cuts that tile from the sheet onto a canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import streamlit as st

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"  # served at app/static/ (server.enableStaticServing)
SPRITES = "sprites"
SPRITE_COLUMNS = 100
TILE_SCALE = 4  # a 32 × 32 test image drawn 128 px wide
ELEMENT_ID = "aecore-hover-tile"  # the one floating canvas, tests find it by this id

_JS = """
const sheets = new Map();  // sprite URL -> Image: fetched once per page load, kept across reruns

function sheet(url) {
  if (!sheets.has(url)) {
    const image = new Image();
    image.src = url;
    sheets.set(url, image);
  }
  return sheets.get(url);
}

function floatingCanvas(id, side) {
  let canvas = document.getElementById(id);
  if (!canvas) {
    canvas = document.createElement('canvas');
    canvas.id = id;
    canvas.setAttribute('role', 'img');
    Object.assign(canvas.style, {position: 'fixed', display: 'none', zIndex: 1000, pointerEvents: 'none',
      border: '1px solid #8C8C8C', borderRadius: '4px', boxShadow: '0 2px 6px rgba(0, 0, 0, 0.25)'});
    document.body.appendChild(canvas);
  }
  canvas.width = canvas.height = side;
  return canvas;
}

export default function (component) {
  const { sprite, tile, columns, scale, maps, element } = component.data;
  const image = sheet(sprite);
  const side = tile * scale;
  const canvas = floatingCanvas(element, side);
  const context = canvas.getContext('2d');
  const bound = new Map();  // graph div -> its listeners

  let hovered = null;  // the hover event of the digit under the cursor, if any

  function hide() {
    hovered = null;
    canvas.style.display = 'none';
    delete canvas.dataset.index;
  }

  function show(gd, event) {
    const point = event.points && event.points[0];
    const data = point && point.customdata;
    const index = Math.round(data !== null && typeof data === 'object' ? data[0] : data);  // a row: {0: i, ...}
    if (!Number.isFinite(index) || index < 0) return hide();
    hovered = event;
    if (!image.complete || !image.naturalWidth) {  // the sheet is on its way: draw this digit if it is still hovered
      canvas.style.display = 'none';
      image.addEventListener('load', () => hovered === event && show(gd, event), {once: true});
      return;
    }
    context.imageSmoothingEnabled = false;
    context.drawImage(image, (index % columns) * tile, Math.floor(index / columns) * tile, tile, tile,
                      0, 0, side, side);
    // Under plotly's label (drawn before the event fires), or above it when the window ends first.
    const label = gd.querySelector('.hoverlayer .hovertext');
    const anchor = label ? label.getBoundingClientRect() : {left: event.event.clientX + 12,
      right: event.event.clientX + 12, top: event.event.clientY, bottom: event.event.clientY + 12};
    const top = anchor.bottom + 6 + side <= window.innerHeight ? anchor.bottom + 6 : anchor.top - 6 - side;
    const left = Math.max(4, Math.min(anchor.left, window.innerWidth - side - 4));
    Object.assign(canvas.style, {left: left + 'px', top: Math.max(4, top) + 'px', display: 'block'});
    canvas.dataset.index = String(index);
  }

  function bind() {
    for (const gd of document.querySelectorAll(maps)) {
      if (bound.has(gd) || typeof gd.on !== 'function') continue;
      const listeners = {plotly_hover: (event) => show(gd, event), plotly_unhover: hide, plotly_relayout: hide};
      for (const [name, listener] of Object.entries(listeners)) gd.on(name, listener);
      bound.set(gd, listeners);
    }
  }

  // The maps mount after this element and are replaced when their page redraws: bind each one as it appears.
  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; bind(); });
  });
  observer.observe(document.body, {childList: true, subtree: true});
  bind();
  return () => {
    observer.disconnect();
    for (const [gd, listeners] of bound) {
      for (const [name, listener] of Object.entries(listeners)) gd.removeListener(name, listener);
    }
    hide();
  };
}
"""

_component = st.components.v2.component("aecore_hover_tiles", js=_JS)


def sprite_path(dataset_name: str, fingerprint: str) -> Path:
    return STATIC_DIR / SPRITES / f"{dataset_name}-{fingerprint}.png"


def sprite_url(path: Path) -> str:
    """The URL the browser fetches `path` from, relative to the page (so a --server.baseUrlPath is kept)."""
    return f"app/static/{path.relative_to(STATIC_DIR).as_posix()}"


def write_sprite(images: np.ndarray, path: Path) -> None:
    """The sprite sheet of `images` ((n, 32, 32) in [0, 1]) as a PNG at `path`, written atomically."""
    from aecore.safe_io import write_atomic
    from ui.figures import png_bytes
    from ui.latent_figures import sprite_sheet

    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, png_bytes(sprite_sheet(images, SPRITE_COLUMNS)))


def show_on_hover(url: str, maps_selector: str, tile: int = 32) -> None:
    """Mount the component: on the maps `maps_selector` finds, hovering a digit shows its image from sheet `url`."""
    _component(
        key="latent_hover_tiles",
        data={
            "sprite": url,
            "tile": tile,
            "columns": SPRITE_COLUMNS,
            "scale": TILE_SCALE,
            "maps": maps_selector,
            "element": ELEMENT_ID,
        },
        height=0,
    )
