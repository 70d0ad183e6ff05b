"""The normalization chapters' small networks: sigmoid_mlp and SmallConvNet."""

import pytest
import torch
from torch import nn

from dlparts.models import SmallConvNet, sigmoid_mlp


@pytest.mark.parametrize("bn", [False, True])
def test_sigmoid_mlp_layers_and_shapes(bn):
    net = sigmoid_mlp(bn=bn)
    x = torch.rand(7, 1, 28, 28)
    assert net(x).shape == (7, 10)
    hidden = [m for m in net if isinstance(m, nn.Linear) and m.out_features == 100]
    assert len(hidden) == 3
    assert all((m.bias is None) == bn for m in hidden)  # BN's beta replaces the bias
    assert sum(isinstance(m, nn.BatchNorm1d) for m in net) == (3 if bn else 0)
    assert abs(hidden[1].weight.std().item() / 0.1 - 1) < 0.05
    assert sigmoid_mlp(bn=bn, in_features=196, depth=2)(torch.rand(3, 196)).shape == (3, 10)


def test_sigmoid_mlp_bad_arguments():
    with pytest.raises(ValueError, match="depth must be a positive integer"):
        sigmoid_mlp(bn=True, depth=0)
    with pytest.raises(ValueError, match="init_std must be a positive number"):
        sigmoid_mlp(bn=True, init_std=0.0)


@pytest.mark.parametrize("place", SmallConvNet.PLACES)
@pytest.mark.parametrize("norm", SmallConvNet.NORMS)
def test_small_convnet_places_and_norms(place, norm):
    net = SmallConvNet(place, widths=(8, 16, 32), norm=norm, groups=4)
    assert net(torch.rand(2, 1, 28, 28)).shape == (2, 10)
    kind = nn.BatchNorm2d if norm == "batch" else nn.GroupNorm
    norms = [m for m in net.features if isinstance(m, kind)]
    assert len(norms) == (0 if place == "none" else 3)
    convs = [m for m in net.features if isinstance(m, nn.Conv2d)]
    assert all((c.bias is None) == (place == "before") for c in convs)
    if place != "none":
        i = list(net.features).index(norms[0])
        before = type(net.features[i - 1])
        assert before is (nn.Conv2d if place == "before" else nn.ReLU)
    if norm == "group" and place != "none":
        assert all(m.num_groups == 4 for m in norms)


def test_group_norm_net_predicts_each_image_alone():
    torch.manual_seed(0)
    net = SmallConvNet("before", widths=(8, 8, 8, 8), norm="group", groups=2).train()
    x = torch.rand(4, 1, 14, 14)
    y = x.clone()
    y[1:] = torch.rand(3, 1, 14, 14) * 5
    assert torch.allclose(net(x)[0], net(y)[0], atol=1e-6)  # training mode, yet per image
    bn = SmallConvNet("before", widths=(8, 8, 8, 8)).train()
    assert not torch.allclose(bn(x)[0], bn(y)[0], atol=1e-3)


def test_small_convnet_bad_arguments():
    with pytest.raises(ValueError, match="bn must be one of"):
        SmallConvNet("middle")
    with pytest.raises(ValueError, match="norm must be one of"):
        SmallConvNet("before", norm="layer")
    with pytest.raises(ValueError, match="not all divisible by 4"):
        SmallConvNet("before", widths=(6, 16), norm="group", groups=4)
    with pytest.raises(ValueError, match="groups must be a positive integer"):
        SmallConvNet("before", norm="group", groups=0)
