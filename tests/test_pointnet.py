"""PointNet / PointNet++ models: shapes, permutation invariance, critical points, bad inputs."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dlparts.models import (
    FeaturePropagation,
    PointNet2Cls,
    PointNet2Seg,
    PointNetCls,
    PointNetSeg,
    PointSetMLP,
    SetAbstraction,
    SetAbstractionMSG,
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
        a = t(torch.randn(2, 10, 3))  # (B, N, k), points first like every model
    assert torch.allclose(a, torch.eye(3).expand(2, 3, 3))
    assert float(orthogonality_loss(a)) == pytest.approx(0.0, abs=1e-8)
    q, _ = torch.linalg.qr(torch.randn(3, 3))
    assert float(orthogonality_loss(q[None])) == pytest.approx(0.0, abs=1e-5)
    assert float(orthogonality_loss(2 * torch.eye(3)[None])) == pytest.approx(27.0)
    m = PointNetCls(3, **SMALL)
    _, a = m(torch.randn(2, 10, 3), return_transform=True)
    assert m.orthogonality_loss(a).shape == ()
    assert not any(isinstance(v, torch.Tensor) for v in vars(m).values())  # nothing kept


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


# ----------------------------------------------------------------------------- interfaces, inputs


def test_forward_can_return_the_feature_transform_for_the_regularizer():
    torch.manual_seed(0)
    m = PointNetCls(3, **SMALL)
    x = torch.randn(4, 20, 3)
    logits, a = m(x, return_transform=True)
    assert logits.shape == (4, 3) and a.shape == (4, 16, 16)
    assert torch.equal(m.orthogonality_loss(a), orthogonality_loss(a))
    (logits.sum() + orthogonality_loss(a)).backward()
    assert m.encoder.tnet_feat.head[-1].weight.grad is not None
    plain = PointNetCls(3, **SMALL, feature_transform=False)
    _, none = plain(x, return_transform=True)
    assert none is None and float(plain.orthogonality_loss(none)) == 0.0
    seg = PointNetSeg(5, mlp1=(16, 16), mlp2=(16, 32), seg_mlp=(32,), tnet_mlp=(16,), tnet_fc=(8,))
    out, a = seg(x, return_transform=True)
    assert out.shape == (4, 5, 20) and a.shape == (4, 16, 16)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(6, 30), k=st.sampled_from([2, 3, 5]))
def test_tnet_takes_points_first_and_refuses_channels_first(b, n, k):
    t = TNet(k, (8, 16), (8,)).eval()
    x = torch.randn(b, n, k)
    a = t(x)
    assert a.shape == (b, k, k)
    mat, arg = t.predict(x.transpose(1, 2))
    assert torch.equal(a, mat) and arg.shape == (b, 16)
    with pytest.raises(ValueError, match="channels-first"):
        t(x.transpose(1, 2))


def test_critical_indices_do_not_depend_on_stored_state():
    torch.manual_seed(1)
    m = trained_like(PointNetCls(4, **SMALL), torch.randn(4, 50, 3))
    x = torch.randn(1, 50, 3)
    crit = m.encoder.critical_indices(x)
    d = m.encoder.details(x)
    expect = torch.unique(torch.cat([d["argmax"][0], *(a[0] for a in d["tnet_argmax"])]))
    assert torch.equal(crit, expect)


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(4, 30), bad=st.sampled_from(["nan", "inf", "empty"]))
def test_models_refuse_empty_and_non_finite_sets(b, n, bad):
    m = PointNetCls(3, **SMALL).eval()
    pp = PointNet2Cls(3, **SMALL2, fewer_points="all").eval()
    x = torch.randn(b, n, 3)
    if bad == "empty":
        x, msg = x[:, :0], "no points"
    else:
        x[0, n // 2, 1] = float(bad)
        msg = "NaN or infinite"
    for model in (m, pp):
        with pytest.raises(ValueError, match=msg):
            model(x)


def test_models_accept_integer_coordinates_as_floats():
    torch.manual_seed(0)
    m = trained_like(PointNetCls(3, **SMALL), torch.randn(4, 20, 3))
    xi = torch.randint(-2, 3, (2, 20, 3))
    with torch.no_grad():
        assert torch.equal(m(xi), m(xi.float()))


@settings(max_examples=10, deadline=None)
@given(b=st.integers(1, 3), n=st.integers(7, 30))  # N differs from every channel count
def test_channels_first_is_refused_with_the_fix(b, n):
    x = torch.randn(b, 3, n)
    sa = SetAbstraction(4, 0.5, 4, 0, (8, 8))
    with pytest.raises(ValueError, match=r"channels-first.*transpose"):
        PointNetCls(3, **SMALL)(x)
    with pytest.raises(ValueError, match=r"channels-first.*transpose"):
        sa(x)
    xyz = torch.randn(b, n, 3)
    sa2 = SetAbstraction(2, 0.5, 4, 6, (8, 8))
    with pytest.raises(ValueError, match="channels-first"):
        sa2(xyz, torch.randn(b, 6, n))
    fp = FeaturePropagation(6 + 4, (8,))
    sparse = torch.randn(b, 2, 3)
    ok = fp(xyz, sparse, torch.randn(b, n, 4), torch.randn(b, 2, 6))
    assert ok.shape == (b, n, 8)
    with pytest.raises(ValueError, match="channels-first"):
        fp(xyz, sparse, torch.randn(b, n, 4), torch.randn(b, 6, 2))
    with pytest.raises(ValueError, match="one row per point"):
        fp(xyz, sparse, torch.randn(b, n + 1, 4), torch.randn(b, 2, 6))
    with pytest.raises(ValueError, match=r"\(B, N, 3\)"):
        fp(xyz.transpose(1, 2), sparse, None, torch.randn(b, 2, 10))


def test_set_abstraction_refuses_too_few_points_unless_asked():
    x = torch.randn(2, 10, 3)
    sa = SetAbstraction(16, 0.5, 4, 0, (8, 8))
    with pytest.raises(ValueError, match="npoint=16.*N=10.*fewer_points='all'"):
        sa(x)
    new_xyz, f = SetAbstraction(16, 0.5, 4, 0, (8, 8), fewer_points="all")(x)
    assert new_xyz.shape == (2, 10, 3) and f.shape == (2, 10, 8)
    msg = SetAbstractionMSG(16, (0.2, 0.4), (4, 8), 0, ((8,), (8,)), fewer_points="all")
    assert msg(x)[1].shape == (2, 10, 16)
    with pytest.raises(ValueError, match="npoint"):
        PointNet2Cls(3, **SMALL2)(torch.randn(2, 10, 3))
    assert PointNet2Cls(3, **SMALL2, fewer_points="all")(torch.randn(2, 10, 3)).shape == (2, 3)
    with pytest.raises(ValueError, match="fewer_points"):
        SetAbstraction(4, 0.5, 4, 0, (8,), fewer_points="some")


def test_set_abstraction_msg_is_a_properly_initialized_level():
    msg = SetAbstractionMSG(4, (0.2, 0.4), (4, 8), 2, ((8,), (8, 16)))
    assert isinstance(msg, torch.nn.Module) and msg.training
    assert msg.out_channels == 24 and msg.in_channels == 2 and msg.coord_dim == 3
    assert len(list(msg.parameters())) > 0 and msg.npoint == 4
    with pytest.raises(ValueError, match="one entry per scale"):
        SetAbstractionMSG(4, (0.2, 0.4), (4,), 0, ((8,), (8,)))
    with pytest.raises(ValueError, match="expects per-point features"):
        msg(torch.randn(1, 8, 3))


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(npoint=True), "npoint"),
        (dict(npoint=2.5), "npoint"),
        (dict(radius=0), "radius"),
        (dict(radius=True), "radius"),
        (dict(nsample=0), "nsample"),
    ],
)
def test_set_abstraction_arguments(kw, match):
    args = dict(npoint=4, radius=0.5, nsample=4, in_channels=0, mlp=(8,))
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        SetAbstraction(**args)
    ok = dict(args, npoint=np.int64(4), radius=np.float32(0.5), nsample=torch.tensor(4))
    assert SetAbstraction(**ok).npoint == 4
