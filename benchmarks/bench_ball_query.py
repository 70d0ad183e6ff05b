"""Ball query: the old all-at-once method against ``dlparts.points.ball_query`` (chunked).

    python benchmarks/bench_ball_query.py                    # B=8, M=2048, N=8192 (the large case)
    python benchmarks/bench_ball_query.py --quick            # B=2, M=512, N=2048
    python benchmarks/bench_ball_query.py --device cuda      # on a GPU

The old method (kept here only, for this comparison) built the full difference tensor
``(B, M, N, 3)`` to get the squared distances, so its memory grew as ``B * M * N * 3``: at
``B = 8, M = 2048, N = 8192`` that tensor alone is 1.6 GB in float32, and its square another.
The library now computes the same exact distances (sum of squared differences, no
``|a|² + |b|² - 2ab`` rounding) a chunk of centroids at a time, so the intermediate memory is
bounded by ``dlparts.points.CHUNK_ELEMENTS`` numbers and only the result ``(B, M, k)`` grows.

Printed: each method's best time over ``--reps`` runs, its peak extra memory, whether the two
results are identical (they must be: same arithmetic, only the order of the chunks differs), and
the ratios old / new. On CPU each method runs in a fresh child process, and the peak is the
growth of its maximum resident set size over the run (``ru_maxrss``), which sees every
allocation, torch's or not; on CUDA it is ``torch.cuda.max_memory_allocated`` above what the
inputs hold.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import time

import torch


def old_square_distance(a, b):
    """The former method: the full (B, N, M, D) difference tensor, then its squared sum."""
    return ((a[:, :, None, :] - b[:, None, :, :]) ** 2).sum(-1)


def old_ball_query(xyz, centroids, radius, k):
    """The former ``ball_query``, all centroids at once (same semantics as the library's)."""
    n = xyz.shape[1]
    d = old_square_distance(centroids, xyz)  # (B, M, N)
    ar = torch.arange(n, device=xyz.device).expand_as(d)
    cand = torch.where(d < radius**2, ar, torch.full_like(ar, n))
    kk = min(k, n)
    found = cand.topk(kk, dim=-1, largest=False, sorted=True).values
    first = torch.where(found[..., :1] < n, found[..., :1], d.argmin(-1, keepdim=True))
    found = torch.where(found < n, found, first)
    if kk < k:
        found = torch.cat([found, first.expand(*first.shape[:-1], k - kk)], dim=-1)
    return found


def new_ball_query(xyz, centroids, radius, k):
    from dlparts.points import ball_query

    return ball_query(xyz, centroids, radius, k)


METHODS = {"old": old_ball_query, "new": new_ball_query}


def inputs(b, m, n, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(b, n, 3, generator=g) * 2 - 1
    centroids = xyz[:, torch.randperm(n, generator=g)[:m]]
    return xyz.to(device), centroids.contiguous().to(device)


def sync(device):
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def measure(method, args):
    """Time and peak extra memory of one method, in this process. Returns a dict."""
    f = METHODS[method]
    xyz, cen = inputs(args.B, args.M, args.N, args.device)
    small = inputs(1, 8, 64, args.device)
    f(*small, args.radius, args.k)  # warm-up: load kernels, touch the allocator
    sync(args.device)
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    t0 = time.perf_counter()
    out = f(xyz, cen, args.radius, args.k)
    sync(args.device)
    first = time.perf_counter() - t0
    if args.device.startswith("cuda"):
        peak = torch.cuda.max_memory_allocated() - base
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 - base
    digest = hashlib.md5(out.cpu().numpy().tobytes()).hexdigest()
    del out
    best = first
    for _ in range(args.reps - 1):
        t0 = time.perf_counter()
        f(xyz, cen, args.radius, args.k)
        sync(args.device)
        best = min(best, time.perf_counter() - t0)
    return {"method": method, "seconds": best, "peak_bytes": peak, "digest": digest}


def run_child(method, args):
    cmd = [sys.executable, __file__, "--child", method]
    for key in ("B", "M", "N", "k", "radius", "reps", "threads", "device"):
        cmd += [f"--{key}", str(getattr(args, key))]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--B", type=int, default=8)
    p.add_argument("--M", type=int, default=2048)
    p.add_argument("--N", type=int, default=8192)
    p.add_argument("--k", type=int, default=32)
    p.add_argument("--radius", type=float, default=0.2)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--quick", action="store_true", help="B=2, M=512, N=2048")
    p.add_argument("--child", choices=sorted(METHODS), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.B, args.M, args.N = 2, 512, 2048
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.child, args)))
        return
    on_gpu = args.device.startswith("cuda")
    print(
        f"ball query, B={args.B}, M={args.M} centroids, N={args.N} points, k={args.k}, "
        f"radius {args.radius}, float32 on {args.device}"
        + ("" if on_gpu else f", {args.threads} thread(s)")
        + f"; best of {args.reps}"
    )
    diff_gb = args.B * args.M * args.N * 3 * 4 / 1e9
    print(f"the old method's difference tensor alone: {diff_gb:.2f} GB")
    res = {}
    for method in METHODS:  # fresh process each on CPU, so one's peak does not hide the other's
        res[method] = measure(method, args) if on_gpu else run_child(method, args)
    for method, r in res.items():
        print(
            f"  {method}: {r['seconds'] * 1e3:9.1f} ms   peak extra memory {r['peak_bytes'] / 1e6:9.1f} MB"
        )
    same = res["old"]["digest"] == res["new"]["digest"]
    print(f"identical results: {same}")
    t = res["old"]["seconds"] / res["new"]["seconds"]
    mem = res["old"]["peak_bytes"] / max(res["new"]["peak_bytes"], 1)
    print(f"ratios old / new: time {t:.2f}x, peak memory {mem:.1f}x")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()
