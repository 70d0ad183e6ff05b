"""PointNet (Qi et al., CVPR 2017) and PointNet++ (Qi et al., NIPS 2017), readable top to bottom.

PointNet applies one small MLP to every point independently (a "shared MLP", i.e. a 1x1
convolution over the points), then a symmetric function, max pooling, turns the N per-point
feature vectors into one global vector whatever the order of the points. Two T-Nets predict a
3x3 input alignment and a 64x64 feature alignment; the second is kept near orthogonal by a
regularizer.

PointNet++ applies PointNet locally and hierarchically: each *set abstraction* level samples
centroids (farthest point sampling), groups the points within a radius (ball query) and summarizes
each group with a mini-PointNet. Multi-scale grouping (MSG) concatenates groups of several radii;
multi-resolution grouping (MRG) concatenates a level's summary of the sub-regions below with a
PointNet on the raw points of the same region; feature propagation interpolates features back to
every point for segmentation.

All models take points as ``(B, N, D)`` (``D = 3``, or 2 for digits; points first, coordinates
last, also for :class:`TNet`, :class:`SetAbstraction` and :class:`FeaturePropagation`) and are
vectorized: the only Python loop is farthest point sampling's loop over the *chosen* centroids.
Inputs are checked: a channels-first tensor ``(B, D, N)``, an empty set, NaN or infinite
coordinates get a ``ValueError`` that says what to do; integer coordinates are converted to
torch's default float dtype.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validate import finite_array, integer, real
from ..points import _ball_query, _fps, _interpolate, index_points

__all__ = [
    "FeaturePropagation",
    "PointNet2Cls",
    "PointNet2Seg",
    "PointNetCls",
    "PointNetEncoder",
    "PointNetSeg",
    "PointSetMLP",
    "SetAbstraction",
    "SetAbstractionMRG",
    "SetAbstractionMSG",
    "TNet",
    "orthogonality_loss",
]


def shared_mlp(channels, dim: int = 1, last_relu: bool = True) -> nn.Sequential:
    """A per-point MLP as 1x1 convolutions with batch norm and ReLU.

    ``dim=1`` works on ``(B, C, N)`` (Conv1d), ``dim=2`` on ``(B, C, k, M)`` groups (Conv2d).
    A 1x1 convolution *is* the same linear layer applied to every point.
    """
    conv, bn = (nn.Conv1d, nn.BatchNorm1d) if dim == 1 else (nn.Conv2d, nn.BatchNorm2d)
    layers = []
    for i, (a, b) in enumerate(zip(channels[:-1], channels[1:])):
        layers += [conv(a, b, 1, bias=False), bn(b)]
        if last_relu or i < len(channels) - 2:
            layers.append(nn.ReLU(inplace=True))
    return nn.Sequential(*layers)


def fc_head(channels, num_out: int, dropout: float = 0.0) -> nn.Sequential:
    layers = []
    for a, b in zip(channels[:-1], channels[1:]):
        layers += [nn.Linear(a, b, bias=False), nn.BatchNorm1d(b), nn.ReLU(inplace=True)]
        if dropout:
            layers.append(nn.Dropout(dropout))
    layers.append(nn.Linear(channels[-1], num_out))
    return nn.Sequential(*layers)


def orthogonality_loss(a: torch.Tensor) -> torch.Tensor:
    """PointNet's regularizer ``||I - A A^T||_F^2``, averaged over the batch. ``a``: (B, k, k)."""
    eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    return ((eye - a @ a.transpose(1, 2)) ** 2).sum((1, 2)).mean()


class TNet(nn.Module):
    """A mini-PointNet that predicts a ``k x k`` alignment matrix from a point set.

    Shared MLP -> max pooling -> fully connected layers -> ``k*k`` numbers, added to the identity
    (the last layer starts at zero, so the network starts as "no transform").

    Shape:
        input ``(B, N, k)`` (points first, like every model here) -> output ``(B, k, k)``.
        :meth:`predict` takes the channels-first ``(B, k, N)`` the encoder works in and also
        returns which point won each channel of the max pooling.
    """

    def __init__(self, k: int, mlp=(64, 128, 1024), fc=(512, 256)):
        super().__init__()
        self.k = k
        self.mlp = shared_mlp((k, *mlp))
        self.head = fc_head((mlp[-1], *fc), k * k)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)

    def predict(self, h):
        """Channels-first ``h`` (B, k, N) -> ``(matrix (B, k, k), argmax (B, C))``."""
        g, arg = self.mlp(h).max(dim=2)
        eye = torch.eye(self.k, device=h.device, dtype=h.dtype)
        return self.head(g).view(-1, self.k, self.k) + eye, arg

    def forward(self, x):
        x = _check_input(x, self.k, what="channels")
        return self.predict(x.transpose(1, 2))[0]


class PointNetEncoder(nn.Module):
    """PointNet's feature extractor: input T-Net, shared MLP, feature T-Net, shared MLP, pooling.

    Args:
        in_dim: coordinates per point (3, or 2 for digits).
        mlp1: the first shared MLP (the paper's (64, 64)); the feature transform acts on its output.
        mlp2: the second shared MLP (the paper's (64, 128, 1024)); its last width is the global
            feature size.
        input_transform / feature_transform: use the T-Nets.
        tnet_mlp, tnet_fc: T-Net widths (the paper's (64, 128, 1024) and (512, 256)).
        pooling: ``"max"`` (PointNet) or ``"avg"`` (the average pooling of the paper's Figure 5).

    Shape:
        ``forward(x)``: ``(B, N, in_dim)`` -> global feature ``(B, mlp2[-1])``.
    """

    def __init__(
        self,
        in_dim=3,
        mlp1=(64, 64),
        mlp2=(64, 128, 1024),
        input_transform=True,
        feature_transform=True,
        tnet_mlp=(64, 128, 1024),
        tnet_fc=(512, 256),
        pooling="max",
    ):
        super().__init__()
        if pooling not in ("max", "avg"):
            raise ValueError(f"pooling must be 'max' or 'avg', got {pooling!r}")
        self.in_dim, self.pooling = in_dim, pooling
        self.tnet_in = TNet(in_dim, tnet_mlp, tnet_fc) if input_transform else None
        self.mlp1 = shared_mlp((in_dim, *mlp1))
        self.tnet_feat = TNet(mlp1[-1], tnet_mlp, tnet_fc) if feature_transform else None
        self.mlp2 = shared_mlp((mlp1[-1], *mlp2), last_relu=False)
        self.out_dim = mlp2[-1]
        self.local_dim = mlp1[-1]

    def details(self, x, transforms=None):
        """Everything the encoder computes, as a dict (used for critical points and segmentation).

        ``transforms`` (optional): ``(A_in, A_feat)`` to use instead of predicting them (to push
        new points through the network *as aligned for another set*, for the upper-bound shape).

        Returns keys ``point_features`` (B, C, N) before pooling, ``global`` (B, C), ``argmax``
        (B, C) (max pooling only), ``local`` (B, 64, N) aligned local features, ``transforms``
        (A_in, A_feat) (None where a T-Net is off), ``tnet_argmax`` (the T-Nets' max-pooling
        winners, None where a T-Net is off or ``transforms`` was given). These internal
        tensors are channels-first, as the 1x1 convolutions compute them.
        """
        x = _check_input(x, self.in_dim)
        h = x.transpose(1, 2)  # (B, D, N): channels first, as Conv1d wants
        a_in = a_feat = arg_in = arg_feat = None
        if self.tnet_in is not None:
            if transforms is None:
                a_in, arg_in = self.tnet_in.predict(h)
            else:
                a_in = transforms[0]
            h = torch.bmm(a_in.transpose(1, 2), h)  # x @ A, per point
        h = self.mlp1(h)
        if self.tnet_feat is not None:
            if transforms is None:
                a_feat, arg_feat = self.tnet_feat.predict(h)
            else:
                a_feat = transforms[1]
            h = torch.bmm(a_feat.transpose(1, 2), h)
        local = h
        pf = self.mlp2(h)
        if self.pooling == "max":
            g, arg = pf.max(dim=2)
        else:
            g, arg = pf.mean(dim=2), None
        return {
            "point_features": pf,
            "global": g,
            "argmax": arg,
            "local": local,
            "transforms": (a_in, a_feat),
            "tnet_argmax": (arg_in, arg_feat),
        }

    def forward(self, x):
        return self.details(x)["global"]

    def critical_indices(self, x, include_tnets=True):
        """Indices of the critical points of one set ``x`` (1, N, D): the points that win at
        least one channel of a max pooling. ``include_tnets`` adds the T-Nets' own max poolings,
        whose winners must also stay for the output to be unchanged. Returns a sorted LongTensor.
        """
        if x.dim() != 3 or x.shape[0] != 1:
            raise ValueError(
                f"critical_indices takes one set of shape (1, N, D), got {tuple(x.shape)}"
            )
        if self.pooling != "max":
            raise ValueError("critical points exist only for max pooling")
        d = self.details(x)
        parts = [d["argmax"][0]]
        if include_tnets:
            parts += [a[0] for a in d["tnet_argmax"] if a is not None]
        return torch.unique(torch.cat(parts))

    @torch.no_grad()
    def upper_bound_points(self, x, candidates):
        """The upper-bound shape of one set ``x`` (1, N, D) among ``candidates`` (M, D): the
        candidate points whose every feature stays at or below ``x``'s global feature, so adding
        any of them leaves the max pooling unchanged. Candidates go through the network with the
        transforms predicted for ``x`` (a T-Net would otherwise react to them). Use eval mode."""
        if x.dim() != 3 or x.shape[0] != 1 or self.pooling != "max":
            raise ValueError("upper_bound_points takes one set (1, N, D) and a max-pooling network")
        if not torch.is_tensor(candidates) or candidates.dim() != 2:
            raise ValueError(
                "candidates must be a tensor of shape (M, D) (one point per row), got "
                f"{tuple(candidates.shape) if torch.is_tensor(candidates) else type(candidates)}"
            )
        d = self.details(x)
        pf = self.details(candidates[None].to(x), transforms=d["transforms"])["point_features"]
        ok = (pf[0] <= d["global"][0][:, None]).all(0)
        return candidates[ok.to(candidates.device)]


class PointNetCls(nn.Module):
    """PointNet for classification: the encoder, then fully connected layers with dropout.

    Args:
        num_classes: number of classes.
        in_dim: coordinates per point (3, or 2 for digits).
        mlp1, mlp2, tnet_mlp, tnet_fc, pooling, input_transform, feature_transform: see
            :class:`PointNetEncoder` (defaults are the paper's widths).
        fc: hidden widths of the classifier (the paper's (512, 256)).
        dropout: dropout before the last layer(s) (the paper's keep ratio 0.7, i.e. 0.3).

    The feature-transform regularizer (weight 0.001 in the paper) needs the 64x64 matrix the
    forward pass predicted: ``logits, a = model(x, return_transform=True)`` returns it, and
    ``loss = F.cross_entropy(logits, y) + 1e-3 * orthogonality_loss(a)`` (the module-level
    function; ``a`` is None without a feature transform). With :func:`dlparts.train.fit`:
    ``fit(..., forward_kwargs={"return_transform": True}, extra_loss=lambda m, out: 1e-3 *
    m.orthogonality_loss(out[1]))``. Nothing is kept on the module between calls.

    Shape:
        input ``(B, N, in_dim)`` -> logits ``(B, num_classes)`` (with ``return_transform=True``:
        ``(logits, A_feat (B, 64, 64) or None)``). In eval mode (batch norm uses its running
        statistics) the output does not depend on the order of the N points.
    """

    def __init__(
        self,
        num_classes,
        in_dim=3,
        mlp1=(64, 64),
        mlp2=(64, 128, 1024),
        fc=(512, 256),
        dropout=0.3,
        input_transform=True,
        feature_transform=True,
        tnet_mlp=(64, 128, 1024),
        tnet_fc=(512, 256),
        pooling="max",
    ):
        super().__init__()
        self.encoder = PointNetEncoder(
            in_dim, mlp1, mlp2, input_transform, feature_transform, tnet_mlp, tnet_fc, pooling
        )
        self.head = fc_head((mlp2[-1], *fc), num_classes, dropout)

    def forward(self, x, return_transform: bool = False):
        d = self.encoder.details(x)
        a = d["transforms"][1]
        out = self.head(F.relu(d["global"]))
        return (out, a) if return_transform else out

    def orthogonality_loss(self, a):
        """``||I - A A^T||_F^2`` of the feature transform ``a`` that ``forward(x,
        return_transform=True)`` returned; 0 when it is None (no feature transform)."""
        return orthogonality_loss(a) if a is not None else torch.zeros(())


class PointNetSeg(nn.Module):
    """PointNet for per-point labels: each point's aligned local feature is concatenated with the
    global feature and a shared MLP predicts its part.

    Shape: input ``(B, N, in_dim)`` -> logits ``(B, num_parts, N)`` (class dimension second, as
    ``F.cross_entropy`` wants); ``return_transform=True`` and ``orthogonality_loss`` work as in
    :class:`PointNetCls`.
    """

    def __init__(
        self,
        num_parts,
        in_dim=3,
        mlp1=(64, 64),
        mlp2=(64, 128, 1024),
        seg_mlp=(512, 256, 128),
        input_transform=True,
        feature_transform=True,
        tnet_mlp=(64, 128, 1024),
        tnet_fc=(512, 256),
    ):
        super().__init__()
        self.encoder = PointNetEncoder(
            in_dim, mlp1, mlp2, input_transform, feature_transform, tnet_mlp, tnet_fc
        )
        self.seg = nn.Sequential(
            shared_mlp((mlp1[-1] + mlp2[-1], *seg_mlp)), nn.Conv1d(seg_mlp[-1], num_parts, 1)
        )

    def forward(self, x, return_transform: bool = False):
        d = self.encoder.details(x)
        a = d["transforms"][1]
        n = x.shape[1]
        g = F.relu(d["global"])[:, :, None].expand(-1, -1, n)
        out = self.seg(torch.cat([d["local"], g], dim=1))
        return (out, a) if return_transform else out

    orthogonality_loss = PointNetCls.orthogonality_loss


class PointSetMLP(nn.Module):
    """The baseline of PointNet's Figure 5: an MLP on the N points concatenated into one vector
    (``sort=True``: sorted first, by x then y then z, a canonical order). Not permutation
    invariant unless sorted.

    Shape: input ``(B, N, in_dim)`` with the ``n_points`` given -> logits ``(B, num_classes)``.
    """

    def __init__(self, num_classes, n_points, in_dim=3, hidden=(512, 256), sort=False, dropout=0.3):
        super().__init__()
        self.n_points, self.in_dim, self.sort = n_points, in_dim, sort
        self.net = fc_head((n_points * in_dim, *hidden), num_classes, dropout)

    def forward(self, x):
        x = _check_input(x, self.in_dim)
        if x.shape[1] != self.n_points:
            raise ValueError(f"this MLP takes exactly {self.n_points} points, got {x.shape[1]}")
        if self.sort:
            for j in reversed(range(self.in_dim)):  # lexicographic: x first, ties by y, then z
                x = index_points(x, x[..., j].argsort(dim=1, stable=True))
        return self.net(x.flatten(1))


# ----------------------------------------------------------------------------- PointNet++


_FEWER_POINTS = ("error", "all")


class _Grouping(nn.Module):
    """What both set abstraction levels share: argument checks, centroids and grouping."""

    def __init__(self, npoint, in_channels, coord_dim, fewer_points, group_all=False):
        super().__init__()
        self.group_all = group_all
        self.npoint = None if group_all else integer("npoint", npoint, minimum=1)
        self.in_channels = integer("in_channels", in_channels, minimum=0)
        self.coord_dim = integer("coord_dim", coord_dim, minimum=1)
        if fewer_points not in _FEWER_POINTS:
            raise ValueError(f"fewer_points must be 'error' or 'all', got {fewer_points!r}")
        self.fewer_points = fewer_points

    def _check(self, xyz, feats):
        xyz = _check_input(xyz, self.coord_dim, "xyz")
        if feats is None:
            if self.in_channels:
                raise ValueError(
                    f"this level expects per-point features (B, N, {self.in_channels}), got None"
                )
            return xyz, None
        if self.in_channels == 0:
            raise ValueError("this level was built without features (in_channels=0); pass None")
        feats = _check_input(feats, self.in_channels, "feats", "channels", finite=False)
        if feats.shape[:2] != xyz.shape[:2]:
            raise ValueError(
                f"feats {tuple(feats.shape)} must have one row per point of xyz "
                f"{tuple(xyz.shape)}: (B, N, C) with the same B and N"
            )
        return xyz, feats

    def centroids(self, xyz):
        """``npoint`` centroids by farthest point sampling (B, npoint, D)."""
        n = xyz.shape[1]
        m = self.npoint
        if m > n:
            if self.fewer_points == "error":
                raise ValueError(
                    f"this level samples npoint={m} centroids but the sets have only N={n} "
                    "points; give more points, a smaller npoint, or build the network with "
                    "fewer_points='all' (then every point becomes a centroid)"
                )
            m = n
        return index_points(xyz, _fps(xyz, m))

    def group(self, xyz, feats, new_xyz, radius, nsample):
        """Groups as ``(B, C + D, nsample, M)``: local coordinates (relative to the centroid)
        concatenated with the points' features."""
        idx = _ball_query(xyz, new_xyz, radius, nsample)  # (B, M, k)
        g = index_points(xyz, idx) - new_xyz[:, :, None, :]  # (B, M, k, D)
        if feats is not None:
            g = torch.cat([g, index_points(feats, idx)], dim=-1)
        return g.permute(0, 3, 2, 1)


class SetAbstraction(_Grouping):
    """One set abstraction level: sample ``npoint`` centroids by farthest point sampling, group
    up to ``nsample`` points within ``radius`` of each (ball query), and summarize each group with
    a mini-PointNet (shared MLP on local coordinates and features, then max pooling).

    ``group_all=True`` makes one group of all points (the last level of the classifier; then
    ``npoint``, ``radius`` and ``nsample`` are unused). A set with fewer than ``npoint`` points
    is refused unless ``fewer_points="all"``, which makes every point a centroid (the density
    experiments test a network on sparser sets than it was built for).

    Shape:
        ``forward(xyz, feats)``: ``xyz`` (B, N, D), ``feats`` (B, N, C) or None ->
        ``new_xyz`` (B, npoint, D), ``new_feats`` (B, npoint, mlp[-1]) (points first, channels
        last; a channels-first tensor is refused).
    """

    def __init__(
        self,
        npoint,
        radius,
        nsample,
        in_channels,
        mlp,
        coord_dim=3,
        group_all=False,
        fewer_points="error",
    ):
        super().__init__(npoint, in_channels, coord_dim, fewer_points, group_all)
        if not group_all:
            radius = real("radius", radius, positive=True)
            nsample = integer("nsample", nsample, minimum=1)
        self.radius, self.nsample = radius, nsample
        self.mlp = shared_mlp((in_channels + coord_dim, *mlp), dim=2)
        self.out_channels = mlp[-1]

    def forward(self, xyz, feats=None):
        return self._forward(*self._check(xyz, feats))

    def _forward(self, xyz, feats):  # inputs already checked
        if self.group_all:
            new_xyz = xyz.new_zeros(xyz.shape[0], 1, xyz.shape[2])
            g = xyz if feats is None else torch.cat([xyz, feats], dim=-1)
            g = g.permute(0, 2, 1)[:, :, :, None]  # (B, C + D, N, 1)
        else:
            new_xyz = self.centroids(xyz)
            g = self.group(xyz, feats, new_xyz, self.radius, self.nsample)
        return new_xyz, self.mlp(g).max(dim=2).values.transpose(1, 2)


class SetAbstractionMSG(_Grouping):
    """Multi-scale grouping: the same centroids grouped at several radii, each scale with its own
    mini-PointNet, the features concatenated (robust to non-uniform density).

    Shape: as :class:`SetAbstraction`, with ``new_feats`` (B, npoint, sum of the scales' widths).
    """

    def __init__(
        self, npoint, radii, nsamples, in_channels, mlps, coord_dim=3, fewer_points="error"
    ):
        super().__init__(npoint, in_channels, coord_dim, fewer_points)
        radii, nsamples, mlps = tuple(radii), tuple(nsamples), tuple(mlps)
        if not len(radii) == len(nsamples) == len(mlps) >= 1:
            raise ValueError(
                "radii, nsamples and mlps need one entry per scale, got "
                f"{len(radii)}, {len(nsamples)} and {len(mlps)}"
            )
        self.radii = tuple(real(f"radii[{i}]", r, positive=True) for i, r in enumerate(radii))
        self.nsamples = tuple(integer(f"nsamples[{i}]", k, 1) for i, k in enumerate(nsamples))
        self.mlps = nn.ModuleList(shared_mlp((in_channels + coord_dim, *m), dim=2) for m in mlps)
        self.out_channels = sum(m[-1] for m in mlps)

    def forward(self, xyz, feats=None):
        return self._forward(*self._check(xyz, feats))

    def _forward(self, xyz, feats):  # inputs already checked
        new_xyz = self.centroids(xyz)
        outs = [
            mlp(self.group(xyz, feats, new_xyz, r, k)).max(dim=2).values
            for r, k, mlp in zip(self.radii, self.nsamples, self.mlps)
        ]
        return new_xyz, torch.cat(outs, dim=1).transpose(1, 2)


class SetAbstractionMRG(SetAbstraction):
    """Multi-resolution grouping (PointNet++ Section 3.3, Fig. 3b): the feature of each region is
    the concatenation of two vectors,

    (a) the set abstraction of the sub-regions' features from the level below (exactly
        :class:`SetAbstraction`: farthest point sampling among the level below's centroids, ball
        query of radius ``radius`` among them, a mini-PointNet ``mlp`` on their relative
        coordinates and features, max pooling), and
    (b) a PointNet ``raw_mlp`` applied directly to the raw input points of the same region: the
        first ``raw_nsample`` input points within ``radius`` of the centroid, in coordinates
        relative to it.

    Where a region is sparse, (a) rests on sub-regions that are sparser still; (b) sees the raw
    points at once. Where it is dense, (a) carries the finer detail of the levels below. The
    layers after the level learn how to weigh the two. Compared with multi-scale grouping, no
    large ball is grouped at the lowest level, where the centroids are many.

    ``group_all=True`` makes one region of everything: (a) is a PointNet over all centroids of
    the level below, (b) a PointNet over all raw points (the last level of an MRG classifier, the
    paper's branches 3 and 4); ``npoint``, ``radius``, ``nsample`` and ``raw_nsample`` are then
    unused.

    Shape:
        ``forward(xyz, feats, raw_xyz)``: the level below's ``xyz`` (B, N, D) and ``feats``
        (B, N, C) or None, the raw input points ``raw_xyz`` (B, N0, D) -> ``new_xyz``
        (B, npoint, D), ``new_feats`` (B, npoint, mlp[-1] + raw_mlp[-1]) (vector (a), then
        (b)). Points first, channels last, as every level here.
    """

    def __init__(
        self,
        npoint,
        radius,
        nsample,
        in_channels,
        mlp,
        raw_nsample,
        raw_mlp,
        coord_dim=3,
        group_all=False,
        fewer_points="error",
    ):
        super().__init__(
            npoint, radius, nsample, in_channels, mlp, coord_dim, group_all, fewer_points
        )
        if not group_all:
            raw_nsample = integer("raw_nsample", raw_nsample, minimum=1)
        raw_mlp = tuple(raw_mlp)
        if not raw_mlp:
            raise ValueError("raw_mlp needs at least one width, e.g. (64, 128), got ()")
        self.raw_nsample = raw_nsample
        self.raw_mlp = shared_mlp((coord_dim, *raw_mlp), dim=2)
        self.out_channels = mlp[-1] + raw_mlp[-1]

    def forward(self, xyz, feats=None, raw_xyz=None):
        xyz, feats = self._check(xyz, feats)
        if raw_xyz is None:
            raise ValueError(
                "multi-resolution grouping also needs the raw input points: pass raw_xyz "
                f"(B, N0, {self.coord_dim}), the points the network was given"
            )
        raw_xyz = _check_input(raw_xyz, self.coord_dim, "raw_xyz")
        if raw_xyz.shape[0] != xyz.shape[0]:
            raise ValueError(
                f"raw_xyz {tuple(raw_xyz.shape)} and xyz {tuple(xyz.shape)} need the same "
                "batch size"
            )
        return self._forward(xyz, feats, raw_xyz)

    def _forward(self, xyz, feats, raw_xyz):  # inputs already checked
        new_xyz, sub = super()._forward(xyz, feats)  # vector (a)
        if self.group_all:
            g = raw_xyz.permute(0, 2, 1)[:, :, :, None]  # (B, D, N0, 1)
        else:
            g = self.group(raw_xyz, None, new_xyz, self.radius, self.raw_nsample)
        raw = self.raw_mlp(g).max(dim=2).values.transpose(1, 2)  # vector (b)
        return new_xyz, torch.cat([sub, raw], dim=-1)


class FeaturePropagation(nn.Module):
    """PointNet++ feature propagation: interpolate the sparse level's features to the dense
    level's points (inverse-distance weights of the 3 nearest), concatenate the dense level's own
    (skip) features, and apply a shared MLP. ``coord_dim``: coordinates per point (3, or 2).

    Shape: ``forward(xyz_dense (B,N,D), xyz_sparse (B,M,D), feats_dense (B,N,C1) or None,
    feats_sparse (B,M,C2))`` -> (B, N, mlp[-1]), with ``C2 + C1 = in_channels``. Every tensor
    is points first, channels last; a channels-first one is refused.
    """

    def __init__(self, in_channels, mlp, coord_dim=3):
        super().__init__()
        self.in_channels = integer("in_channels", in_channels, minimum=1)
        self.coord_dim = integer("coord_dim", coord_dim, minimum=1)
        self.mlp = shared_mlp((in_channels, *mlp))

    def forward(self, xyz_dense, xyz_sparse, feats_dense, feats_sparse):
        d = self.coord_dim
        xyz_dense = _check_input(xyz_dense, d, "xyz_dense")
        xyz_sparse = _check_input(xyz_sparse, d, "xyz_sparse")
        c1 = 0 if feats_dense is None else feats_dense.shape[-1]
        c2 = self.in_channels - c1
        feats_sparse = _check_input(feats_sparse, c2, "feats_sparse", "channels", finite=False)
        if feats_sparse.shape[:2] != xyz_sparse.shape[:2]:
            raise ValueError(
                f"feats_sparse {tuple(feats_sparse.shape)} must have one row per point of "
                f"xyz_sparse {tuple(xyz_sparse.shape)} (channels last)"
            )
        if feats_dense is not None:
            feats_dense = _check_input(feats_dense, c1, "feats_dense", "channels", finite=False)
            if feats_dense.shape[:2] != xyz_dense.shape[:2]:
                raise ValueError(
                    f"feats_dense {tuple(feats_dense.shape)} must have one row per point of "
                    f"xyz_dense {tuple(xyz_dense.shape)} (channels last)"
                )
        if xyz_sparse.shape[0] != xyz_dense.shape[0]:
            raise ValueError(
                f"xyz_dense {tuple(xyz_dense.shape)} and xyz_sparse {tuple(xyz_sparse.shape)} "
                "need the same batch size"
            )
        return self._forward(xyz_dense, xyz_sparse, feats_dense, feats_sparse)

    def _forward(self, xyz_dense, xyz_sparse, feats_dense, feats_sparse):  # already checked
        if xyz_sparse.shape[1] == 1:
            up = feats_sparse.expand(-1, xyz_dense.shape[1], -1)
        else:
            up = _interpolate(xyz_dense, xyz_sparse, feats_sparse, min(3, xyz_sparse.shape[1]), 2.0)
        if feats_dense is not None:
            up = torch.cat([up, feats_dense], dim=-1)
        return self.mlp(up.transpose(1, 2)).transpose(1, 2)


class PointNet2Cls(nn.Module):
    """PointNet++ for classification: set abstraction levels, then one group-all level (a
    PointNet on the remaining centroids) and fully connected layers.

    Args:
        num_classes: number of classes.
        in_dim: coordinates per point (3, or 2 for digits).
        msg: multi-scale grouping; then each entry of ``radii`` / ``nsamples`` may be a tuple
            (one per scale) and each entry of ``mlps`` a tuple of per-scale widths.
        npoints, radii, nsamples, mlps: per level (the paper's SSG: 512 and 128 centroids, radii
            0.2 and 0.4, 32 and 64 neighbours).
        global_mlp: widths of the group-all level's mini-PointNet.
        fc, dropout: the classifier head.
        fewer_points: ``"error"`` (default) refuses sets with fewer points than a level's
            centroids; ``"all"`` makes every point a centroid then (for tests on sparser sets).
        mrg: multi-resolution grouping (:class:`SetAbstractionMRG`) at every level after the
            first and at the group-all level (the first level's level below *is* the raw points,
            so it stays a plain set abstraction, as in the paper's MRG network).
        raw_nsamples, raw_mlps: with ``mrg``, per level, the raw points gathered in each region
            and the widths of the PointNet on them (the first level's entry is not used);
            ``None`` (or a ``None`` entry) takes the level's own ``nsamples`` / ``mlps`` entry.
        raw_global_mlp: with ``mrg``, the widths of the PointNet on all raw points (``None``:
            ``global_mlp``). The paper's MRG network is close to ``PointNet2Cls(40, mrg=True,
            npoints=(512, 64), raw_mlps=(None, (64, 128, 256)), raw_global_mlp=(64, 128, 256,
            512))``.

    Shape:
        input ``(B, N, in_dim)`` -> logits ``(B, num_classes)``. Unlike PointNet, the output may
        change slightly with the order of the points: farthest point sampling starts at point 0
        and ball query takes the *first* k points in the ball.
    """

    def __init__(
        self,
        num_classes,
        in_dim=3,
        msg=False,
        npoints=(512, 128),
        radii=(0.2, 0.4),
        nsamples=(32, 64),
        mlps=((64, 64, 128), (128, 128, 256)),
        global_mlp=(256, 512, 1024),
        fc=(512, 256),
        dropout=0.4,
        fewer_points="error",
        *,
        mrg=False,
        raw_nsamples=None,
        raw_mlps=None,
        raw_global_mlp=None,
    ):
        super().__init__()
        _build_hierarchy(
            self,
            msg,
            npoints,
            radii,
            nsamples,
            mlps,
            global_mlp,
            in_dim,
            fewer_points,
            mrg,
            raw_nsamples,
            raw_mlps,
            raw_global_mlp,
        )
        self.head = fc_head((self.global_sa.out_channels, *fc), num_classes, dropout)

    def forward(self, x):
        _, feats = _abstract(self, x)
        return self.head(feats[-1][:, 0])


class PointNet2Seg(nn.Module):
    """PointNet++ for per-point labels: set abstraction down, feature propagation back up.

    Arguments as :class:`PointNet2Cls` (``msg`` or ``mrg`` included), plus ``fp_mlps`` (the
    feature propagation widths, from the coarsest level back to the input points).

    Shape: input ``(B, N, in_dim)`` -> logits ``(B, num_parts, N)``.
    """

    def __init__(
        self,
        num_parts,
        in_dim=3,
        msg=False,
        npoints=(128, 32),
        radii=(0.2, 0.4),
        nsamples=(32, 32),
        mlps=((64, 64, 128), (128, 128, 256)),
        global_mlp=(256, 512),
        fp_mlps=((256, 256), (256, 128), (128, 128)),
        dropout=0.3,
        fewer_points="error",
        *,
        mrg=False,
        raw_nsamples=None,
        raw_mlps=None,
        raw_global_mlp=None,
    ):
        super().__init__()
        _build_hierarchy(
            self,
            msg,
            npoints,
            radii,
            nsamples,
            mlps,
            global_mlp,
            in_dim,
            fewer_points,
            mrg,
            raw_nsamples,
            raw_mlps,
            raw_global_mlp,
        )
        widths = [0] + [lv.out_channels for lv in (*self.levels, self.global_sa)]
        fps, up = [], widths[-1]
        for i, m in enumerate(fp_mlps):  # from the coarsest level back to the input points
            skip = widths[-2 - i]
            fps.append(FeaturePropagation(up + skip, m, coord_dim=in_dim))
            up = m[-1]
        self.fps = nn.ModuleList(fps)
        self.head = nn.Sequential(
            nn.Dropout(dropout) if dropout else nn.Identity(), nn.Conv1d(up, num_parts, 1)
        )

    def forward(self, x):
        xyzs, feats = _abstract(self, x)
        up = feats[-1]
        for i, fp in enumerate(self.fps):
            dense = len(xyzs) - 2 - i
            up = fp._forward(xyzs[dense], xyzs[dense + 1], feats[dense], up)
        return self.head(up.transpose(1, 2))


# --------------------------------------------------------------------------- private helpers


def _check_input(x, in_dim, name="x", what="coordinates", finite=True):
    """``x`` as a floating ``(B, N, in_dim)`` tensor with ``N >= 1``, or a ``ValueError``."""
    if not torch.is_tensor(x) or x.dim() != 3 or x.shape[-1] != in_dim:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        hint = ""
        if torch.is_tensor(x) and x.dim() == 3 and x.shape[1] == in_dim:
            hint = f"; this looks channels-first (B, {in_dim}, N): pass {name}.transpose(1, 2)"
        raise ValueError(
            f"{name} must have shape (B, N, {in_dim}) (batch, points, {what}), got {shape}{hint}"
        )
    if x.dtype == torch.bool or x.is_complex():
        raise ValueError(f"{name} must hold real numbers, got dtype {x.dtype}")
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.shape[1] == 0:
        raise ValueError(
            f"{name} has no points (shape {tuple(x.shape)}): each set needs at least one point"
        )
    if finite:
        finite_array(name, x, "Remove or repair those points first.")
    return x


def _per_scale(value, n):
    return tuple(value) if isinstance(value, list | tuple) else (value,) * n


def _build_hierarchy(
    model,
    msg,
    npoints,
    radii,
    nsamples,
    mlps,
    global_mlp,
    in_dim,
    fewer_points,
    mrg=False,
    raw_nsamples=None,
    raw_mlps=None,
    raw_global_mlp=None,
):
    """The set abstraction levels and the final group-all level of a PointNet++ model."""
    if msg and mrg:
        raise ValueError(
            "choose one density-adaptive grouping: msg=True (multi-scale) or mrg=True "
            "(multi-resolution), not both"
        )
    if not mrg and (raw_nsamples, raw_mlps, raw_global_mlp) != (None, None, None):
        raise ValueError(
            "raw_nsamples, raw_mlps and raw_global_mlp configure multi-resolution grouping; "
            "pass mrg=True with them (or leave them out)"
        )
    model.in_dim = in_dim
    if not mrg:
        model.levels, c = _levels(
            msg, npoints, radii, nsamples, mlps, in_dim, fewer_points=fewer_points
        )
        model.global_sa = SetAbstraction(None, None, None, c, global_mlp, in_dim, group_all=True)
        return
    n = len(npoints)
    raw_nsamples = _per_level("raw_nsamples", raw_nsamples, n)
    raw_mlps = _per_level("raw_mlps", raw_mlps, n)
    levels, c = [], 0
    for i, (npoint, r, k, m) in enumerate(zip(npoints, radii, nsamples, mlps)):
        if i == 0:  # the level below the first is the raw points: a plain set abstraction
            level = SetAbstraction(npoint, r, k, c, m, in_dim, fewer_points=fewer_points)
        else:
            raw_k = k if raw_nsamples[i] is None else raw_nsamples[i]
            raw_m = m if raw_mlps[i] is None else raw_mlps[i]
            level = SetAbstractionMRG(
                npoint, r, k, c, m, raw_k, raw_m, in_dim, fewer_points=fewer_points
            )
        levels.append(level)
        c = level.out_channels
    model.levels = nn.ModuleList(levels)
    raw_global = global_mlp if raw_global_mlp is None else raw_global_mlp
    model.global_sa = SetAbstractionMRG(
        None, None, None, c, global_mlp, None, raw_global, in_dim, group_all=True
    )


def _abstract(model, x):
    """Run the levels: the centroids and features of every level, from the input points to the
    group-all level's single point (``x`` is checked once; the levels pass on what they made)."""
    x = _check_input(x, model.in_dim)
    xyzs, feats = [x], [None]
    for level in (*model.levels, model.global_sa):
        raw = (x,) if isinstance(level, SetAbstractionMRG) else ()
        xyz, f = level._forward(xyzs[-1], feats[-1], *raw)
        xyzs.append(xyz)
        feats.append(f)
    return xyzs, feats


def _per_level(name, value, n):
    """``value`` as one entry per level (``None``: every entry None), or a ``ValueError``."""
    if value is None:
        return (None,) * n
    value = tuple(value)
    if len(value) != n:
        raise ValueError(
            f"{name} needs one entry per set abstraction level ({n}), got {len(value)}; the "
            "first level's entry is not used (write None there)"
        )
    return value


def _levels(msg, npoints, radii, nsamples, mlps, coord_dim, in_channels=0, fewer_points="error"):
    levels, c = [], in_channels
    for npoint, r, k, m in zip(npoints, radii, nsamples, mlps):
        if msg:
            rs = _per_scale(r, 3)
            ks = _per_scale(k, len(rs))
            ms = m if isinstance(m[0], list | tuple) else (m,) * len(rs)
            level = SetAbstractionMSG(npoint, rs, ks, c, ms, coord_dim, fewer_points)
        else:
            level = SetAbstraction(npoint, r, k, c, m, coord_dim, fewer_points=fewer_points)
        levels.append(level)
        c = level.out_channels
    return nn.ModuleList(levels), c
