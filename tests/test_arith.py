"""Convolution arithmetic against the lecture's worked examples and against PyTorch itself."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from torch import nn

from dlparts.arith import (
    conv_output_size,
    conv_params,
    layer_table,
    pool_output_size,
    receptive_field,
    same_padding,
    table_totals,
)

SETTINGS = settings(max_examples=50, deadline=None)


# ----------------------------------------------------------------------------- worked examples


def test_lecture_examples():
    assert conv_output_size(7, 3, stride=1) == 5
    assert conv_output_size(7, 3, stride=2) == 3
    assert conv_output_size(7, 3, stride=1, padding=1) == 7
    assert conv_output_size(32, 5, stride=1, padding=2) == 32
    assert conv_params(3, 1, 5) == 76
    assert conv_params(3, 10, 5) == 760
    assert conv_params(3, 32, 5) == 2432
    assert conv_output_size(55, 5, padding=same_padding(5)) == 55
    assert conv_output_size(227, 11, stride=4) == 55
    assert pool_output_size(55, 3, 2) == 27
    assert pool_output_size(224, 2) == 112


def test_stride_that_does_not_fit_shows_the_fraction():
    with pytest.raises(ValueError, match=r"2\.33"):
        conv_output_size(7, 3, stride=3)
    assert conv_output_size(7, 3, stride=3, exact=False) == 2


def test_stride_and_padding_do_not_change_parameters():
    counts = {
        sum(p.numel() for p in nn.Conv2d(3, 10, 5, stride=s, padding=p).parameters())
        for s in (1, 2, 3)
        for p in (0, 1, 2)
    }
    assert counts == {conv_params(3, 10, 5)}


# ----------------------------------------------------------------------------- against PyTorch


@SETTINGS
@given(
    n=st.integers(1, 40),
    k=st.integers(1, 7),
    s=st.integers(1, 5),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_conv_output_size_matches_pytorch(n, k, s, p, d):
    assume(d * (k - 1) + 1 <= n + 2 * p)
    got = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d)
    assert conv_output_size(n, k, s, p, d, exact=False) == got.shape[-1]
    span = n + 2 * p - d * (k - 1) - 1
    if span % s == 0:
        assert conv_output_size(n, k, s, p, d) == got.shape[-1]
    else:
        with pytest.raises(ValueError, match=f"{span / s + 1:.2f}"):
            conv_output_size(n, k, s, p, d)


@SETTINGS
@given(n=st.integers(1, 40), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3))
def test_pool_output_size_matches_pytorch(n, k, s, p):
    assume(k <= n + 2 * p and 2 * p <= k)
    got = F.max_pool1d(torch.zeros(1, 1, n), k, s, padding=p)
    assert pool_output_size(n, k, s, p, exact=False) == got.shape[-1]


def test_pool_stride_defaults_to_kernel():
    assert pool_output_size(8, 2) == 4
    with pytest.raises(ValueError, match="half"):
        pool_output_size(8, 2, padding=2)


@SETTINGS
@given(n=st.integers(1, 30), k=st.integers(1, 7), d=st.integers(1, 4))
def test_same_padding_keeps_size_or_refuses(n, k, d):
    extent = d * (k - 1) + 1
    if extent % 2 == 0:
        with pytest.raises(ValueError, match="even"):
            same_padding(k, d)
        return
    p = same_padding(k, d)
    assume(extent <= n + 2 * p)
    assert conv_output_size(n, k, 1, p, d) == n
    got = F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), padding="same", dilation=d)
    assert got.shape[-1] == n


@SETTINGS
@given(
    g=st.integers(1, 4),
    cin=st.integers(1, 4),
    cout=st.integers(1, 4),
    kh=st.integers(1, 5),
    kw=st.integers(1, 5),
    bias=st.booleans(),
)
def test_conv_params_matches_pytorch(g, cin, cout, kh, kw, bias):
    layer = nn.Conv2d(cin * g, cout * g, (kh, kw), groups=g, bias=bias)
    expected = sum(p.numel() for p in layer.parameters())
    assert conv_params(cin * g, cout * g, (kh, kw), bias=bias, groups=g) == expected
    if kh == kw:
        assert conv_params(cin * g, cout * g, kh, bias=bias, groups=g) == expected


# ----------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    "args",
    [
        dict(n=0, kernel=3),
        dict(n=7, kernel=0),
        dict(n=7, kernel=3, stride=0),
        dict(n=7, kernel=3, dilation=0),
        dict(n=7, kernel=3, padding=-1),
        dict(n=3, kernel=5),  # kernel larger than the input
        dict(n=5, kernel=3, dilation=3),  # dilated extent 7 > 5
        dict(n=7.0, kernel=3),
        dict(n=7, kernel=True),
    ],
)
def test_bad_conv_arguments_raise(args):
    with pytest.raises(ValueError):
        conv_output_size(**args)


def test_bad_params_arguments_raise():
    with pytest.raises(ValueError, match="divisible"):
        conv_params(3, 6, 3, groups=2)
    with pytest.raises(ValueError):
        conv_params(3, 6, (3, 3, 3))
    with pytest.raises(ValueError):
        conv_params(0, 6, 3)


# ----------------------------------------------------------------------------- layer tables


def _vgg16():
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c, v, 3, padding=1), nn.ReLU()]
            c = v
    return nn.Sequential(
        *layers,
        nn.Flatten(),
        nn.Linear(512 * 7 * 7, 4096),
        nn.ReLU(),
        nn.Linear(4096, 4096),
        nn.ReLU(),
        nn.Linear(4096, 1000),
    )


def test_layer_table_small_model():
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(8 * 4 * 4, 5),
    )
    model.train()
    rows = layer_table(model, (3, 8, 8))
    assert model.training
    assert [r["name"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert [r["output_shape"] for r in rows] == [(8, 8, 8), (8, 8, 8), (8, 4, 4), (128,), (5,)]
    assert [r["params"] for r in rows] == [224, 0, 0, 0, 645]
    assert [r["activations"] for r in rows] == [512, 512, 128, 128, 5]
    assert rows[0]["macs"] == 8 * 8 * 8 * 3 * 9
    assert rows[4]["macs"] == 5 * 128
    assert rows[1]["macs"] == 0


def test_layer_table_vgg16_totals():
    model = _vgg16()
    rows = layer_table(model, (3, 224, 224))
    totals = table_totals(rows)
    assert totals["params"] == 138_357_544 == sum(p.numel() for p in model.parameters())
    convs = [r for r in rows if r["type"] == "Conv2d"]
    assert len(convs) == 13 and convs[-1]["output_shape"] == (512, 14, 14)
    assert rows[-1]["output_shape"] == (1000,)


def test_layer_table_with_library_vgg16_if_present():
    from dlparts import models

    if not hasattr(models, "vgg16"):
        pytest.skip("dlparts.models.vgg16 not written yet")
    rows = layer_table(models.vgg16(), (3, 224, 224))
    assert table_totals(rows)["params"] == 138_357_544


def test_layer_table_bad_input_shape():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(ValueError, match="without the batch dimension"):
        layer_table(model, (1, 1, 3, 8, 8))
    with pytest.raises(ValueError):
        layer_table(model, (3, 0, 8))


# ----------------------------------------------------------------------------- receptive fields


def test_receptive_field_stacks():
    assert [r["rf"] for r in receptive_field([(3,), (3,), (3,)])] == [3, 5, 7]
    assert [r["rf"] for r in receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])] == [3, 7, 15]
    rows = receptive_field([("conv1", 11, 4), ("pool1", 3, 2), ("conv2", 5, 1, 1, 2)], 227)
    assert [r["rf"] for r in rows] == [11, 19, 51]
    assert [r["size"] for r in rows] == [55, 27, 27]
    assert rows[-1]["jump"] == 8


def test_receptive_field_of_module_matches_tuples():
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 4, 3, dilation=2)
    )
    a = receptive_field(model, 32)
    b = receptive_field([(3, 1, 1, 1), (2, 2), (3, 1, 2)], 32)
    assert [r["rf"] for r in a] == [r["rf"] for r in b] == [3, 4, 12]
    assert [r["size"] for r in a] == [r["size"] for r in b]
    # the measured output size agrees with PyTorch
    assert a[-1]["size"] == model(torch.zeros(1, 3, 32, 32)).shape[-1]


def test_receptive_field_matches_gradient_support():
    """The receptive field is exactly the set of inputs with a non-zero gradient."""
    model = nn.Sequential(nn.Conv2d(1, 1, 3), nn.AvgPool2d(2), nn.Conv2d(1, 1, 3, dilation=2))
    for p in model.parameters():
        nn.init.constant_(p, 1.0)
    x = torch.rand(1, 1, 40, 40, requires_grad=True)
    y = model(x)
    y[0, 0, 0, 0].backward()
    cols = (x.grad[0, 0].abs().sum(0) > 0).nonzero().flatten()
    assert int(cols.max() - cols.min() + 1) == receptive_field(model)[-1]["rf"]


def test_layer_table_counts_parameters_outside_the_layers():
    class WithToken(nn.Module):
        def __init__(self):
            super().__init__()
            self.token = nn.Parameter(torch.zeros(7))
            self.fc = nn.Linear(4, 3)
            self.unused = nn.Linear(2, 2)

        def forward(self, x):
            return self.fc(x) + self.token[:3]

    model = WithToken().double()
    rows = layer_table(model, (4,))
    assert rows[0]["name"] == "fc" and rows[0]["params"] == 15
    assert rows[-1]["params"] == 7 + 6
    assert table_totals(rows)["params"] == sum(p.numel() for p in model.parameters())


def test_count_params_counts_weights_and_biases_once():
    import pytest
    from torch import nn

    from dlparts.arith import count_params

    layer = nn.Conv2d(3, 10, 5)
    assert count_params(layer) == 10 * (3 * 5 * 5 + 1)
    shared = nn.Sequential(layer, nn.ReLU(), layer)
    assert count_params(shared) == 760
    layer.bias.requires_grad_(False)
    assert count_params(layer, trainable_only=True) == 750
    with pytest.raises(ValueError, match="torch.nn.Module"):
        count_params([1, 2])


# ----------------------------------------------------------------------------- transposed convolution


def test_conv_transpose_output_size_guide_cases():
    from dlparts.arith import conv_transpose_output_size as tsize

    # Dumoulin and Visin's transposed cases: the transpose recovers the convolution's input size
    assert tsize(2, 3) == 4  # no padding, unit strides: o' = i' + (k - 1)
    assert tsize(6, 4, padding=2) == 5  # zero padding, unit strides: o' = i' + (k - 1) - 2p
    assert tsize(5, 3, padding=1) == 5  # half padding: o' = i'
    assert tsize(7, 3, padding=2) == 5  # full padding: o' = i' - (k - 1)
    assert tsize(2, 3, stride=2) == 5  # no padding, strides: o' = s(i' - 1) + k
    assert tsize(3, 3, stride=2, padding=1) == 5  # padding and strides: s(i' - 1) + k - 2p
    assert tsize(3, 3, stride=2, padding=1, output_padding=1) == 6  # the odd case: + a
    assert tsize(3, 3, dilation=2) == 7


@SETTINGS
@given(
    n=st.integers(1, 12),
    k=st.integers(1, 5),
    s=st.integers(1, 4),
    p=st.integers(0, 4),
    op=st.integers(0, 3),
    d=st.integers(1, 3),
    m=st.integers(1, 12),
)
def test_conv_transpose_output_size_matches_pytorch(n, k, s, p, op, d, m):
    from dlparts.arith import conv_transpose_output_size as tsize

    legal_op = op < s or op < d
    size = (n - 1) * s - 2 * p + d * (k - 1) + op + 1
    if not legal_op or size < 1:
        with pytest.raises(ValueError, match="output_padding" if not legal_op else "crops"):
            tsize(n, k, s, p, op, d)
        return
    # a rectangular input and kernel: each axis follows the formula on its own
    layer = nn.ConvTranspose2d(
        1, 1, (k, 2), stride=(s, 1), padding=(p, 0), output_padding=(op, 0), dilation=(d, 1)
    )
    got = layer(torch.zeros(1, 1, n, m)).shape[-2:]
    assert tsize(n, k, s, p, op, d) == got[0]
    assert tsize(m, 2) == got[1] == m + 1


@SETTINGS
@given(
    n=st.integers(1, 30),
    k=st.integers(1, 6),
    s=st.integers(1, 4),
    p=st.integers(0, 3),
    d=st.integers(1, 3),
)
def test_conv_transpose_inverts_conv_output_size(n, k, s, p, d):
    """The transposed size with output_padding = the leftover of the floor gives n back."""
    from dlparts.arith import conv_transpose_output_size as tsize

    assume(d * (k - 1) + 1 <= n + 2 * p)
    o = conv_output_size(n, k, s, p, d, exact=False)
    a = (n + 2 * p - d * (k - 1) - 1) % s
    assert tsize(o, k, s, p, a, d) == n
    # and the gradient of the convolution with respect to its input is that transposed conv
    x = torch.randn(1, 1, n, requires_grad=True, dtype=torch.float64)
    w = torch.randn(1, 1, k, dtype=torch.float64)
    y = F.conv1d(x, w, stride=s, padding=p, dilation=d)
    g = torch.randn_like(y)
    (y * g).sum().backward()
    t = F.conv_transpose1d(g, w, stride=s, padding=p, output_padding=a, dilation=d)
    assert t.shape == x.shape
    assert torch.allclose(t, x.grad)


@pytest.mark.parametrize(
    "args, match",
    [
        (dict(n=3, kernel=3, stride=2, padding=1, output_padding=2), "smaller than the stride"),
        (dict(n=3, kernel=3, stride=1, output_padding=1), r"0\.\.0"),
        (dict(n=3, kernel=3, padding=3), "padding at most 2"),
        (dict(n=1, kernel=1, padding=1), "crops"),
        (dict(n=0, kernel=3), "positive integer"),
        (dict(n=3, kernel=3, stride=0), "stride"),
        (dict(n=3, kernel=3, output_padding=-1), "output_padding"),
        (dict(n=3.0, kernel=3), "integer"),
        (dict(n=3, kernel=3, dilation=True), "dilation"),
    ],
)
def test_conv_transpose_output_size_bad_input_says_what_to_do(args, match):
    from dlparts.arith import conv_transpose_output_size as tsize

    with pytest.raises(ValueError, match=match):
        tsize(**args)


# ----------------------------------------------------------------------------- multiply-adds


@SETTINGS
@given(
    g=st.integers(1, 4),
    cin=st.integers(1, 3),
    cout=st.integers(1, 3),
    k=st.integers(1, 4),
    s=st.integers(1, 3),
    n=st.integers(4, 12),
)
def test_conv_macs_matches_layer_table(g, cin, cout, k, s, n):
    from dlparts.arith import conv_macs

    layer = nn.Conv2d(cin * g, cout * g, (k, k + 1), stride=s, groups=g)
    row = layer_table(layer, (cin * g, n, n + 1))[0]
    size = row["output_shape"][1:]
    assert conv_macs(cin * g, cout * g, (k, k + 1), size, groups=g) == row["macs"]
    assert size == (
        conv_output_size(n, k, s, exact=False),
        conv_output_size(n + 1, k + 1, s, exact=False),
    )


def test_depthwise_separable_ratio_is_one_over_k_plus_one_over_f_squared():
    from fractions import Fraction

    from dlparts.arith import conv_macs

    for m, k, f, hw in [(512, 512, 3, 14), (32, 64, 3, 112), (64, 128, 5, 7)]:
        standard = conv_macs(m, k, f, hw)
        separable = conv_macs(m, m, f, hw, groups=m) + conv_macs(m, k, 1, hw)
        assert Fraction(separable, standard) == Fraction(1, k) + Fraction(1, f * f)
    # MobileNet's Table 3 layer: 14x14x512 -> 14x14x512 with 3x3 filters
    assert round(conv_macs(512, 512, 3, 14) / 1e6) == 462
    sep = conv_macs(512, 512, 3, 14, groups=512) + conv_macs(512, 512, 1, 14)
    assert round(sep / 1e5) == 523


def test_conv_macs_bad_input():
    from dlparts.arith import conv_macs

    with pytest.raises(ValueError, match="divisible"):
        conv_macs(6, 4, 3, 5, groups=4)
    with pytest.raises(ValueError, match="output_size"):
        conv_macs(6, 4, 3, 0)
    with pytest.raises(ValueError):
        conv_macs(6, 4, (3, 3, 3), 5)


def test_layer_table_counts_transposed_convolution_macs():
    """A transposed conv costs what the convolution it transposes costs, not s^2 times more."""
    from dlparts.arith import conv_macs

    up = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1, groups=2)
    row = layer_table(up, (6, 5, 5))[0]
    assert row["output_shape"] == (4, 10, 10)
    # the convolution 4 -> 6 channels, k=3, s=2, p=1 on 10x10 has a 5x5 output
    assert row["macs"] == conv_macs(4, 6, 3, 5, groups=2) == 5 * 5 * 6 * 2 * 9
    # and it is what the multiplications are: one per (input value, output channel of its group, tap)
    assert row["macs"] == 6 * 5 * 5 * (4 // 2) * 9


def test_leaf_modules_are_the_layers_in_order_with_their_names():
    from torch import nn

    from dlparts.arith import leaf_modules

    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.ReLU(), nn.Linear(2, 2)))
    names, leaves = leaf_modules(net)
    assert [type(m).__name__ for m in leaves] == ["Conv2d", "ReLU", "Linear"]
    assert [names[m] for m in leaves] == ["0", "1.0", "1.1"]
