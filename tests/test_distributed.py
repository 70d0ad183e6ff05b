"""Grouped convolution as two devices' work, and DDP's averaged gradients."""

import pytest
import torch

from dlparts.distributed import (
    ddp_gradients,
    single_process_gradients,
    split_grouped_conv,
    two_device_grouped_conv,
)
from dlparts.models import mini_alexnet


def test_grouped_conv_equals_two_half_convolutions():
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(8, 6, 3, padding=1, groups=2)
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(two_device_grouped_conv(conv, x), conv(x), atol=1e-6)
    a, b = split_grouped_conv(conv)
    assert torch.allclose(a(x[:, :4]), conv(x)[:, :3], atol=1e-6)
    assert torch.allclose(b(x[:, 4:]), conv(x)[:, 3:], atol=1e-6)


def test_grouped_conv_bad_inputs():
    with pytest.raises(ValueError):
        two_device_grouped_conv(torch.nn.Conv2d(4, 4, 3), torch.zeros(1, 4, 5, 5))
    with pytest.raises(ValueError):
        two_device_grouped_conv(torch.nn.Conv2d(4, 4, 3, groups=2), torch.zeros(1, 3, 5, 5))


def test_ddp_averaged_gradients_equal_one_process_on_the_whole_batch():
    torch.manual_seed(0)
    model = mini_alexnet(dropout=0.0, width=4, hidden=16)
    x, y = torch.rand(8, 1, 28, 28), torch.randint(0, 10, (8,))
    ref = single_process_gradients(model, x, y)
    before = model.classifier.fc8.weight.detach().clone()
    results = ddp_gradients(model, x, y, world_size=2, steps=2, lr=0.1)
    assert len(results) == 2
    for r in results:
        assert r["n_local"] == 4
        assert set(r["grads"]) == set(ref)
        for name, g in ref.items():
            assert torch.allclose(r["grads"][name], g, atol=1e-6), name
    # after the steps, both replicas hold the same parameters (exactly)
    for name, p in results[0]["params"].items():
        assert torch.equal(p, results[1]["params"][name]), name
    # and they differ from the starting point: the steps did happen
    # (the caller's model is untouched: each process trained its own copy)
    start = dict(model.named_parameters())
    assert torch.equal(start["classifier.fc8.weight"], before)
    assert not torch.allclose(
        results[0]["params"]["classifier.fc8.weight"], start["classifier.fc8.weight"]
    )


def test_ddp_rejects_uneven_batch():
    with pytest.raises(ValueError):
        ddp_gradients(
            mini_alexnet(dropout=0.0), torch.zeros(3, 1, 28, 28), torch.zeros(3, dtype=torch.long)
        )
