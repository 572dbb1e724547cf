"""Training curves: train and validation loss per epoch of the selected runs, other runs overlaid on request."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

import app_state

st.title("Training curves")
st.caption(
    "Loss is the mean squared error per pixel. Training loss is averaged over each epoch's batches; validation "
    "loss is measured after each epoch on the held-out validation images (never the test set). The weights kept "
    "are those of the epoch with the lowest validation loss (marked ★). The dashed grey line is PCA with as many "
    "components as the latent dims, fit on the same training images and scored on the same validation images."
)

runs = app_state.selected_runs()
registry = app_state.registry()
selected_ids = {info.run_id for info in runs.values()}
others = {r.run_id: r for r in registry.runs if r.run_id not in selected_ids}

controls = st.columns([1, 1, 4])
log_scale = controls[0].toggle("Log scale", value=True, key="training_log")
show_train = controls[1].toggle("Training loss", value=True, key="training_show_train")
overlay = controls[2].multiselect(
    "Overlay other runs", options=list(others), format_func=lambda run_id: app_state.run_label(others[run_id]),
    key="training_overlay", placeholder="none" if others else "no other runs in the registry",
)

fig = go.Figure()
curves = [(info, True) for info in runs.values()] + [(others[run_id], False) for run_id in overlay]
for info, is_selected in curves:
    colour = app_state.MODEL_COLOURS[info.config.model]
    name = app_state.MODEL_TITLES[info.config.model] if is_selected else info.run_id
    width, opacity = (2.5, 1.0) if is_selected else (1.2, 0.55)
    epochs = [e.epoch for e in info.history]
    fig.add_scatter(x=epochs, y=[e.val_loss for e in info.history], name=f"{name} validation", mode="lines",
                    line={"color": colour, "width": width}, opacity=opacity, legendgroup=info.run_id)
    if show_train:
        fig.add_scatter(x=epochs, y=[e.train_loss for e in info.history], name=f"{name} train", mode="lines",
                        line={"color": colour, "width": width, "dash": "dot"}, opacity=opacity,
                        legendgroup=info.run_id)
    best = info.history[info.best_epoch - 1] if 0 < info.best_epoch <= len(info.history) else None
    if best is not None:
        fig.add_scatter(x=[best.epoch], y=[best.val_loss], mode="markers", showlegend=False, opacity=opacity,
                        marker={"symbol": "star", "size": 12, "color": colour}, legendgroup=info.run_id,
                        hovertemplate=f"{name}: best epoch {best.epoch}<br>val loss {best.val_loss:.5f}<extra></extra>")
for dims in sorted({info.latent_dim for info, _ in curves}):
    datasets = {info.config.dataset for info, _ in curves if info.latent_dim == dims}
    for name in sorted(datasets):
        fig.add_hline(
            y=app_state.pca_validation_mse(name, dims), line={"color": app_state.PCA_COLOUR, "dash": "dash"},
            annotation_text=f"PCA-{dims} (validation)", annotation_position="top left",
        )  # fmt: skip
fig.update_layout(height=480, xaxis_title="epoch", yaxis_title="loss (MSE per pixel)",
                  yaxis_type="log" if log_scale else "linear", hovermode="x unified", margin={"t": 20},
                  legend={"orientation": "h", "y": -0.15})
st.plotly_chart(fig, key="training_curves")

st.subheader("Wall time")
rows = []
for info, _ in curves:
    seconds = sum(e.seconds for e in info.history)
    rows.append({
        "run": info.run_id,
        "model": app_state.MODEL_TITLES[info.config.model],
        "epochs": len(info.history),
        "training images": f"{info.config.train_limit:,}" if info.config.train_limit else "all",
        "wall time (s)": info.train_seconds,
        "s per epoch": seconds / len(info.history) if info.history else None,
        "best epoch": info.best_epoch,
        "best val loss": info.history[info.best_epoch - 1].val_loss if info.history else None,
        "test MSE": info.test_mse,
    })
st.dataframe(
    pd.DataFrame(rows), hide_index=True, key="training_wall_time",
    column_config={
        "wall time (s)": st.column_config.NumberColumn(format="%.1f"),
        "s per epoch": st.column_config.NumberColumn(format="%.2f"),
        "best val loss": st.column_config.NumberColumn(format="%.5f"),
        "test MSE": st.column_config.NumberColumn(format="%.5f"),
    },
)
st.caption("Wall time is training plus per-epoch validation, on the machine that trained the run "
           "(the shipped runs were trained on a different machine from yours).")
