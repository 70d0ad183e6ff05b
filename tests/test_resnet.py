"""ResNets: parameter counts against torchvision's and the paper's, shortcuts, shapes, bad depths."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts import models


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "build, expected",
    # torchvision's published parameter counts
    [(models.resnet18, 11_689_512), (models.resnet34, 21_797_672), (models.resnet50, 25_557_032)],
)
def test_imagenet_resnets_match_torchvision(build, expected):
    with torch.device("meta"):
        m = build()
    assert n_params(m) == expected


def test_imagenet_resnet_output_shape():
    with torch.device("meta"):
        m = models.resnet50(num_classes=7)
        y = m(torch.zeros(2, 3, 224, 224))
    assert y.shape == (2, 7)


def test_resnet20_parameter_count():
    assert n_params(models.resnet_cifar(20)) == 269_722


@pytest.mark.parametrize(
    "depth, millions", [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_cifar_counts_match_paper_table6(depth, millions):
    assert round(n_params(models.resnet_cifar(depth)) / 1e6, 2 if depth < 110 else 1) == millions


@pytest.mark.parametrize("depth", [20, 32])
def test_plain_has_same_parameters_as_option_a(depth):
    assert n_params(models.plain_cifar(depth)) == n_params(models.resnet_cifar(depth))


def test_option_a_shortcuts_have_no_parameters_and_b_does():
    a = models.resnet_cifar(20, shortcut="A")
    b = models.resnet_cifar(20, shortcut="B")
    blocks_a = [m for m in a.modules() if isinstance(m, models.BasicBlock)]
    assert len(blocks_a) == 9
    assert sum(isinstance(blk.shortcut, models.PadShortcut) for blk in blocks_a) == 2
    assert all(n_params(blk.shortcut) == 0 for blk in blocks_a)
    blocks_b = [m for m in b.modules() if isinstance(m, models.BasicBlock)]
    shortcut_b = sum(n_params(blk.shortcut) for blk in blocks_b)
    # two projections: 16->32 and 32->64 (1x1 conv + BN weight and bias)
    assert shortcut_b == (16 * 32 + 2 * 32) + (32 * 64 + 2 * 64)
    assert n_params(b) - n_params(a) == shortcut_b


def test_pad_shortcut_is_subsampled_identity():
    x = torch.randn(2, 3, 6, 6)
    y = models.PadShortcut(5, stride=2)(x)
    assert y.shape == (2, 5, 3, 3)
    assert torch.equal(y[:, :3], x[:, :, ::2, ::2])
    assert torch.count_nonzero(y[:, 3:]) == 0


def test_identity_block_adds_its_input():
    torch.manual_seed(0)
    blk = models.BasicBlock(4, 4, shortcut="A").eval()
    for p in (blk.bn2.weight, blk.bn2.bias):
        torch.nn.init.zeros_(p)  # F(x) = 0, so the block is relu(x)
    x = torch.randn(3, 4, 5, 5)
    assert torch.allclose(blk(x), torch.relu(x))
    plain = models.BasicBlock(4, 4, shortcut="none").eval()
    plain.load_state_dict(blk.state_dict())
    assert torch.count_nonzero(plain(x)) == 0


def test_bottleneck_shapes():
    blk = models.Bottleneck(64, 64, stride=2)
    assert blk(torch.zeros(1, 64, 8, 8)).shape == (1, 256, 4, 4)


@settings(max_examples=6, deadline=None)
@given(n=st.integers(1, 2), width=st.integers(1, 3), hw=st.integers(4, 10), cin=st.integers(1, 3))
def test_cifar_output_shape(n, width, hw, cin):
    m = models.resnet_cifar(6 * n + 2, num_classes=3, in_channels=cin, width=width)
    assert m(torch.zeros(2, cin, hw, hw)).shape == (2, 3)
    p = models.plain_cifar(6 * n + 2, num_classes=3, in_channels=cin, width=width)
    assert p(torch.zeros(2, cin, hw, hw)).shape == (2, 3)


@settings(max_examples=30, deadline=None)
@given(depth=st.integers(-5, 120).filter(lambda d: d < 8 or (d - 2) % 6))
def test_bad_depth_raises(depth):
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        models.resnet_cifar(depth)
    with pytest.raises(ValueError, match=r"6n \+ 2"):
        models.plain_cifar(depth)


def test_bad_shortcut_and_input():
    with pytest.raises(ValueError, match="shortcut"):
        models.resnet_cifar(20, shortcut="D")
    with pytest.raises(ValueError, match="in_channels"):
        models.resnet_cifar(8)(torch.zeros(1, 1, 8, 8))


def test_residual_gradients_stay_balanced_across_depth():
    # at initialization a deep plain net with BN has first-layer gradients far larger (or smaller)
    # than last-layer ones; the identity shortcuts keep them within the same order of magnitude
    torch.manual_seed(0)
    x = torch.randn(8, 3, 8, 8)
    y = torch.randint(0, 10, (8,))
    norms = {}
    for kind, build in (("plain", models.plain_cifar), ("res", models.resnet_cifar)):
        torch.manual_seed(1)
        m = build(32, width=2)
        torch.nn.functional.cross_entropy(m(x), y).backward()
        g_first = m.stem[0].weight.grad.norm()
        g_last = m.fc.weight.grad.norm()
        norms[kind] = float(g_first / g_last)
    assert abs(math.log(norms["res"])) < 1 < abs(math.log(norms["plain"]))
