"""im2col convolution in NumPy against its own matrix product and PyTorch, on AlexNet's conv2/conv3.

    python benchmarks/bench_conv.py                          # 2 threads, wall time, 7 reps
    python benchmarks/bench_conv.py --threads 1 --clock cpu  # steady on a busy machine
    python benchmarks/bench_conv.py --blas-core SkylakeX     # force OpenBLAS's AVX-512 kernels

Everything runs in float32 on batch 16, on 2 threads (PyTorch's intra-op pool and NumPy's BLAS;
``--threads`` to change), and every ratio is measured in this run: the methods are timed in turn,
repetition after repetition, so a change in machine load hits them alike; each time is the best
of the repetitions. The clock is wall time; ``--clock cpu`` uses this process's CPU time instead,
which on one thread is the time spent computing however busy the machine is (on more threads it
also counts threads that spin while they wait).

Printed, per shape, with the targets:

1. ``forward / GEMM``: ``conv2d_forward`` (unroll + one batched matrix product) against the plain
   matrix product of the same shape, ``(K, C*F*F) @ (C*F*F, N*H2*W2)`` on ready-made operands.
   The GEMM is the floor for im2col on this machine: what is above 1 is the unrolling copy, the
   padding and the bias. Target <= 1.25x.
2. ``forward / PyTorch``: against ``torch.nn.functional.conv2d`` (oneDNN). Target <= 1.3x.
3. ``backward / PyTorch``: ``conv2d_backward`` (dx, dw, db: two matrix products and col2im)
   against PyTorch's autograd backward of conv2d (``torch.autograd.grad`` on input, weight and
   bias). Target <= 1.3x.
   Also printed: ``GEMM / PyTorch``, how fast NumPy's BLAS is against PyTorch's whole
   convolution. When it is far above 1 (NumPy's OpenBLAS picking AVX2 kernels on an AVX-512
   CPU, say; the header prints the kernels it picked), no im2col can reach targets 2 and 3;
   ``--blas-core`` sets ``OPENBLAS_CORETYPE`` before NumPy loads to test that.
4. the baselines, on a reduced batch of ONE image (all filters, all output pixels; nothing is
   extrapolated): the four-deep Python loop ``conv2d_naive`` (no BLAS) and the shifted-taps
   ``conv2d_vectorized`` (``F*F`` thin matrix products), each divided by im2col on that image.
"""

from __future__ import annotations

import os
import sys

for _i, _arg in enumerate(sys.argv):  # must be set before NumPy loads OpenBLAS
    if _arg == "--blas-core" and _i + 1 < len(sys.argv):
        os.environ["OPENBLAS_CORETYPE"] = sys.argv[_i + 1]
    elif _arg.startswith("--blas-core="):
        os.environ["OPENBLAS_CORETYPE"] = _arg.split("=", 1)[1]
for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "2")

import argparse  # noqa: E402
import ctypes  # noqa: E402
import glob  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from dlparts.runtime import limit_threads  # noqa: E402
from dlparts.scratch.conv import (  # noqa: E402
    conv2d_backward,
    conv2d_forward,
    conv2d_naive,
    conv2d_vectorized,
)

SHAPES = {
    "AlexNet conv2": {"x": (16, 96, 27, 27), "w": (256, 96, 5, 5), "padding": 2},
    "AlexNet conv3": {"x": (16, 256, 13, 13), "w": (384, 256, 3, 3), "padding": 1},
}
TARGET = {"forward / GEMM": 1.25, "forward / PyTorch": 1.3, "backward / PyTorch": 1.3}
CLOCK = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCK["wall"]


def openblas_core() -> str:
    """The kernels NumPy's bundled OpenBLAS chose for this CPU (e.g. 'Haswell', 'SkylakeX')."""
    base = os.path.dirname(os.path.dirname(np.__file__))
    for path in glob.glob(os.path.join(base, "numpy.libs", "*openblas*")):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename"):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_char_p
                return fn().decode()
    return "unknown"


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


def bench_against_gemm_and_pytorch(name, shape, reps):
    x, w, b = make(shape)
    p = shape["padding"]
    out, cache = conv2d_forward(x, w, b, padding=p)
    dout = np.random.default_rng(1).standard_normal(out.shape, dtype=np.float32)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)
    yt = F.conv2d(xt, wt, bt, padding=p)
    assert np.allclose(out, yt.detach().numpy(), rtol=1e-3, atol=1e-3), "forward disagrees"
    k, cff = shape["w"][0], int(np.prod(shape["w"][1:]))
    pixels = out.shape[0] * out.shape[2] * out.shape[3]
    rng = np.random.default_rng(2)
    w2d = rng.standard_normal((k, cff), dtype=np.float32)
    cols = rng.standard_normal((cff, pixels), dtype=np.float32)
    prod = np.empty((k, pixels), dtype=np.float32)

    def torch_forward():
        with torch.no_grad():
            F.conv2d(xt, wt, bt, padding=p)

    def torch_backward():
        torch.autograd.grad(yt, (xt, wt, bt), dt, retain_graph=True)

    t = interleaved(
        {
            "im2col forward": lambda: conv2d_forward(x, w, b, padding=p),
            "GEMM": lambda: np.matmul(w2d, cols, out=prod),
            "PyTorch forward": torch_forward,
            "im2col backward": lambda: conv2d_backward(dout, cache),
            "PyTorch backward": torch_backward,
        },
        reps,
    )
    ratios = {
        "forward / GEMM": t["im2col forward"] / t["GEMM"],
        "forward / PyTorch": t["im2col forward"] / t["PyTorch forward"],
        "backward / PyTorch": t["im2col backward"] / t["PyTorch backward"],
    }
    gflop = 2 * k * cff * pixels / 1e9
    print(f"{name}: x{shape['x']} w{shape['w']} pad {p}  ({gflop:.1f} GFLOP per product)")
    print(
        "  " + "   ".join(f"{key} {v * 1e3:.1f} ms" for key, v in t.items())
        + f"   (GEMM {gflop / t['GEMM']:.0f} GFLOP/s)"
    )  # fmt: skip
    for key, v in ratios.items():
        verdict = "met" if v <= TARGET[key] else "NOT met"
        print(f"  {key:19s} {v:5.2f}x   (target <= {TARGET[key]:.2f}x: {verdict})")
    print(
        f"  {'GEMM / PyTorch':19s} {t['GEMM'] / t['PyTorch forward']:5.2f}x   (the BLAS alone "
        "against PyTorch's whole forward: the floor under ratio 2)"
    )
    return ratios


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
    ap.add_argument(
        "--blas-core", help="OPENBLAS_CORETYPE for NumPy's OpenBLAS (e.g. SkylakeX, Haswell)"
    )
    ap.add_argument("--no-baselines", action="store_true", help="skip the batch-of-one baselines")
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
        f"{np.__version__} (OpenBLAS kernels: {openblas_core()}); {threads}; float32, "
        f"{args.clock} time, best of {args.reps}\n"
    )
    print("1-3. im2col against the plain GEMM and PyTorch (batch 16)")
    for name, shape in SHAPES.items():
        bench_against_gemm_and_pytorch(name, shape, args.reps)
    if args.no_baselines:
        return
    print("\n4. Baselines vs im2col, forward, on a reduced batch of one image (not extrapolated)")
    for name, shape in SHAPES.items():
        bench_baselines(name, shape, max(1, args.reps // 3))
    print(
        "\nChellapilla, Puri and Simard (2006): unrolled convolution with BLAS gave a 2.4-3.0x"
        " speedup\nin training time (forward and backward) over their convolution without BLAS"
        " (2006 CPU,\nhandwriting networks). naive/im2col isolates BLAS plus unrolling against"
        " Python loops;\nvectorized/im2col isolates one big product against F*F thin ones."
    )


if __name__ == "__main__":
    main()
