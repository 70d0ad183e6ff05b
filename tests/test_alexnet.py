"""AlexNet's layouts: parameter counts, shapes, the two towers, and bad inputs."""

import pytest
import torch

from dlparts.models import AbsTanh, alexnet, four_layer_cnn, mini_alexnet


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize(
    "variant,count,size",
    [("paper", 60_965_224, 227), ("single", 62_378_344, 227), ("torchvision", 61_100_840, 224)],
)
def test_parameter_counts_and_output_shape(variant, count, size):
    m = alexnet(variant=variant)
    assert n_params(m) == count
    with torch.no_grad():
        assert m.eval()(torch.zeros(1, 3, size, size)).shape == (1, 1000)


def test_num_classes_changes_only_fc8():
    assert n_params(alexnet(10)) == 60_965_224 - 4096 * 990 - 990


def test_paper_towers_are_grouped_where_the_paper_says():
    groups = {n: m.groups for n, m in alexnet().features.named_children() if hasattr(m, "groups")}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2}
    lrn = [
        n
        for n, m in alexnet().features.named_children()
        if isinstance(m, torch.nn.LocalResponseNorm)
    ]
    assert lrn == ["norm1", "norm2"]
    norm = alexnet().features.norm1
    assert (norm.size, norm.alpha, norm.beta, norm.k) == (5, pytest.approx(5e-4), 0.75, 2.0)


def test_shape_flow_of_the_paper():
    m = alexnet().eval()
    x = torch.zeros(1, 3, 227, 227)
    sizes = {}
    for name, layer in m.features.named_children():
        x = layer(x)
        sizes[name] = tuple(x.shape[1:])
    assert sizes["conv1"] == (96, 55, 55)
    assert sizes["pool1"] == (96, 27, 27)
    assert sizes["pool2"] == (256, 13, 13)
    assert sizes["pool5"] == (256, 6, 6)


def test_unknown_variant_lists_known_ones():
    with pytest.raises(ValueError, match="paper"):
        alexnet(variant="resnet")


def test_wrong_input_size_is_a_clear_error():
    with pytest.raises(ValueError, match="227"):
        alexnet()(torch.zeros(1, 3, 224, 224))


@pytest.mark.parametrize("pool", ["overlap", "nonoverlap"])
@pytest.mark.parametrize("groups", [1, 2])
def test_mini_alexnet_shapes(pool, groups):
    m = mini_alexnet(pool=pool, groups=groups)
    assert m(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert m.flat_features == 32 * 3 * 3  # both pooling schemes give 28 -> 14 -> 7 -> 3


def test_mini_alexnet_bad_arguments():
    with pytest.raises(ValueError):
        mini_alexnet(pool="average")
    with pytest.raises(ValueError):
        mini_alexnet(groups=3)
    with pytest.raises(ValueError):
        mini_alexnet(activation="gelu")


@pytest.mark.parametrize("act", ["relu", "tanh", "sigmoid", "abstanh"])
def test_four_layer_cnn(act):
    m = four_layer_cnn(act)
    assert m(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    with pytest.raises(ValueError):
        four_layer_cnn("softplus")


def test_four_layer_cnn_takes_cifar_sized_input():
    import torch

    m = four_layer_cnn("relu", in_channels=3, input_size=32)
    assert m(torch.zeros(2, 3, 32, 32)).shape == (2, 10)
    with pytest.raises(ValueError, match="multiple of 4"):
        four_layer_cnn("relu", input_size=30)


def test_abstanh_is_the_absolute_tanh_with_its_gradient():
    x = torch.tensor([-3.0, -0.5, 0.0, 0.5, 3.0], dtype=torch.float64, requires_grad=True)
    y = AbsTanh()(x)
    assert torch.allclose(y, torch.tanh(x).abs())
    assert y.min() >= 0 and y.max() < 1
    # even function: |tanh(-x)| = |tanh(x)|, and the gradient is sign(x) (1 - tanh(x)^2)
    assert torch.equal(y[:2], y[3:].flip(0))
    y.sum().backward()
    expected = torch.sign(x.detach()) * (1 - torch.tanh(x.detach()) ** 2)
    assert torch.allclose(x.grad[[0, 1, 3, 4]], expected[[0, 1, 3, 4]])
    xs = torch.randn(6, dtype=torch.float64, requires_grad=True) + 0.1
    assert torch.autograd.gradcheck(AbsTanh(), (xs.detach().abs().add(0.1).requires_grad_(),))
