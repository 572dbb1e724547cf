"""The training loop's speed settings stay inside train(): thread count restored, ordinary model returned."""

import pytest
import torch

from aecore.architectures import ARCHITECTURES
from aecore.train import train
from tests.runs import tiny_config


@pytest.mark.parametrize("spec", ARCHITECTURES, ids=lambda spec: spec.name)
def test_train_restores_the_thread_count_and_returns_a_contiguous_model(tiny_dataset, spec):
    torch.set_num_threads(2)  # the autouse fixture restores the suite's setting afterwards
    result = train(tiny_config(spec.name), tiny_dataset, device="cpu")
    assert torch.get_num_threads() == 2, "train() leaked its thread setting to the caller"
    weights = [p for p in result.model.parameters() if p.dim() == 4]
    assert weights or not result.model.prefers_channels_last
    assert all(p.is_contiguous() for p in weights), "conv weights left in channels_last"
    x = tiny_dataset.test.images[:8]
    assert result.model(x).is_contiguous()
