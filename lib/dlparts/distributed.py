"""Two ways to spread one network over two devices, small enough to run on a laptop.

- **Model parallelism**, as AlexNet did in 2012: a grouped convolution (``groups=2``) is two
  independent half convolutions, so each half can live on its own device
  (:func:`split_grouped_conv`, :func:`two_device_grouped_conv`).
- **Data parallelism**, as nearly everyone does today: each process holds a full copy of the
  model, computes gradients on its share of the batch, and ``DistributedDataParallel`` averages
  the gradients with an all-reduce before the optimizer step (:func:`ddp_gradients`).

The DDP worker lives here, not in a notebook, because ``torch.multiprocessing.spawn`` starts
fresh Python processes that must import the function by name.
"""

from __future__ import annotations

import copy
import os
import socket
import tempfile

import torch
from torch import nn

__all__ = [
    "ddp_gradients",
    "ddp_worker",
    "free_port",
    "single_process_gradients",
    "split_grouped_conv",
    "two_device_grouped_conv",
    "two_devices",
]


def two_devices() -> list[torch.device]:
    """Two CUDA devices when the machine has them, else the CPU twice (a stand-in)."""
    if torch.cuda.device_count() >= 2:
        return [torch.device("cuda:0"), torch.device("cuda:1")]
    return [torch.device("cpu"), torch.device("cpu")]


def split_grouped_conv(conv: nn.Conv2d) -> list[nn.Conv2d]:
    """The ``groups`` independent convolutions that a grouped ``conv`` computes, with its weights.

    Group ``g`` reads input channels ``g·C_in/G … (g+1)·C_in/G − 1`` and writes output channels
    ``g·C_out/G …``; concatenating the halves' outputs along channels gives ``conv(x)``.
    """
    if not isinstance(conv, nn.Conv2d):
        raise ValueError(f"expected an nn.Conv2d, got {type(conv).__name__}")
    g = conv.groups
    c_in, c_out = conv.in_channels // g, conv.out_channels // g
    parts = []
    for i in range(g):
        part = nn.Conv2d(
            c_in,
            c_out,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            bias=conv.bias is not None,
        )
        with torch.no_grad():
            part.weight.copy_(conv.weight[i * c_out : (i + 1) * c_out])
            if conv.bias is not None:
                part.bias.copy_(conv.bias[i * c_out : (i + 1) * c_out])
        parts.append(part)
    return parts


def two_device_grouped_conv(conv: nn.Conv2d, x: torch.Tensor, devices=None) -> torch.Tensor:
    """Compute a ``groups=2`` convolution as two half convolutions, one per device.

    Each device receives only its half of the input channels and returns its half of the output
    channels; the result is gathered on ``x``'s device. Equal to ``conv(x)`` up to rounding.
    """
    if not isinstance(conv, nn.Conv2d) or conv.groups != 2:
        raise ValueError("conv must be an nn.Conv2d with groups=2 (one group per device)")
    if x.ndim != 4 or x.shape[1] != conv.in_channels:
        raise ValueError(
            f"x must be (N, {conv.in_channels}, H, W) for this convolution, got {tuple(x.shape)}"
        )
    devices = devices or two_devices()
    halves = torch.chunk(x, 2, dim=1)
    outs = []
    for part, half, dev in zip(split_grouped_conv(conv), halves, devices):
        outs.append(part.to(dev)(half.to(dev)).to(x.device))
    return torch.cat(outs, dim=1)


def free_port() -> int:
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def single_process_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn=None):
    """Gradients of the mean loss over the whole batch ``(x, y)`` in one process (the reference)."""
    loss_fn = loss_fn or nn.functional.cross_entropy
    model.zero_grad(set_to_none=True)
    loss_fn(model(x), y).backward()
    grads = _grads(model)
    model.zero_grad(set_to_none=True)
    return grads


def ddp_worker(rank: int, world_size: int, port: int, model, x, y, steps: int, lr: float, out_dir):
    """One process of a DistributedDataParallel run (what ``torchrun`` would start per GPU).

    Joins the process group (gloo: works on CPUs), wraps its copy of ``model`` in DDP, takes the
    ``rank``-th equal share of the batch, and runs ``steps`` SGD steps. Saves, to
    ``out_dir/rank{rank}.pt``, the gradients of the first step (already all-reduced, i.e. averaged
    over processes) and the parameters after the last step.
    """
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        # spawn hands every process the *same* shared-memory tensors: copy them, so that each
        # replica owns its parameters as it would on its own GPU or machine
        ddp = DDP(copy.deepcopy(model))  # broadcasts rank 0's parameters to every process
        opt = torch.optim.SGD(ddp.parameters(), lr=lr)
        xs, ys = x.chunk(world_size)[rank], y.chunk(world_size)[rank]
        first = None
        losses = []
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            loss = nn.functional.cross_entropy(ddp(xs), ys)
            loss.backward()  # gradients are all-reduced (averaged) here, bucket by bucket
            if first is None:
                first = _grads(ddp.module)
            opt.step()
            losses.append(float(loss.detach()))
        params = {n: p.detach().clone() for n, p in ddp.module.named_parameters()}
        torch.save(
            {"grads": first, "params": params, "losses": losses, "n_local": len(xs)},
            os.path.join(out_dir, f"rank{rank}.pt"),
        )
    finally:
        dist.destroy_process_group()


def ddp_gradients(model: nn.Module, x, y, world_size: int = 2, steps: int = 1, lr: float = 0.1):
    """Run :func:`ddp_worker` in ``world_size`` processes on this machine; return what each saved.

    ``x`` and ``y`` are split into ``world_size`` equal shares (their length must divide). The
    model must not be random in its forward pass (no dropout in train mode), so that the processes'
    gradients can be compared with :func:`single_process_gradients`.

    Returns:
        a list, one dict per rank, with ``grads`` (first step, averaged), ``params`` (after the
        last step), ``losses`` (each process's local loss per step) and ``n_local``.
    """
    import torch.multiprocessing as mp

    if world_size < 1 or len(x) % world_size or len(x) != len(y):
        raise ValueError(
            f"need len(x) == len(y) divisible by world_size={world_size}, got {len(x)} and {len(y)}"
        )
    model = model.cpu()
    x, y = x.detach().cpu(), y.detach().cpu()
    with tempfile.TemporaryDirectory() as out_dir:
        mp.spawn(
            ddp_worker,
            args=(world_size, free_port(), model, x, y, steps, lr, out_dir),
            nprocs=world_size,
            join=True,
        )
        return [
            torch.load(os.path.join(out_dir, f"rank{r}.pt"), weights_only=True)
            for r in range(world_size)
        ]


# --------------------------------------------------------------------------- private helpers


def _grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
