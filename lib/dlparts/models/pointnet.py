"""PointNet (Qi et al., CVPR 2017) and PointNet++ (Qi et al., NIPS 2017), readable top to bottom.

PointNet applies one small MLP to every point independently (a "shared MLP", i.e. a 1x1
convolution over the points), then a symmetric function, max pooling, turns the N per-point
feature vectors into one global vector whatever the order of the points. Two T-Nets predict a
3x3 input alignment and a 64x64 feature alignment; the second is kept near orthogonal by a
regularizer.

PointNet++ applies PointNet locally and hierarchically: each *set abstraction* level samples
centroids (farthest point sampling), groups the points within a radius (ball query) and summarizes
each group with a mini-PointNet. Multi-scale grouping (MSG) concatenates groups of several radii;
feature propagation interpolates features back to every point for segmentation.

All models take points as ``(B, N, D)`` (``D = 3``, or 2 for digits) and are vectorized: the only
Python loop is farthest point sampling's loop over the *chosen* centroids.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..points import ball_query, farthest_point_sample, index_points, interpolate

__all__ = [
    "FeaturePropagation",
    "PointNet2Cls",
    "PointNet2Seg",
    "PointNetCls",
    "PointNetEncoder",
    "PointNetSeg",
    "PointSetMLP",
    "SetAbstraction",
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


def _check_input(x, in_dim):
    if not torch.is_tensor(x) or x.dim() != 3 or x.shape[-1] != in_dim:
        shape = tuple(x.shape) if torch.is_tensor(x) else type(x).__name__
        raise ValueError(
            f"expected points of shape (B, N, {in_dim}) (batch, points, coordinates), got {shape}"
        )


def orthogonality_loss(a: torch.Tensor) -> torch.Tensor:
    """PointNet's regularizer ``||I - A A^T||_F^2``, averaged over the batch. ``a``: (B, k, k)."""
    eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    return ((eye - a @ a.transpose(1, 2)) ** 2).sum((1, 2)).mean()


class TNet(nn.Module):
    """A mini-PointNet that predicts a ``k x k`` alignment matrix from a point set.

    Shared MLP -> max pooling -> fully connected layers -> ``k*k`` numbers, added to the identity
    (the last layer starts at zero, so the network starts as "no transform").

    Shape:
        input ``(B, k, N)`` -> output ``(B, k, k)``; ``self.last_argmax`` ``(B, C)`` holds which
        point won each channel of the max pooling in the last call.
    """

    def __init__(self, k: int, mlp=(64, 128, 1024), fc=(512, 256)):
        super().__init__()
        self.k = k
        self.mlp = shared_mlp((k, *mlp))
        self.head = fc_head((mlp[-1], *fc), k * k)
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.last_argmax = None

    def forward(self, x):
        g, self.last_argmax = self.mlp(x).max(dim=2)
        eye = torch.eye(self.k, device=x.device, dtype=x.dtype)
        return self.head(g).view(-1, self.k, self.k) + eye


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
        (A_in, A_feat) (None where a T-Net is off).
        """
        _check_input(x, self.in_dim)
        h = x.transpose(1, 2)  # (B, D, N): channels first, as Conv1d wants
        a_in = a_feat = None
        if self.tnet_in is not None:
            a_in = self.tnet_in(h) if transforms is None else transforms[0]
            h = torch.bmm(a_in.transpose(1, 2), h)  # x @ A, per point
        h = self.mlp1(h)
        if self.tnet_feat is not None:
            a_feat = self.tnet_feat(h) if transforms is None else transforms[1]
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
            parts += [t.last_argmax[0] for t in (self.tnet_in, self.tnet_feat) if t is not None]
        return torch.unique(torch.cat(parts))

    @torch.no_grad()
    def upper_bound_points(self, x, candidates):
        """The upper-bound shape of one set ``x`` (1, N, D) among ``candidates`` (M, D): the
        candidate points whose every feature stays at or below ``x``'s global feature, so adding
        any of them leaves the max pooling unchanged. Candidates go through the network with the
        transforms predicted for ``x`` (a T-Net would otherwise react to them). Use eval mode."""
        if x.dim() != 3 or x.shape[0] != 1 or self.pooling != "max":
            raise ValueError("upper_bound_points takes one set (1, N, D) and a max-pooling network")
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

    ``orthogonality_loss()`` gives the regularizer for the feature transform of the last forward
    pass (weight 0.001 in the paper): ``fit(..., extra_loss=lambda m, out: 1e-3 *
    m.orthogonality_loss())``.

    Shape:
        input ``(B, N, in_dim)`` -> logits ``(B, num_classes)``. In eval mode (batch norm uses its
        running statistics) the output does not depend on the order of the N points.
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
        self._last_feat_transform = None

    def forward(self, x):
        d = self.encoder.details(x)
        self._last_feat_transform = d["transforms"][1]
        return self.head(F.relu(d["global"]))

    def orthogonality_loss(self):
        """``||I - A A^T||_F^2`` of the last forward pass's feature transform (0 without one)."""
        a = self._last_feat_transform
        return orthogonality_loss(a) if a is not None else torch.zeros(())


class PointNetSeg(nn.Module):
    """PointNet for per-point labels: each point's aligned local feature is concatenated with the
    global feature and a shared MLP predicts its part.

    Shape: input ``(B, N, in_dim)`` -> logits ``(B, num_parts, N)`` (class dimension second, as
    ``F.cross_entropy`` wants).
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
        self._last_feat_transform = None

    def forward(self, x):
        d = self.encoder.details(x)
        self._last_feat_transform = d["transforms"][1]
        n = x.shape[1]
        g = F.relu(d["global"])[:, :, None].expand(-1, -1, n)
        return self.seg(torch.cat([d["local"], g], dim=1))

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
        _check_input(x, self.in_dim)
        if x.shape[1] != self.n_points:
            raise ValueError(f"this MLP takes exactly {self.n_points} points, got {x.shape[1]}")
        if self.sort:
            for j in reversed(range(self.in_dim)):  # lexicographic: x first, ties by y, then z
                x = index_points(x, x[..., j].argsort(dim=1, stable=True))
        return self.net(x.flatten(1))


# ----------------------------------------------------------------------------- PointNet++


def _per_scale(value, n):
    return tuple(value) if isinstance(value, list | tuple) else (value,) * n


class SetAbstraction(nn.Module):
    """One set abstraction level: sample ``npoint`` centroids by farthest point sampling, group
    up to ``nsample`` points within ``radius`` of each (ball query), and summarize each group with
    a mini-PointNet (shared MLP on local coordinates and features, then max pooling).

    ``group_all=True`` makes one group of all points (the last level of the classifier).

    Shape:
        ``forward(xyz, feats)``: ``xyz`` (B, N, D), ``feats`` (B, N, C) or None ->
        ``new_xyz`` (B, npoint, D), ``new_feats`` (B, npoint, mlp[-1]).
    """

    def __init__(self, npoint, radius, nsample, in_channels, mlp, coord_dim=3, group_all=False):
        super().__init__()
        self.npoint, self.radius, self.nsample, self.group_all = npoint, radius, nsample, group_all
        self.mlp = shared_mlp((in_channels + coord_dim, *mlp), dim=2)
        self.out_channels = mlp[-1]

    def group(self, xyz, feats, new_xyz, radius, nsample):
        """Groups as ``(B, C + D, nsample, M)``: local coordinates (relative to the centroid)
        concatenated with the points' features."""
        idx = ball_query(xyz, new_xyz, radius, nsample)  # (B, M, k)
        g = index_points(xyz, idx) - new_xyz[:, :, None, :]  # (B, M, k, D)
        if feats is not None:
            g = torch.cat([g, index_points(feats, idx)], dim=-1)
        return g.permute(0, 3, 2, 1)

    def forward(self, xyz, feats=None):
        if self.group_all:
            new_xyz = xyz.new_zeros(xyz.shape[0], 1, xyz.shape[2])
            g = xyz if feats is None else torch.cat([xyz, feats], dim=-1)
            g = g.permute(0, 2, 1)[:, :, :, None]  # (B, C + D, N, 1)
        else:
            new_xyz = index_points(xyz, farthest_point_sample(xyz, min(self.npoint, xyz.shape[1])))
            g = self.group(xyz, feats, new_xyz, self.radius, self.nsample)
        return new_xyz, self.mlp(g).max(dim=2).values.transpose(1, 2)


class SetAbstractionMSG(SetAbstraction):
    """Multi-scale grouping: the same centroids grouped at several radii, each scale with its own
    mini-PointNet, the features concatenated (robust to non-uniform density).

    Shape: as :class:`SetAbstraction`, with ``new_feats`` (B, npoint, sum of the scales' widths).
    """

    def __init__(self, npoint, radii, nsamples, in_channels, mlps, coord_dim=3):
        nn.Module.__init__(self)
        self.npoint, self.radii, self.nsamples, self.group_all = npoint, radii, nsamples, False
        self.mlps = nn.ModuleList(shared_mlp((in_channels + coord_dim, *m), dim=2) for m in mlps)
        self.out_channels = sum(m[-1] for m in mlps)

    def forward(self, xyz, feats=None):
        new_xyz = index_points(xyz, farthest_point_sample(xyz, min(self.npoint, xyz.shape[1])))
        outs = [
            mlp(self.group(xyz, feats, new_xyz, r, k)).max(dim=2).values
            for r, k, mlp in zip(self.radii, self.nsamples, self.mlps)
        ]
        return new_xyz, torch.cat(outs, dim=1).transpose(1, 2)


class FeaturePropagation(nn.Module):
    """PointNet++ feature propagation: interpolate the sparse level's features to the dense
    level's points (inverse-distance weights of the 3 nearest), concatenate the dense level's own
    (skip) features, and apply a shared MLP.

    Shape: ``forward(xyz_dense (B,N,D), xyz_sparse (B,M,D), feats_dense (B,N,C1) or None,
    feats_sparse (B,M,C2))`` -> (B, N, mlp[-1]).
    """

    def __init__(self, in_channels, mlp):
        super().__init__()
        self.mlp = shared_mlp((in_channels, *mlp))

    def forward(self, xyz_dense, xyz_sparse, feats_dense, feats_sparse):
        if xyz_sparse.shape[1] == 1:
            up = feats_sparse.expand(-1, xyz_dense.shape[1], -1)
        else:
            up = interpolate(xyz_dense, xyz_sparse, feats_sparse, k=3)
        if feats_dense is not None:
            up = torch.cat([up, feats_dense], dim=-1)
        return self.mlp(up.transpose(1, 2)).transpose(1, 2)


def _levels(msg, npoints, radii, nsamples, mlps, coord_dim, in_channels=0):
    levels, c = [], in_channels
    for npoint, r, k, m in zip(npoints, radii, nsamples, mlps):
        if msg:
            rs = _per_scale(r, 3)
            ks = _per_scale(k, len(rs))
            ms = m if isinstance(m[0], list | tuple) else (m,) * len(rs)
            level = SetAbstractionMSG(npoint, rs, ks, c, ms, coord_dim)
        else:
            level = SetAbstraction(npoint, r, k, c, m, coord_dim)
        levels.append(level)
        c = level.out_channels
    return nn.ModuleList(levels), c


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
    ):
        super().__init__()
        self.in_dim = in_dim
        self.levels, c = _levels(msg, npoints, radii, nsamples, mlps, in_dim)
        self.global_sa = SetAbstraction(None, None, None, c, global_mlp, in_dim, group_all=True)
        self.head = fc_head((global_mlp[-1], *fc), num_classes, dropout)

    def forward(self, x):
        _check_input(x, self.in_dim)
        xyz, feats = x, None
        for level in self.levels:
            xyz, feats = level(xyz, feats)
        _, g = self.global_sa(xyz, feats)
        return self.head(g[:, 0])


class PointNet2Seg(nn.Module):
    """PointNet++ for per-point labels: set abstraction down, feature propagation back up.

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
    ):
        super().__init__()
        self.in_dim = in_dim
        self.levels, c = _levels(msg, npoints, radii, nsamples, mlps, in_dim)
        self.global_sa = SetAbstraction(None, None, None, c, global_mlp, in_dim, group_all=True)
        widths = [0] + [lv.out_channels for lv in self.levels] + [global_mlp[-1]]
        fps, up = [], widths[-1]
        for i, m in enumerate(fp_mlps):  # from the coarsest level back to the input points
            skip = widths[-2 - i]
            fps.append(FeaturePropagation(up + skip, m))
            up = m[-1]
        self.fps = nn.ModuleList(fps)
        self.head = nn.Sequential(
            nn.Dropout(dropout) if dropout else nn.Identity(), nn.Conv1d(up, num_parts, 1)
        )

    def forward(self, x):
        _check_input(x, self.in_dim)
        xyzs, feats = [x], [None]
        for level in self.levels:
            xyz, f = level(xyzs[-1], feats[-1])
            xyzs.append(xyz)
            feats.append(f)
        gxyz, g = self.global_sa(xyzs[-1], feats[-1])
        xyzs.append(gxyz)
        feats.append(g)
        up = feats[-1]
        for i, fp in enumerate(self.fps):
            dense = len(xyzs) - 2 - i
            up = fp(xyzs[dense], xyzs[dense + 1], feats[dense], up)
        return self.head(up.transpose(1, 2))
