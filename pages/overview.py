"""Overview: what the tool compares, the two selected runs side by side, and a small gallery."""

import plotly.graph_objects as go
import streamlit as st

import app_state

st.title("MLP vs convolutional autoencoder on MNIST")
st.markdown(
    "Two autoencoders from the seed text squeeze each 32×32 digit through a small code and rebuild it. "
    "This dashboard compares how well they rebuild **held-out test digits**, against a PCA baseline that "
    "keeps as many dimensions as each model's code. Lower mean squared error (MSE) is better."
)

runs = app_state.selected_runs()
if not runs:
    st.stop()

columns = st.columns(len(runs))
for column, (model, info) in zip(columns, runs.items(), strict=True):
    with column:
        config = info.config
        st.markdown(app_state.model_heading(model, f" · `{info.run_id}`"), unsafe_allow_html=True)
        top = st.columns(3)
        top[0].metric("Latent dims", f"{info.latent_dim:,}",
                      help="MLP: bottleneck width; conv: code channels × 4 × 4")
        top[1].metric("Parameters", f"{info.parameters:,}")
        top[2].metric("Recipe", config.recipe, help=f"{config.epochs} epochs, batch {config.batch_size}, "
                      f"learning rate {config.learning_rate:g}, seed {config.seed}")
        bottom = st.columns(3)
        bottom[0].metric("Test MSE", f"{info.test_mse:.5f}")
        bottom[1].metric(f"PCA, {info.latent_dim} dims", f"{info.pca_mse:.5f}",
                         help="PCA fit on the same training images, keeping as many components as the latent dims")
        bottom[2].metric("vs PCA", f"{info.test_mse / info.pca_mse:.2f}×",
                         help="model MSE ÷ PCA MSE: below 1 means the autoencoder beats PCA")
        with st.expander("Architecture"):
            st.code(app_state.architecture(str(info.path), info.weights_sha256), language=None)
        st.caption(f"Best epoch {info.best_epoch} of {len(info.history)} · trained {info.train_seconds:,.0f} s · "
                   f"created {info.created}")

chart, gallery = st.columns([2, 3])
with chart:
    fig = go.Figure()
    names = [app_state.MODEL_TITLES[m] for m in runs]
    fig.add_bar(x=names, y=[r.test_mse for r in runs.values()], name="autoencoder",
                marker_color=[app_state.MODEL_COLOURS[m] for m in runs])
    fig.add_bar(x=names, y=[r.pca_mse for r in runs.values()], name="PCA at the same dims",
                marker_color=app_state.PCA_COLOUR)
    fig.update_layout(barmode="group", height=320, yaxis_title="test MSE", margin={"t": 30, "b": 10},
                      title="Test MSE, lower is better", legend={"orientation": "h", "y": -0.15})
    st.plotly_chart(fig, key="overview_mse_chart", width="stretch")

with gallery:
    first = next(iter(runs.values()))
    dataset_name = first.config.dataset
    indices = tuple(int(i) for d in range(10) for i in app_state.test_sample(dataset_name, d, 1, 0)[0])
    rows = [app_state.test_images(dataset_name, indices)]
    for info in runs.values():
        rows.append(app_state.reconstructions(str(info.path), info.weights_sha256, info.config.dataset, indices)[0])
    st.image(app_state.image_grid(rows), clamp=True, width="stretch")
    order = " · ".join(["originals", *[app_state.MODEL_TITLES[m] for m in runs]])
    st.caption(f"One test digit of each class, rows top to bottom: {order}. More on the Reconstructions page.")
