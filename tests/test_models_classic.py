"""The classic networks: parameter counts against the published ones, output shapes, Inception."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts import models


def n_params(m):
    return sum(p.numel() for p in m.parameters())


def meta(build, *args, **kwargs):
    """Build a big model on the meta device: shapes and counts without memory or compute."""
    with torch.device("meta"):
        return build(*args, **kwargs)


def test_lenet5_params_and_shape():
    m = models.lenet5()
    assert n_params(m) == 61_706
    assert m(torch.zeros(2, 1, 32, 32)).shape == (2, 10)


def test_vgg16_parameter_count_is_torchvision_s():
    # torchvision.models.vgg16: 138,357,544 parameters (its published model table).
    assert n_params(meta(models.vgg16)) == 138_357_544
    assert n_params(meta(models.vgg16, num_classes=10)) == 138_357_544 - 4097 * 990


def test_vgg16_output_shape_and_conv_count():
    m = meta(models.vgg16, num_classes=7)
    convs = [x for x in m.modules() if isinstance(x, torch.nn.Conv2d)]
    linears = [x for x in m.modules() if isinstance(x, torch.nn.Linear)]
    assert len(convs) == 13 and len(linears) == 3
    assert all(c.kernel_size == (3, 3) and c.padding == (1, 1) for c in convs)
    with torch.no_grad():
        assert m.eval()(torch.zeros(1, 3, 224, 224, device="meta")).shape == (1, 7)


def test_vgg_rejects_unknown_config():
    with pytest.raises(ValueError, match="VGG-16"):
        models.VGG("Z")


def test_zfnet_shapes_and_counts():
    m = meta(models.zfnet)
    feats = m.features(torch.zeros(1, 3, 224, 224, device="meta"))
    assert feats.shape == (1, 512, 6, 6)
    x = torch.zeros(1, 3, 224, 224, device="meta")
    sizes = []
    for layer in m.features:
        x = layer(x)
        if isinstance(layer, (torch.nn.Conv2d, torch.nn.MaxPool2d)):
            sizes.append(x.shape[-1])
    # the paper's Figure 3: 110, 55, 26, 13, 13, 13, 13, 6
    assert sizes == [110, 55, 26, 13, 13, 13, 13, 6]
    paper = meta(models.zfnet, conv345=(384, 384, 256))
    # same conv3-5 and classifier as the single-tower AlexNet; only conv1/conv2 differ
    alex = meta(models.alexnet, variant="single")
    diff = (11 * 11 - 7 * 7) * 3 * 96
    assert n_params(alex) - n_params(paper) == diff
    with pytest.raises(ValueError, match="224"):
        m(torch.zeros(1, 3, 227, 227, device="meta"))


def test_inception_block_channels_and_params():
    b = models.inception_block(192, 64, 96, 128, 16, 32, 32)  # GoogLeNet's 3a
    y = b(torch.zeros(2, 192, 28, 28))
    assert y.shape == (2, 256, 28, 28)
    s = models.inception_savings(192, 64, 96, 128, 16, 32, 32, size=28)
    assert s["params_reduced"] == n_params(b)
    naive = models.NaiveInceptionBlock(192, 64, 128, 32)
    assert s["params_naive"] == n_params(naive)
    assert naive(torch.zeros(1, 192, 28, 28)).shape == (1, 416, 28, 28)
    assert s["macs_reduced"] < s["macs_naive"]


@settings(max_examples=20, deadline=None)
@given(
    cin=st.integers(1, 8),
    ch=st.lists(st.integers(1, 6), min_size=6, max_size=6),
    h=st.integers(1, 9),
)
def test_inception_output_channels_any_shape(cin, ch, h):
    b = models.inception_block(cin, *ch)
    y = b(torch.zeros(1, cin, h, h + 1))
    assert y.shape == (1, ch[0] + ch[2] + ch[4] + ch[5], h, h + 1)


@pytest.mark.parametrize("bad", [0, -3, 2.5, "8"])
def test_inception_rejects_bad_channels(bad):
    with pytest.raises(ValueError, match="positive int"):
        models.inception_block(16, bad, 4, 4, 4, 4, 4)


def test_inception_rejects_wrong_input_channels():
    with pytest.raises(ValueError, match="16"):
        models.inception_block(16, 4, 4, 4, 4, 4, 4)(torch.zeros(1, 8, 5, 5))


def test_googlenet_torchvision_count_betrays_3x3_branch():
    # torchvision.models.googlenet: 6,624,904 parameters (13,004,888 with the auxiliary heads).
    assert n_params(meta(models.googlenet, kernel5=3, batch_norm=True)) == 6_624_904
    tv_aux = meta(models.googlenet, kernel5=3, batch_norm=True, aux_logits=True)
    assert n_params(tv_aux) == 13_004_888
    # with the paper's 5x5 kernels the count is larger by 16 * sum(c5_reduce * c5) weights
    extra = 16 * sum(v[4] * v[5] for v in models.GOOGLENET_INCEPTIONS.values())
    assert n_params(meta(models.googlenet, kernel5=5, batch_norm=True)) == 6_624_904 + extra


def test_googlenet_output_and_aux():
    m = meta(models.googlenet, num_classes=5, aux_logits=True)
    x = torch.zeros(2, 3, 224, 224, device="meta")
    out = m.train()(x)
    assert isinstance(out, tuple) and [o.shape for o in out] == [(2, 5)] * 3
    with torch.no_grad():
        assert m.eval()(x).shape == (2, 5)
