"""dlparts.experiments.depth_init: the stacked plain ReLU networks of chapter 5, notebook 4."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from dlparts.experiments import depth_init as di


def _sequential(model, k):
    """Network ``k`` of a StackedMLP as an nn.Sequential with copied weights."""
    layers = []
    for i, (w, b) in enumerate(zip(model.weights, model.biases)):
        lin = nn.Linear(w.shape[2], w.shape[1])
        with torch.no_grad():
            lin.weight.copy_(w[k])
            lin.bias.copy_(b[k])
        layers.append(lin)
        if i < model.depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def _tiny_data(n=64, features=12, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    y = torch.randint(0, classes, (n,), generator=g)
    return {"x_train": x, "y_train": y, "x_test": x[:16], "y_test": y[:16]}


def test_stack_matches_separate_networks_forward_and_backward():
    model = di.init_stack(di.StackedMLP(3, 5, 12, 8, 3), ["he", "xavier", "he"], [0, 1, 2])
    with torch.no_grad():
        for b in model.biases:
            b.normal_(0, 0.1)
    x = torch.randn(3, 7, 12)
    y = torch.randint(0, 3, (3, 7))
    total, per = model.loss(x, y)
    total.backward()
    for k in range(3):
        seq = _sequential(model, k)
        out = seq(x[k])
        torch.testing.assert_close(model(x)[k], out)
        loss = nn.functional.cross_entropy(out, y[k])
        torch.testing.assert_close(per[k], loss)
        loss.backward()
        for w, lin in zip(model.weights, [m for m in seq if isinstance(m, nn.Linear)]):
            torch.testing.assert_close(w.grad[k], lin.weight.grad)


def test_init_variances_and_shared_draws():
    model = di.init_stack(di.StackedMLP(2, 4, 300, 300, 10), ["he", "xavier"], [5, 5])
    hidden = model.weights[1]  # 300 → 300
    assert hidden[0].var().item() == pytest.approx(2 / 300, rel=0.05)
    assert hidden[1].var().item() == pytest.approx(1 / 300, rel=0.05)
    # the same seed draws the same numbers: Xavier's square layer is He's times 1/sqrt(2)
    torch.testing.assert_close(hidden[1], hidden[0] / math.sqrt(2))
    assert all((b == 0).all() for b in model.biases)


def test_forward_ratio_is_product_of_weight_scale_ratios():
    depth, width, n_in, n_out = 12, 16, 20, 10
    model = di.init_stack(
        di.StackedMLP(2, depth, n_in, width, n_out), ["he", "xavier"], [3, 3]
    ).double()
    x = torch.randn(50, n_in, dtype=torch.float64)
    y = torch.randint(0, n_out, (50,))
    s = di.signal_scales(model, x, y)
    sizes = [n_in] + [width] * (depth - 1) + [n_out]
    predicted = math.prod(math.sqrt(i / (i + o)) for i, o in zip(sizes[:-1], sizes[1:]))
    assert s["forward"].shape == (depth, 2) and s["backward"].shape == (depth, 2)
    assert s["forward"][-1, 1] / s["forward"][-1, 0] == pytest.approx(predicted, rel=1e-5)
    assert all(p.grad is None for p in model.parameters())


def test_training_a_stack_is_training_each_network_alone():
    d = _tiny_data()
    both = di.train_stack(4, ["he"], seeds=(0, 1), data=d, steps=20, width=8, progress=False)
    alone = di.train_stack(4, ["he"], seeds=(1,), data=d, steps=20, width=8, progress=False)
    np.testing.assert_allclose(both["loss"][:, 1], alone["loss"][:, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(both["eval_loss"][:, 1], alone["eval_loss"][:, 0], rtol=1e-5)
    assert both["labels"] == [("he", 0), ("he", 1)]
    assert both["eval_steps"][0] == 0 and both["eval_steps"][-1] == 20


def test_clip_rescales_each_networks_gradient_on_its_own():
    model = di.StackedMLP(3, 3, 4, 5, 2)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    model.weights[0].grad[0] = 3.0  # network 0: norm 3 * sqrt(20), far above 1
    model.weights[1].grad[1, 0, 0] = 0.5  # network 1: norm 0.5, below 1: untouched
    before = [p.grad.clone() for p in model.parameters()]
    norms = di.clip_per_network_(list(model.parameters()), 1.0)
    np.testing.assert_allclose(norms.numpy(), [3 * math.sqrt(20), 0.5, 0.0], rtol=1e-6)
    after = torch.cat([p.grad[0].flatten() for p in model.parameters()]).norm()
    assert after.item() == pytest.approx(1.0, rel=1e-5)
    torch.testing.assert_close(model.weights[1].grad[1], before[1][1])
    assert model.weights[1].grad[1, 0, 0].item() == 0.5
    assert all((p.grad[2] == 0).all() for p in model.parameters())
    with pytest.raises(ValueError, match="no parameter has a gradient"):
        di.clip_per_network_([nn.Parameter(torch.zeros(2, 2))], 1.0)


def test_clipping_in_training_counts_the_clipped_steps():
    d = _tiny_data()
    free = di.train_stack(4, ["he"], seeds=(0,), data=d, steps=10, width=8, progress=False)
    tight = di.train_stack(
        4, ["he"], seeds=(0,), data=d, steps=10, width=8, clip=1e-4, progress=False
    )
    assert free["clipped"].tolist() == [0.0] and tight["clipped"].tolist() == [1.0]
    assert not np.allclose(free["loss"][1:], tight["loss"][1:])
    with pytest.raises(ValueError, match="clip"):
        di.train_stack(4, ["he"], seeds=(0,), data=d, steps=1, clip=0, progress=False)


def test_he_learns_where_xavier_stalls_on_a_deep_net():
    d = _tiny_data(n=128, features=16, classes=2)
    d["y_train"] = (d["x_train"][:, 0] > 0).long()  # a rule a network can learn
    r = di.train_stack(
        24, ["he", "xavier"], seeds=(0,), data=d, steps=150, width=16, lr=0.01, progress=False
    )
    he, xavier = r["eval_loss"][:, 0], r["eval_loss"][:, 1]
    assert he[-1] < 0.9 * math.log(2)
    assert xavier.min() > 0.98 * math.log(2)


def test_steps_to_loss():
    assert di.steps_to_loss([0, 25, 50], [2.3, 1.9, 1.2], 2.0) == 25
    assert di.steps_to_loss([0, 25, 50], [2.3, 2.3, 2.3], 2.0) is None
    with pytest.raises(ValueError, match="threshold"):
        di.steps_to_loss([0], [1.0], -1)


def test_bad_input():
    with pytest.raises(ValueError, match="depth"):
        di.StackedMLP(1, 1, 4, 4)
    model = di.StackedMLP(2, 3, 4, 4)
    with pytest.raises(ValueError, match="n_nets=2"):
        model(torch.zeros(3, 5, 4))
    with pytest.raises(ValueError, match="one scheme and one seed"):
        di.init_stack(model, ["he"], [0, 1])
    with pytest.raises(ValueError, match="scheme"):
        di.init_stack(model, ["he", "lecun"], [0, 1])
