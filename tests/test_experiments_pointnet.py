"""Tests for dlparts.experiments.pointnet: the chapter-6 training recipe and segmentation scores."""

import pytest
import torch

from dlparts.experiments import pointnet as X
from dlparts.models import PointNetCls


def _toy(n=24, n_points=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 2
    x = torch.randn(n, n_points, 3, generator=g) * 0.1
    x[y == 1, :, 2] += 0.8  # class 1 sits higher: separable
    return x, y


def _tiny():
    return PointNetCls(2, mlp1=(8, 8), mlp2=(8, 16), fc=(8,), tnet_mlp=(8, 16), tnet_fc=(8,))


def test_train_pointnet_is_repeatable_and_learns():
    x, y = _toy()
    torch.manual_seed(0)
    a = X.train_pointnet(
        _tiny(), (x, y), epochs=8, val=(x, y), lr=1e-2, batch_size=8, progress=False
    )
    torch.manual_seed(0)
    b = X.train_pointnet(
        _tiny(), (x, y), epochs=8, val=(x, y), lr=1e-2, batch_size=8, progress=False
    )
    assert a.loss == b.loss
    assert len(a.val_acc) == 8
    assert a.val_acc[-1] > 0.9


def test_train_pointnet_adds_the_regularizer_only_when_asked():
    x, y = _toy()
    seen = []

    class Spy(PointNetCls):
        def orthogonality_loss(self, a):
            seen.append(a.shape)
            return super().orthogonality_loss(a)

    m = Spy(2, mlp1=(8, 8), mlp2=(8, 16), fc=(8,), tnet_mlp=(8, 16), tnet_fc=(8,))
    X.train_pointnet(m, (x, y), epochs=1, batch_size=8, reg=0, progress=False)
    assert not seen
    X.train_pointnet(m, (x, y), epochs=1, batch_size=8, progress=False)
    assert len(seen) == 3
    with pytest.raises(ValueError):
        X.train_pointnet(m, (x, y), epochs=0)


def test_final_accuracies_one_per_seed():
    x, y = _toy()
    accs = X.final_accuracies(_tiny, (x, y), (x, y), [0, 1], epochs=2, batch_size=8, progress=False)
    assert len(accs) == 2 and all(0 <= a <= 1 for a in accs)
    # the same as the last per-epoch evaluation of the same run
    torch.manual_seed(0)
    X.runtime.seed_everything(1)
    hist = X.train_pointnet(
        _tiny(), (x, y), epochs=2, val=(x, y), batch_size=8, seed=1, progress=False
    )
    assert accs[1] == hist.val_acc[-1]


def test_segmentation_scores():
    ranges = X.class_part_ranges(["a", "b"], {"a": ["p", "q"], "b": ["r"]}, {"a": 0, "b": 2})
    assert ranges == [range(0, 2), range(2, 3)]
    parts = torch.tensor([[0, 0, 1, 1], [2, 2, 2, 2]])
    y = torch.tensor([0, 1])
    assert X.instance_miou(parts, parts, y, ranges) == 1.0
    pred = torch.tensor([[0, 0, 0, 1], [2, 2, 2, 2]])
    # shape 0: part 0 IoU 2/3, part 1 IoU 1/2; shape 1: 1
    assert X.instance_miou(pred, parts, y, ranges) == pytest.approx(((2 / 3 + 1 / 2) / 2 + 1) / 2)
    base = X.majority_part_baseline(
        torch.tensor([[0, 1, 1, 1], [2, 2, 2, 2]]), y, torch.tensor([1, 0, 0]), 4, ranges
    )
    assert base.tolist() == [[2] * 4, [1] * 4, [1] * 4]


def test_predict_parts_respects_the_class():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, x):  # part 2 always scores highest
            logits = torch.zeros(len(x), 3, x.shape[1])
            logits[:, 2] = 5.0
            logits[:, 1] = 1.0
            return logits

    ranges = [range(0, 2), range(2, 3)]
    pred = X.predict_parts(Fixed(), torch.zeros(2, 4, 3), torch.tensor([0, 1]), ranges, 3)
    assert pred.tolist() == [[1] * 4, [2] * 4]


def test_instance_miou_conventions():
    ranges = [range(0, 2), range(2, 5)]
    y = torch.tensor([0, 1])
    truth = torch.tensor([[0, 0, 1, 1], [2, 2, 3, 3]])
    # perfect: 1; in shape 1 part 4 is absent from prediction and truth and counts as IoU 1
    assert X.instance_miou(truth, truth, y, ranges) == 1.0
    # disjoint: every part present in one of them has IoU 0
    swapped = torch.tensor([[1, 1, 0, 0], [3, 3, 2, 2]])
    assert X.instance_miou(swapped, truth, y, ranges) == pytest.approx((0.0 + 1 / 3) / 2)
    # the absent part 4 is the only one scored 1 in shape 1: (0 + 0 + 1) / 3
    assert X.instance_miou(swapped[1:], truth[1:], y[1:], ranges) == pytest.approx(1 / 3)
    # predicting the absent part costs it its IoU of 1
    pred = torch.tensor([[2, 2, 3, 4]])
    assert X.instance_miou(pred, truth[1:], y[1:], ranges) == pytest.approx((1 + 0.5 + 0) / 3)


@pytest.mark.parametrize(
    "pred, parts, y, match",
    [
        (torch.zeros(2, 4), torch.zeros(2, 5), torch.tensor([0, 1]), "both be"),
        (torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0]), "one class label"),
        (torch.zeros(2, 4), torch.zeros(2, 4), torch.tensor([0, 2]), "class labels must"),
        (torch.zeros(0, 4), torch.zeros(0, 4), torch.tensor([]), "B >= 1"),
    ],
)
def test_instance_miou_refuses_mismatched_inputs(pred, parts, y, match):
    with pytest.raises(ValueError, match=match):
        X.instance_miou(pred, parts, y, [range(0, 2), range(2, 3)])


def test_presets_build_the_networks():
    from dlparts.arith import count_params
    from dlparts.models import PointNet2Cls, PointNet2Seg, PointNetSeg

    x = torch.randn(2, 40, 3)
    assert PointNetCls(12, **X.SMALL).eval()(x).shape == (2, 12)
    assert PointNetSeg(7, **X.SMALL_SEG).eval()(x).shape == (2, 7, 40)
    assert PointNet2Seg(7, **X.SMALL_PP_SEG).eval()(torch.randn(2, 80, 3)).shape == (2, 7, 80)
    digits = PointNet2Cls(10, **X.DIGITS_PP).eval()
    assert digits(torch.randn(2, 16, 2)).shape == (2, 10)  # fewer points than centroids is fine
    assert count_params(PointNetCls(12, **X.SMALL)) < count_params(PointNetCls(12)) / 10


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(epochs=True), "epochs"),
        (dict(epochs=1.5), "epochs"),
        (dict(epochs=1, lr=0), "lr"),
        (dict(epochs=1, batch_size=0), "batch_size"),
        (dict(epochs=1, reg=-1.0), "reg"),
    ],
)
def test_train_pointnet_refuses_bad_arguments(kw, match):
    x, y = _toy()
    with pytest.raises(ValueError, match=match):
        X.train_pointnet(_tiny(), (x, y), progress=False, **kw)


def test_train_pointnet_refuses_mismatched_data():
    x, y = _toy()
    with pytest.raises(ValueError, match="same, non-zero length"):
        X.train_pointnet(_tiny(), (x, y[:-1]), epochs=1, progress=False)
    with pytest.raises(ValueError, match="pair"):
        X.train_pointnet(_tiny(), x, epochs=1, progress=False)


def test_median_helper_is_the_middle_value():
    x = torch.tensor([[3.0, 1.0, 2.0], [4.0, 1.0, 3.0]])
    assert torch.equal(X._median(x), torch.tensor([2.0, 3.0]))
    assert torch.equal(X._median(torch.tensor([[1.0, 4.0, 2.0, 3.0]])), torch.tensor([2.5]))


def test_set_median_error_is_repeatable_learns_and_leaves_global_state_alone():
    state = torch.random.get_rng_state()
    a = X.set_median_error(4, pooling="mean", n_points=4, steps=60, seed=0, n_eval=512)
    assert torch.equal(state, torch.random.get_rng_state())
    b = X.set_median_error(4, pooling="mean", n_points=4, steps=60, seed=0, n_eval=512)
    assert a == b
    # 60 steps already beat the constant prediction (relative error 1)
    assert 0 < a < 0.9
    m = X.set_median_error(4, pooling="max", n_points=4, steps=60, seed=0, n_eval=512)
    assert 0 < m < 1.5


@pytest.mark.parametrize(
    "kw", [{"pooling": "sum"}, {"n_points": 0}, {"steps": 1.5}, {"lr": 0.0}, {"batch_size": 1}]
)
def test_set_median_error_refuses_bad_arguments(kw):
    with pytest.raises(ValueError):
        X.set_median_error(2, **kw)


def test_accuracy_under_sees_the_corruption_and_repeats_it_per_seed():
    x, y = _toy()
    model = _tiny()
    X.train_pointnet(model, (x, y), epochs=8, lr=1e-2, batch_size=8, progress=False)
    seen = []

    def corrupt(xs, level, g):
        seen.append(torch.rand(1, generator=g).item())
        return xs if level == 0 else xs * 0  # level 1: every point at the origin

    accs = X.accuracy_under(model, x, y, corrupt, [0, 1], seed=3)
    assert len(accs) == 2 and accs[0] > 0.9
    assert accs[1] == 0.5  # all shapes identical: one class for all, half of them right
    assert seen[0] == seen[1]  # each level draws from the same fresh generator
    with pytest.raises(ValueError):
        X.accuracy_under(model, x, y[:3], corrupt, [0])
