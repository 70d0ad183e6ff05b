"""The shared argument checks: every valid number type accepted, every wrong one named."""

import numpy as np
import pytest
import torch

from dlparts import _validate as v


@pytest.mark.parametrize("good", [3, np.int64(3), np.array(3), torch.tensor(3)])
def test_integer_accepts_every_integer_type(good):
    assert v.integer("n", good, 1) == 3
    assert type(v.integer("n", good, 1)) is int


@pytest.mark.parametrize("bad", [True, 3.0, 2.5, "3", None, np.array([3])])
def test_integer_refuses_non_integers_by_name(bad):
    with pytest.raises(ValueError, match="n must be a positive integer"):
        v.integer("n", bad, 1)


def test_integer_bounds():
    with pytest.raises(ValueError, match="non-negative integer, got -1"):
        v.integer("padding", -1, 0)
    with pytest.raises(ValueError, match="at most 4, got 5"):
        v.integer("k", 5, 1, maximum=4)


@pytest.mark.parametrize("good", [0.5, np.float32(0.5), torch.tensor(0.5), np.array(0.5)])
def test_real_accepts_every_real_type(good):
    assert v.real("radius", good, positive=True) == pytest.approx(0.5)


@pytest.mark.parametrize("bad", [True, float("nan"), float("inf"), "0.5", 0.0, -1.0])
def test_real_positive_refuses(bad):
    with pytest.raises(ValueError, match="radius must be"):
        v.real("radius", bad, positive=True)


def test_probability_and_pair():
    assert v.probability("p", 0.0) == 0.0
    with pytest.raises(ValueError, match="remove everything"):
        v.probability("p", 1.0)
    assert v.probability("p", 1.0, allow_one=True) == 1.0
    assert v.pair("stride", 2) == (2, 2)
    assert v.pair("stride", (1, 2)) == (1, 2)
    with pytest.raises(ValueError, match=r"\(h, w\) pair"):
        v.pair("stride", (1, 2, 3))
    with pytest.raises(ValueError, match=r"stride\[1\] must be a positive integer"):
        v.pair("stride", (1, 0))


def test_finite_array():
    v.finite_array("xyz", np.zeros(3))
    v.finite_array("idx", np.arange(3))
    with pytest.raises(ValueError, match="xyz contains NaN"):
        v.finite_array("xyz", np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="xyz contains NaN"):
        v.finite_array("xyz", torch.tensor([0.0, float("inf")]))
