"""Where a training step spends its time and its memory, by layer type.

Three measurements for the claims lectures make about convolutional networks without measuring
them:

- :func:`time_by_layer_type`: the wall-clock time of whole training steps (forward, backward,
  optimizer step) split over the leaf layers with hooks and summed by kind (:func:`layer_kind`:
  ``"conv"``, ``"linear"``, ``"pooling"``, ``"activation"``, ``"norm"``, ``"other"``), with the
  optimizer step and whatever runs between layers (the loss, Python) kept apart.
- :func:`dense_equivalent` and :func:`time_forward_backward`: a convolution against the fully
  connected layer of the same size, timed the same way.
- :func:`saved_tensor_bytes`: the bytes autograd keeps for the backward pass
  (``torch.autograd.graph.saved_tensors_hooks``), per layer, beside the bytes of the layers'
  outputs.
"""

from __future__ import annotations

import time

from dlparts import _validate
from dlparts.arith import conv_output_size, leaf_modules

__all__ = [
    "KINDS",
    "dense_equivalent",
    "layer_kind",
    "saved_tensor_bytes",
    "time_by_layer_type",
    "time_forward_backward",
]

#: The kinds of layer :func:`layer_kind` knows, in the order tables and figures show them.
KINDS = ("conv", "linear", "pooling", "activation", "norm", "other")

#: Keys of :func:`time_by_layer_type`'s ``seconds`` and ``share`` besides :data:`KINDS`.
STEP_PARTS = ("optimizer", "between layers")


def layer_kind(module) -> str:
    """The kind of a leaf layer: one of :data:`KINDS`.

    ``"conv"``: any ``nn.Conv*d`` or transposed convolution; ``"linear"``: ``nn.Linear`` and
    ``nn.Bilinear``; ``"pooling"``: max, average, adaptive and LP pooling; ``"activation"``:
    ReLU, tanh, sigmoid and the rest of ``torch.nn.modules.activation`` (softmax included);
    ``"norm"``: batch, layer, group, instance and local response normalization; everything else
    (dropout, flatten, identity, embeddings, ...) is ``"other"``.
    """
    from torch import nn

    if isinstance(module, nn.modules.conv._ConvNd):
        return "conv"
    if isinstance(module, (nn.Linear, nn.Bilinear)):
        return "linear"
    pools = (
        nn.modules.pooling._MaxPoolNd,
        nn.modules.pooling._AvgPoolNd,
        nn.modules.pooling._AdaptiveMaxPoolNd,
        nn.modules.pooling._AdaptiveAvgPoolNd,
        nn.modules.pooling._LPPoolNd,
    )
    if isinstance(module, pools):
        return "pooling"
    norms = (
        nn.modules.batchnorm._NormBase,
        nn.LayerNorm,
        nn.GroupNorm,
        nn.LocalResponseNorm,
        nn.CrossMapLRN2d,
    )
    if isinstance(module, norms):
        return "norm"
    if type(module).__module__ == "torch.nn.modules.activation":
        return "activation"
    return "other"


def time_by_layer_type(
    model, x, y, *, steps: int = 5, warmup: int = 1, loss_fn=None, optimizer=None, clock=None
) -> dict:
    """Time ``warmup + steps`` training steps of ``model`` and split the last ``steps`` by layer.

    One step is ``optimizer.zero_grad()``, the forward pass, the loss, ``loss.backward()`` and
    ``optimizer.step()``. A forward pre-hook and a forward hook on every leaf layer time its
    forward call. In the backward pass a hook on each layer's output fires when the gradient
    reaches it: from then until the next such event, the backward pass is working on that layer
    (its input and weight gradients), so that interval is charged to it. This is exact for a
    chain of layers (``nn.Sequential``, LeNet, AlexNet, VGG) and an approximation where branches
    run in between. On CUDA every timestamp waits for the device (``torch.cuda.synchronize``),
    which serialises the step but makes each interval the layer's own.

    The clock is, by default, this process's CPU time on the CPU (``time.process_time``: on one
    thread, see :func:`dlparts.runtime.limit_threads`, the time spent computing, whatever else
    the machine runs; on several threads it adds up their times) and wall-clock time on CUDA.

    The model is trained for those steps (its weights change) and left in training mode.

    Args:
        model: an ``nn.Module`` whose leaf layers do the work.
        x, y: one batch (inputs and targets), on the model's device.
        steps: timed steps (at least 1); warmup: untimed steps first (allocations, caches).
        loss_fn: ``loss_fn(output, y)``; default cross-entropy.
        optimizer: default SGD with learning rate 0.01 and momentum 0.9.
        clock: ``"cpu"``, ``"wall"`` or ``None`` (automatic, as above).

    Returns:
        A dict with

        - ``seconds``: per step, by kind (:data:`KINDS`), plus ``"optimizer"`` (the step) and
          ``"between layers"`` (the loss forward and backward, ``zero_grad`` and the Python
          between layer calls: the step's wall time not spent inside a layer);
        - ``share``: the same as fractions of the step (they sum to 1);
        - ``step_seconds``: the mean wall time of one step;
        - ``layers``: one row per leaf layer call (``name``, ``type``, ``kind``, ``forward_s``,
          ``backward_s``, per step), in forward order;
        - ``steps``, ``warmup``, ``device``, ``clock``.

    Raises:
        ValueError: for bad ``steps``/``warmup``/``clock``, or a model without leaf layers.
    """
    import torch

    steps = _validate.integer("steps", steps, minimum=1)
    warmup = _validate.integer("warmup", warmup, minimum=0)
    names, leaves = _leaves(model)
    if loss_fn is None:
        loss_fn = torch.nn.functional.cross_entropy
    if optimizer is None:
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    cuda = x.device.type == "cuda"
    timer = _clock(clock, x.device)

    def now():
        if cuda:
            torch.cuda.synchronize(x.device)
        return timer()

    fwd: dict[int, float] = {}  # index of a layer call -> forward seconds
    bwd: dict[int, float] = {}
    calls: list = []  # module of each layer call, in forward order, this step
    events: list = []  # (time, call index) as gradients arrive in the backward pass
    state = {"recording": False, "start": 0.0}

    def pre_hook(module, inputs):
        state["start"] = now()

    def post_hook(module, inputs, output):
        t = now()
        i = len(calls)
        calls.append(module)
        if state["recording"]:
            fwd[i] = fwd.get(i, 0.0) + t - state["start"]
        out = _first_tensor(output)
        if out is not None and out.requires_grad:
            out.register_hook(lambda grad, i=i: events.append((now(), i)))

    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves]
    handles += [m.register_forward_hook(post_hook) for m in leaves]
    was_training = model.training
    model.train()
    optimizer_s = 0.0
    total_s = 0.0
    layer_calls: list = []
    try:
        for step in range(warmup + steps):
            state["recording"] = step >= warmup
            calls.clear()
            events.clear()
            t0 = now()
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            t_step = now()
            optimizer.step()
            t1 = now()
            if not state["recording"]:
                continue
            layer_calls = list(calls)
            # each backward interval runs from one layer's gradient event to the next one
            ends = [t for t, _ in events[1:]] + [t_step]
            for (t, i), end in zip(events, ends):
                bwd[i] = bwd.get(i, 0.0) + end - t
            optimizer_s += t1 - t_step
            total_s += t1 - t0
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    rows = []
    seconds = dict.fromkeys(KINDS + STEP_PARTS, 0.0)
    for i, module in enumerate(layer_calls):
        kind = layer_kind(module)
        f, b = fwd.get(i, 0.0) / steps, bwd.get(i, 0.0) / steps
        seconds[kind] += f + b
        rows.append(
            {
                "name": names.get(module, type(module).__name__),
                "type": type(module).__name__,
                "kind": kind,
                "forward_s": f,
                "backward_s": b,
            }
        )
    step_s = total_s / steps
    seconds["optimizer"] = optimizer_s / steps
    inside = sum(seconds[k] for k in KINDS) + seconds["optimizer"]
    seconds["between layers"] = max(step_s - inside, 0.0)
    total = sum(seconds.values())
    share = {k: (v / total if total > 0 else 0.0) for k, v in seconds.items()}
    return {
        "seconds": seconds,
        "share": share,
        "step_seconds": step_s,
        "layers": rows,
        "steps": steps,
        "warmup": warmup,
        "device": str(x.device),
        "clock": "wall" if timer is time.perf_counter else "cpu",
    }


def dense_equivalent(conv, input_size, match: str = "macs"):
    """The fully connected layer "of the same size" as a 2-d convolution on a square input.

    Both take the same input, the ``C_in·H·W`` values of one image (flattened). ``match`` says
    what else is the same:

    - ``"macs"``: the same number of multiply-adds per image. The convolution does
      ``H'·W'·C_out·C_in·k²/groups`` of them; the dense layer gets
      ``round(that / (C_in·H·W))`` outputs (at least 1), so its ``in × out`` matches to within
      one row.
    - ``"shape"``: the same output size, ``C_out·H'·W'`` values: what the convolution would be
      without weight sharing or locality, with many more multiply-adds.

    Returns:
        ``(linear, info)``: a fresh ``nn.Linear`` on the convolution's device and dtype, and a
        dict with ``in_features``, ``out_features``, ``conv_macs``, ``dense_macs``,
        ``conv_params``, ``dense_params`` and ``output_shape`` (the convolution's, per image).

    Raises:
        ValueError: for a module that is not an ``nn.Conv2d``, an input it does not fit, or an
            unknown ``match``.
    """
    from torch import nn

    if not isinstance(conv, nn.Conv2d):
        raise ValueError(
            f"dense_equivalent takes an nn.Conv2d, got {type(conv).__name__}; "
            "pick the convolution out of the model (model.features.conv2)."
        )
    if match not in ("macs", "shape"):
        raise ValueError(f"match must be 'macs' or 'shape', got {match!r}.")
    h, w = _validate.pair("input_size", input_size)
    if isinstance(conv.padding, str):
        raise ValueError("dense_equivalent needs a numeric padding, not padding='same'/'valid'.")
    out_hw = [
        conv_output_size(n, k, s, p, d, exact=False)
        for n, k, s, p, d in zip((h, w), conv.kernel_size, conv.stride, conv.padding, conv.dilation)
    ]
    n_in = conv.in_channels * h * w
    per_out = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    n_conv_out = conv.out_channels * out_hw[0] * out_hw[1]
    conv_macs = n_conv_out * per_out
    n_out = max(1, round(conv_macs / n_in)) if match == "macs" else n_conv_out
    p = next(conv.parameters())
    linear = nn.Linear(n_in, n_out, device=p.device, dtype=p.dtype)
    info = {
        "in_features": n_in,
        "out_features": n_out,
        "conv_macs": conv_macs,
        "dense_macs": n_in * n_out,
        "conv_params": sum(q.numel() for q in conv.parameters()),
        "dense_params": sum(q.numel() for q in linear.parameters()),
        "output_shape": (conv.out_channels, *out_hw),
    }
    return linear, info


def time_forward_backward(module, x, *, repeats: int = 5, warmup: int = 1, clock=None) -> float:
    """Median seconds of one forward and backward pass of ``module`` on ``x``.

    The backward pass starts from a gradient of ones on the output and computes the gradients of
    the parameters and, when ``x.requires_grad``, of ``x``. ``repeats`` timings after ``warmup``
    untimed ones; on CUDA the device is synchronised before each clock read. ``clock`` as in
    :func:`time_by_layer_type` (CPU time on the CPU, wall-clock time on CUDA).
    """
    import statistics

    import torch

    repeats = _validate.integer("repeats", repeats, minimum=1)
    warmup = _validate.integer("warmup", warmup, minimum=0)
    cuda = x.device.type == "cuda"
    timer = _clock(clock, x.device)
    times = []
    for r in range(warmup + repeats):
        module.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize(x.device)
        t0 = timer()
        out = module(x)
        out.backward(torch.ones_like(out))
        if cuda:
            torch.cuda.synchronize(x.device)
        if r >= warmup:
            times.append(timer() - t0)
    return statistics.median(times)


def saved_tensor_bytes(model, x, y=None, *, loss_fn=None) -> dict:
    """Bytes autograd saves for the backward pass of one forward pass, beside the forward bytes.

    Runs ``model(x)`` (and the loss, when ``y`` is given) inside
    ``torch.autograd.graph.saved_tensors_hooks``: every tensor an operation keeps for its
    backward formula passes through the hook. A tensor is counted once per storage (a view, or a
    tensor two operations save, costs nothing more) and charged to the leaf layer that saved it
    first; tensors saved outside any leaf layer (the loss, functional calls) go to
    ``"(outside layers)"``. Storages of the model's parameters are counted apart: they exist
    anyway.

    What gets saved depends on the operation, not on the layer table: a convolution or linear
    layer keeps its *input* (for the weight gradient; its weight too, counted apart, when its
    input needs a gradient), ReLU, tanh and sigmoid keep their
    *output*, max pooling keeps its input and the int64 *indices* of the maxima, dropout its
    mask, local response normalization several intermediate tensors. Nothing is run backward.

    Args:
        model: an ``nn.Module`` (its train/eval mode is used as it is: dropout saves a mask only
            in training mode).
        x: one batch; y: targets, to include the loss (``loss_fn``, default cross-entropy).

    Returns:
        A dict with

        - ``saved_bytes``: unique non-parameter storages saved;
        - ``parameter_bytes``: the parameters' storages among them;
        - ``forward_bytes``: the sum of every leaf layer's output bytes (each output counted
          once, as :func:`dlparts.arith.table_totals` counts a layer table, times the batch);
        - ``input_bytes``: the bytes of ``x``;
        - ``ratio``: ``saved_bytes / forward_bytes``;
        - ``layers``: one row per leaf layer call (``name``, ``type``, ``kind``,
          ``output_bytes``, ``saved_bytes``) in forward order, then ``"(outside layers)"`` when
          anything was saved there.
    """
    import torch

    names, leaves = _leaves(model)
    if loss_fn is None:
        loss_fn = torch.nn.functional.cross_entropy
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: set[int] = set()
    rows: list[dict] = []
    outside = {"saved_bytes": 0}
    current: list = []  # stack of rows of the layers being called
    param_bytes = {"n": 0}

    def pack(t):
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in seen:
            seen.add(ptr)
            if ptr in param_ptrs:
                param_bytes["n"] += storage.nbytes()
            else:
                target = current[-1] if current else outside
                target["saved_bytes"] += storage.nbytes()
        return t

    def unpack(t):
        return t

    def pre_hook(module, inputs):
        row = {
            "name": names.get(module, type(module).__name__),
            "type": type(module).__name__,
            "kind": layer_kind(module),
            "output_bytes": 0,
            "saved_bytes": 0,
        }
        rows.append(row)
        current.append(row)

    def post_hook(module, inputs, output):
        row = current.pop()
        out = _first_tensor(output)
        if out is not None:
            row["output_bytes"] = out.numel() * out.element_size()

    handles = [m.register_forward_pre_hook(pre_hook) for m in leaves]
    handles += [m.register_forward_hook(post_hook) for m in leaves]
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
            out = model(x)
            if y is not None:
                loss_fn(out, y)
    finally:
        for h in handles:
            h.remove()
    if outside["saved_bytes"]:
        rows.append(
            {
                "name": "(outside layers)",
                "type": "-",
                "kind": "other",
                "output_bytes": 0,
                "saved_bytes": outside["saved_bytes"],
            }
        )
    saved = sum(r["saved_bytes"] for r in rows)
    forward = sum(r["output_bytes"] for r in rows)
    return {
        "saved_bytes": saved,
        "parameter_bytes": param_bytes["n"],
        "forward_bytes": forward,
        "input_bytes": x.numel() * x.element_size(),
        "ratio": saved / forward if forward else float("nan"),
        "layers": rows,
    }


# --------------------------------------------------------------------------- private helpers


def _leaves(model):
    names, leaves = leaf_modules(model)
    if leaves == [model] and not type(model).__module__.startswith("torch.nn.modules"):
        raise ValueError(
            f"{type(model).__name__} has no layers to profile; pass an nn.Module built from "
            "layers (nn.Conv2d, nn.Linear, ...)."
        )
    return names, leaves


def _first_tensor(output):
    import torch

    if isinstance(output, (tuple, list)):
        output = output[0] if output else None
    return output if torch.is_tensor(output) else None


def _clock(clock, device):
    """The timer: ``"cpu"`` (this process's CPU time), ``"wall"``, or ``None`` for automatic."""
    if clock is None:
        clock = "wall" if device.type == "cuda" else "cpu"
    if clock not in ("cpu", "wall"):
        raise ValueError(f"clock must be 'cpu', 'wall' or None (automatic), got {clock!r}.")
    if clock == "cpu" and device.type == "cuda":
        raise ValueError("clock='cpu' cannot time CUDA kernels; use clock='wall' (or None).")
    return time.process_time if clock == "cpu" else time.perf_counter
