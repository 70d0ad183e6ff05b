"""im2col convolution in NumPy against PyTorch's conv2d, on AlexNet's conv2 and conv3 shapes.

    python benchmarks/bench_conv.py            # 7 interleaved repetitions
    python benchmarks/bench_conv.py --reps 3   # quicker
    python benchmarks/bench_conv.py --threads 1 --clock cpu  # steady on a busy machine

Everything runs on 2 threads (PyTorch's intra-op pool and NumPy's BLAS; ``--threads`` to change)
in float32, and every
ratio is measured in this run: the methods are timed in turn, repetition after repetition, so a
change in machine load hits them alike; each time is the best of the repetitions. The clock is
wall time; ``--clock cpu`` uses this process's CPU time instead, which on one thread is the time
spent computing however busy the machine is (on more threads it also counts threads waiting).

Printed:

1. forward: ``conv2d_forward`` (im2col + one matrix product) / ``torch.nn.functional.conv2d``;
   backward: ``conv2d_backward`` (two matrix products + col2im) / PyTorch's autograd backward of
   conv2d (``torch.autograd.grad`` on input, weight and bias). Targets: 1.5x and 2x.
2. the baselines, on a reduced batch of ONE image (all filters, all output pixels; nothing is
   extrapolated): the four-deep Python loop ``conv2d_naive`` and the shifted-taps
   ``conv2d_vectorized``, each divided by im2col on the same single image.
"""

from __future__ import annotations

import os

for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dlparts.scratch.conv import (  # noqa: E402
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv2d_vectorized,
    limit_threads,
)

SHAPES = {
    "AlexNet conv2": {"x": (16, 96, 27, 27), "w": (256, 96, 5, 5), "padding": 2},
    "AlexNet conv3": {"x": (16, 256, 13, 13), "w": (384, 256, 3, 3), "padding": 1},
}
TARGET = {"forward": 1.5, "backward": 2.0}
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def interleaved(fns: dict, reps: int) -> dict:
    """Best time (seconds) of each function, timing them in turn ``reps`` times after a warm-up."""
    for f in fns.values():
        f()
    best = {k: float("inf") for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            t = clock()
            f()
            best[k] = min(best[k], clock() - t)
    return best


def make(shape, n=None, seed=0):
    rng = np.random.default_rng(seed)
    xs = shape["x"] if n is None else (n, *shape["x"][1:])
    x = rng.standard_normal(xs, dtype=np.float32)
    w = (rng.standard_normal(shape["w"], dtype=np.float32) * 0.05).astype(np.float32)
    b = rng.standard_normal(shape["w"][0], dtype=np.float32)
    return x, w, b


def bench_against_pytorch(name, shape, reps):
    x, w, b = make(shape)
    p = shape["padding"]
    out, cache = conv2d_forward(x, w, b, padding=p)
    dout = np.random.default_rng(1).standard_normal(out.shape, dtype=np.float32)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)
    yt = F.conv2d(xt, wt, bt, padding=p)
    assert np.allclose(out, yt.detach().numpy(), rtol=1e-3, atol=1e-3), "forward disagrees"

    def torch_forward():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, padding=p)

    def torch_backward():
        torch.autograd.grad(yt, (xt, wt, bt), dt, retain_graph=True)

    t = interleaved(
        {
            "im2col forward": lambda: conv2d_forward(x, w, b, padding=p),
            "torch forward": torch_forward,
            "im2col backward": lambda: conv2d_backward(dout, cache),
            "torch backward": torch_backward,
        },
        reps,
    )
    fwd = t["im2col forward"] / t["torch forward"]
    bwd = t["im2col backward"] / t["torch backward"]
    gflop = 2 * np.prod(out.shape) * np.prod(shape["w"][1:]) / 1e9
    print(
        f"{name:14s} x{shape['x']} w{shape['w']} pad {p}  ({gflop:.1f} GFLOP per pass)\n"
        f"  forward : im2col {t['im2col forward'] * 1e3:7.1f} ms   PyTorch "
        f"{t['torch forward'] * 1e3:7.1f} ms   ratio {fwd:4.2f}x  (target <= "
        f"{TARGET['forward']}x: {'met' if fwd <= TARGET['forward'] else 'NOT met'})\n"
        f"  backward: im2col {t['im2col backward'] * 1e3:7.1f} ms   PyTorch "
        f"{t['torch backward'] * 1e3:7.1f} ms   ratio {bwd:4.2f}x  (target <= "
        f"{TARGET['backward']}x: {'met' if bwd <= TARGET['backward'] else 'NOT met'})"
    )
    return fwd, bwd


def bench_baselines(name, shape, reps):
    x, w, b = make(shape, n=1)
    p = shape["padding"]
    ref = conv2d_forward(x, w, b, padding=p)[0]
    assert np.allclose(conv2d_naive(x, w, b, padding=p), ref, rtol=1e-3, atol=1e-3)
    t = interleaved(
        {
            "naive": lambda: conv2d_naive(x, w, b, padding=p),
            "vectorized": lambda: conv2d_vectorized(x, w, b, padding=p),
            "im2col": lambda: conv2d_forward(x, w, b, padding=p),
        },
        reps,
    )
    print(
        f"{name:14s} batch of 1: naive {t['naive'] * 1e3:8.1f} ms   vectorized "
        f"{t['vectorized'] * 1e3:6.1f} ms   im2col {t['im2col'] * 1e3:6.1f} ms   "
        f"naive/im2col {t['naive'] / t['im2col']:6.0f}x   vectorized/im2col "
        f"{t['vectorized'] / t['im2col']:4.2f}x"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="timed repetitions of each method")
    ap.add_argument("--threads", type=int, default=2, help="threads for PyTorch and NumPy's BLAS")
    ap.add_argument("--clock", choices=sorted(CLOCK), default="wall", help="wall or CPU time")
    args = ap.parse_args()
    global clock
    clock = CLOCK[args.clock]
    with limit_threads(args.threads) as threads:
        run(args, threads)


def run(args, threads):
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; torch {torch.__version__}, NumPy "
        f"{np.__version__}; {threads}; float32, {args.clock} time, best of {args.reps}\n"
    )
    print("1. im2col vs PyTorch (batch 16)")
    for name, shape in SHAPES.items():
        bench_against_pytorch(name, shape, args.reps)
    print("\n2. Baselines vs im2col, forward, on a reduced batch of one image (not extrapolated)")
    for name, shape in SHAPES.items():
        bench_baselines(name, shape, max(1, args.reps // 3))
    print(
        "\nChellapilla, Puri and Simard (2006), abstract: unrolling + BLAS is 2.4-3.0x faster than"
        " their own optimized direct convolution on CPU, 3.1-4.1x on GPU (different networks,"
        " hardware and baseline). The fair analogue here is vectorized/im2col, not naive/im2col."
    )


if __name__ == "__main__":
    main()
