"""Training timeline: the probe digits as the runs in A and B rebuilt them after every epoch, beside the losses."""

import numpy as np
import streamlit as st

from aecore.compare import RunKey
from ui import cache, widgets
from ui.figures import Curve, ImageRow, image_rows_figure, loss_curves
from ui.theme import SLOT_COLOURS, TEXT_GREY

EPOCH, PLAYING = "timeline_epoch", "timeline_playing"

comparison = widgets.page_start(
    "Training timeline",
    "Watch the models learn. After every epoch of training, each run rebuilt the same **validation** digits "
    "(two of each class, chosen by position, never by error); move the slider or press play to see them sharpen, "
    "with the epoch marked on the loss curves.",
)

timelines = {s.name: cache.timeline(RunKey.of(s.run)) for s in comparison.slots}
missing = [s for s in comparison.slots if timelines[s.name] is None]
for s in missing:
    st.info(f"{s.name} · {widgets.escape(s.label)} was trained before timelines were recorded; retrain it to get one.",
            icon=":material/info:")
slots = [s for s in comparison.slots if timelines[s.name] is not None]
if not slots:
    st.stop()
last = max(len(timelines[s.name].frames) for s in slots)
st.session_state.setdefault(EPOCH, last)
st.session_state.setdefault(PLAYING, False)


def toggle_play() -> None:
    if not st.session_state[PLAYING] and st.session_state[EPOCH] >= last:
        st.session_state[EPOCH] = 1  # play from the start once the end was reached
    st.session_state[PLAYING] = not st.session_state[PLAYING]


@st.fragment(run_every=0.6 if st.session_state[PLAYING] else None)
def player() -> None:
    if st.session_state[PLAYING]:
        if st.session_state[EPOCH] >= last:
            st.session_state[PLAYING] = False
        else:
            st.session_state[EPOCH] += 1
    controls = st.columns([1, 6])
    controls[0].button("Pause" if st.session_state[PLAYING] else "Play", key="timeline_play", on_click=toggle_play,
                       icon=":material/pause:" if st.session_state[PLAYING] else ":material/play_arrow:")
    epoch = controls[1].slider("Epoch", 1, last, key=EPOCH)
    first = timelines[slots[0].name]
    originals = cache.probe_images(slots[0].run.config.dataset, tuple(int(p) for p in first.probe_positions))
    rows = [ImageRow("validation digit", originals, colour=TEXT_GREY)]
    for s in slots:
        frames = timelines[s.name].frames
        shown = min(epoch, len(frames))
        note = "" if shown == epoch else f" (ended at {shown})"
        rows.append(ImageRow(f"{s.name} · epoch {shown}{note}", frames[shown - 1] / 255.0, colour=SLOT_COLOURS[s.name]))
    st.markdown(f"**After epoch {epoch} of {last}**")
    st.plotly_chart(image_rows_figure(rows, tile_px=44, title_width=170), key="timeline_images", width="content",
                    config={"displayModeBar": False})
    curves = [
        Curve(f"{s.name} · {s.label}", SLOT_COLOURS[s.name], [e.epoch for e in s.run.history],
              [e.val_loss for e in s.run.history], [e.train_loss for e in s.run.history], s.run.best_epoch)
        for s in slots
    ]
    st.plotly_chart(loss_curves(curves, marker_epoch=epoch, height=360), key="timeline_curves", width="stretch")
    at = {s.name: s.run.history[min(epoch, len(s.run.history)) - 1].val_loss for s in slots}
    st.caption(" · ".join(f"{name}: validation MSE {value:.5f}" for name, value in at.items())
               + f" · probe digits: {', '.join(str(d) for d in np.unique(first.probe_labels))}, two of each")


player()
