"""PointNet / PointNet++ models: shapes, permutation invariance, critical points, bad inputs."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.models import (
    PointNet2Cls,
    PointNet2Seg,
    PointNetCls,
    PointNetSeg,
    PointSetMLP,
    TNet,
    orthogonality_loss,
)

SMALL = dict(mlp1=(16, 16), mlp2=(16, 32, 64), fc=(32, 16), tnet_mlp=(16, 32), tnet_fc=(16,))
SMALL2 = dict(
    npoints=(16, 8),
    radii=(0.3, 0.6),
    nsamples=(8, 8),
    mlps=((8, 16), (16, 32)),
    global_mlp=(32, 64),
    fc=(32,),
)


def trained_like(model, x):
    """Put batch-norm running statistics away from their defaults, then switch to eval."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(x)
    return model.eval()


torch.manual_seed(0)
MODEL = trained_like(PointNetCls(5, **SMALL), torch.randn(4, 32, 3))


@settings(max_examples=15, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(5, 60), seed=st.integers(0, 1000))
def test_pointnet_is_permutation_invariant(b, n, seed):
    torch.manual_seed(seed)
    x = torch.randn(b, n, 3)
    m = MODEL
    perm = torch.randperm(n)
    with torch.no_grad():
        out, out_p = m(x), m(x[:, perm])
    assert out.shape == (b, 5)
    torch.testing.assert_close(out, out_p, atol=1e-5, rtol=1e-5)


def test_mlp_on_unsorted_points_is_not_invariant_but_sorted_is():
    torch.manual_seed(0)
    x = torch.randn(2, 20, 3)
    perm = torch.randperm(20)
    for sort, same in ((False, False), (True, True)):
        m = trained_like(PointSetMLP(4, 20, sort=sort), x)
        with torch.no_grad():
            assert torch.allclose(m(x), m(x[:, perm]), atol=1e-5) is same


def test_deleting_non_critical_points_keeps_logits():
    torch.manual_seed(1)
    m = trained_like(PointNetCls(4, **SMALL), torch.randn(4, 100, 3))
    x = torch.randn(1, 100, 3)
    crit = m.encoder.critical_indices(x)
    main = m.encoder.critical_indices(x, include_tnets=False)
    assert len(main) <= 64 and set(main.tolist()) <= set(crit.tolist())
    with torch.no_grad():
        torch.testing.assert_close(m(x[:, crit]), m(x), atol=1e-5, rtol=1e-5)
    # dropping one critical point of the main pooling changes the global feature
    keep = [i for i in range(100) if i != int(main[0])]
    with torch.no_grad():
        g, g2 = m.encoder(x), m.encoder(x[:, keep])
    assert not torch.allclose(g, g2)


def test_tnet_starts_at_identity_and_regularizer():
    t = TNet(3, (8, 16), (8,))
    with torch.no_grad():
        a = t(torch.randn(2, 3, 10))
    assert torch.allclose(a, torch.eye(3).expand(2, 3, 3))
    assert float(orthogonality_loss(a)) == pytest.approx(0.0, abs=1e-8)
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    assert float(orthogonality_loss(q[None])) == pytest.approx(0.0, abs=1e-5)
    assert float(orthogonality_loss(2 * torch.eye(3)[None])) == pytest.approx(27.0)
    m = PointNetCls(3, **SMALL)
    m(torch.randn(2, 10, 3))
    assert m.orthogonality_loss().shape == ()


@pytest.mark.parametrize("msg", [False, True])
def test_pointnet2_shapes_and_grad(msg):
    torch.manual_seed(0)
    kw = dict(SMALL2)
    if msg:
        kw["radii"] = ((0.2, 0.4), (0.4, 0.8))
        kw["nsamples"] = ((4, 8), (8, 8))
    m = PointNet2Cls(6, msg=msg, **kw)
    x = torch.randn(3, 40, 3)
    out = m(x)
    assert out.shape == (3, 6)
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m2 = PointNet2Cls(10, in_dim=2, **SMALL2)
    assert m2(torch.randn(2, 30, 2)).shape == (2, 10)


def test_segmentation_shapes():
    x = torch.randn(2, 40, 3)
    s = PointNet2Seg(
        7,
        npoints=(16, 8),
        nsamples=(8, 8),
        mlps=((8, 16), (16, 32)),
        global_mlp=(32,),
        fp_mlps=((32,), (32,), (16,)),
    )
    assert s(x).shape == (2, 7, 40)
    p = PointNetSeg(7, mlp1=(16, 16), mlp2=(16, 32), seg_mlp=(32,), tnet_mlp=(16,), tnet_fc=(8,))
    assert p(x).shape == (2, 7, 40)


def test_bad_inputs():
    m = PointNetCls(3, **SMALL)
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        m(torch.randn(2, 3, 10, 1))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        m(torch.randn(2, 10, 2))
    with pytest.raises(ValueError, match="pooling"):
        PointNetCls(3, pooling="median")
    with pytest.raises(ValueError, match="exactly 20"):
        PointSetMLP(3, 20)(torch.randn(1, 21, 3))
    with pytest.raises(ValueError, match=r"\(1, N, D\)"):
        m.encoder.critical_indices(torch.randn(2, 10, 3))
