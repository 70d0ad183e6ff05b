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


# --- pre-activation blocks and zero-γ --------------------------------------------------------


@pytest.mark.parametrize(
    "cin,c,stride,shortcut", [(8, 8, 1, "A"), (8, 16, 2, "A"), (8, 16, 2, "B")]
)
def test_preact_block_shapes(cin, c, stride, shortcut):
    blk = models.PreActBlock(cin, c, stride, shortcut)
    assert blk(torch.randn(2, cin, 9, 9)).shape == (2, c, -(-9 // stride), -(-9 // stride))


def test_preact_block_matches_its_formula():
    blk = models.PreActBlock(4, 4).eval()
    with torch.no_grad():
        for bn in (blk.bn1, blk.bn2):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
    x = torch.randn(3, 4, 6, 6)
    ref = x + blk.conv2(torch.relu(blk.bn2(blk.conv1(torch.relu(blk.bn1(x))))))
    assert torch.allclose(blk(x), ref)
    assert (blk(x) < 0).any()  # nothing rectifies the sum


@pytest.mark.parametrize("depth", [8, 20, 56])
@pytest.mark.parametrize("width", [4, 16])
def test_preact_network_has_the_original_parameter_count(depth, width):
    orig = models.resnet_cifar(depth, width=width)
    pre = models.resnet_cifar(depth, width=width, block="preact")
    assert n_params(pre) == n_params(orig)
    assert n_params(models.PreActBlock(16, 16)) == n_params(models.BasicBlock(16, 16))


@pytest.mark.parametrize("block", ["basic", "preact"])
def test_zero_gamma_blocks_start_as_the_identity(block):
    net = models.resnet_cifar(20, in_channels=1, width=4, block=block, zero_init_residual=True)
    h = torch.relu(torch.randn(5, 4, 10, 10))
    for blk in net.stage1:
        assert torch.equal(blk(h), h)
    # a block that changes the shape starts as its option A shortcut: subsample and zero-pad
    first = net.stage2[0]
    assert torch.equal(first(h), models.PadShortcut(8, 2)(h))
    assert net(torch.randn(2, 1, 14, 14)).shape == (2, 10)


def test_gamma_one_blocks_are_not_the_identity_and_zero_init_spares_plain_blocks():
    net = models.resnet_cifar(14, in_channels=1, width=4)
    h = torch.relu(torch.randn(5, 4, 10, 10))
    assert not torch.allclose(net.stage1[0](h), h)
    plain = models.zero_init_residual(models.plain_cifar(14, in_channels=1, width=4))
    assert all(float(b.bn2.weight.detach().abs().sum()) > 0 for b in plain.stage1)
    res = models.zero_init_residual(models.resnet50(10))
    assert float(res.layer1[0].bn3.weight.detach().abs().sum()) == 0
    assert float(res.layer1[0].bn2.weight.detach().abs().sum()) > 0


def test_bad_block_raises():
    with pytest.raises(ValueError, match="block"):
        models.resnet_cifar(20, block="dense")
    with pytest.raises(ValueError, match="shortcut"):
        models.PreActBlock(4, 4, shortcut="D")
