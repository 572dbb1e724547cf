"""The training loop's speed settings stay inside train(): thread count restored, ordinary model returned."""

import torch

from aecore.config import RunConfig
from aecore.train import train


def test_train_restores_the_thread_count_and_returns_a_contiguous_conv_model(tiny_dataset):
    torch.set_num_threads(2)  # the autouse fixture restores the suite's setting afterwards
    config = RunConfig(model="conv", bottleneck=2, epochs=1, batch_size=64, train_limit=100)
    result = train(config, tiny_dataset, device="cpu")
    assert torch.get_num_threads() == 2, "train() leaked its thread setting to the caller"
    weights = [p for p in result.model.parameters() if p.dim() == 4]
    assert weights and all(p.is_contiguous() for p in weights), "conv weights left in channels_last"
    x = tiny_dataset.test.images[:8]
    assert result.model(x).is_contiguous()
