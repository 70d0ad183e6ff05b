"""Convolution arithmetic: output sizes, padding, parameter counts and whole-network tables.

The one formula behind it all: a layer with kernel extent ``F`` (dilated to ``d(F - 1) + 1``),
stride ``S`` and padding ``P`` maps an input of width ``W1`` to

    W2 = (W1 - d(F - 1) - 1 + 2P) / S + 1

and the division must come out whole for the kernel to tile the input exactly.

- :func:`conv_output_size`, :func:`pool_output_size`, :func:`same_padding`: one dimension.
- :func:`conv_transpose_output_size`: the same for a transposed convolution, which maps a
  convolution's output size back to its input size (``output_padding`` picks among the inputs
  that a strided convolution maps to one size).
- :func:`conv_params`, :func:`conv_macs`: weights plus biases, and multiply-adds, of a
  (grouped) convolution.
- :func:`layer_table`: one row per layer of a PyTorch model (shape, parameters, activations,
  multiply-adds), measured with forward hooks on a dummy input, never typed in.
- :func:`receptive_field`: how far each layer of a chain of convolutions and poolings sees.
"""

from __future__ import annotations

from collections.abc import Sequence

from ._validate import integer as _check_int
from ._validate import pair as _pair

__all__ = [
    "conv_output_size",
    "pool_output_size",
    "same_padding",
    "conv_transpose_output_size",
    "conv_params",
    "conv_macs",
    "layer_table",
    "receptive_field",
    "table_totals",
    "count_params",
    "leaf_modules",
]


def conv_output_size(n, kernel, stride=1, padding=0, dilation=1, exact=True) -> int:
    """Output size of a convolution along one dimension: ``(n + 2p - d(k - 1) - 1) / s + 1``.

    Args:
        n: input size (height or width), positive.
        kernel: kernel extent ``F`` before dilation, positive.
        stride: step ``S`` between kernel positions, positive.
        padding: zeros added on each side ``P``, non-negative.
        dilation: spacing ``d`` between kernel taps (1 = an ordinary convolution).
        exact: when true, a stride that does not tile the input is an error (the lecture's
            "2.33: does not fit"); when false the size is floored as PyTorch does, and the last
            rows or columns of the input are never visited.

    Returns:
        The output size, an int.

    Raises:
        ValueError: for non-positive ``n``, ``kernel``, ``stride`` or ``dilation``, negative
            ``padding``, a dilated kernel larger than the padded input, or (``exact=True``) a
            stride that does not fit; the message shows the fractional result to two decimals.

    >>> conv_output_size(7, 3, stride=2)
    3
    >>> conv_output_size(7, 3, stride=3, exact=False)
    2
    """
    return _output_size("kernel", n, kernel, stride, padding, dilation, exact)


def pool_output_size(n, kernel, stride=None, padding=0, exact=True) -> int:
    """Output size of a pooling window along one dimension (``stride`` defaults to ``kernel``).

    Pooling has the same arithmetic as convolution, with no parameters. ``2x2/2`` halves a side;
    AlexNet's overlapping ``3x3/2`` maps 55 to 27.

    Raises:
        ValueError: as :func:`conv_output_size`, and when ``padding`` exceeds half the window
            (PyTorch's rule: a window must never lie wholly in the padding).
    """
    stride = kernel if stride is None else stride
    _check_int("kernel", kernel, 1)
    _check_int("padding", padding, 0)
    if padding * 2 > kernel:
        raise ValueError(
            f"Pooling padding {padding} is more than half the window {kernel}; "
            "use padding <= kernel // 2."
        )
    return _output_size("pooling window", n, kernel, stride, padding, 1, exact)


def same_padding(kernel, dilation=1) -> int:
    """The padding that keeps the size at stride 1: ``(d(k - 1)) / 2``.

    Raises:
        ValueError: when the effective extent ``d(k - 1) + 1`` is even, since no symmetric
            padding keeps the size then (use an odd kernel, or pad asymmetrically yourself).

    >>> same_padding(3), same_padding(5), same_padding(3, dilation=2)
    (1, 2, 2)
    """
    kernel = _check_int("kernel", kernel, 1)
    dilation = _check_int("dilation", dilation, 1)
    extent = dilation * (kernel - 1) + 1
    if extent % 2 == 0:
        raise ValueError(
            f"Effective kernel extent {extent} is even, so no symmetric padding keeps the size; "
            "use an odd kernel (3, 5, 7) or pad one side more than the other."
        )
    return (extent - 1) // 2


def conv_transpose_output_size(n, kernel, stride=1, padding=0, output_padding=0, dilation=1) -> int:
    """Output size of a transposed convolution along one dimension.

    ``o = (n - 1) s - 2p + d(k - 1) + output_padding + 1``: the input size of the convolution
    with the same ``kernel``, ``stride``, ``padding`` and ``dilation`` whose output size is ``n``
    (Dumoulin and Visin's relationship ``o' = s(i' - 1) + a + k - 2p``, with ``a`` the
    ``output_padding``). A strided convolution maps ``s`` neighbouring input sizes to one output
    size (``conv_output_size(5, 3, 2, 1) == conv_output_size(6, 3, 2, 1) == 3``);
    ``output_padding`` in ``0 .. s - 1`` says which of them to return, adding rows and columns
    on one side (bottom and right) only. It is the same as ``torch.nn.ConvTranspose2d``'s.

    Args:
        n: input size of the transposed convolution (the convolution's output size), positive.
        kernel, stride, dilation: positive; ``padding``, ``output_padding``: non-negative.

    Returns:
        The output size, an int.

    Raises:
        ValueError: for a bad argument; for ``output_padding`` not smaller than the stride or
            the dilation (PyTorch's rule: it must be smaller than at least one of them); or
            when the padding crops away everything (a non-positive result). The message says
            what to change.

    >>> conv_transpose_output_size(3, 3, stride=2, padding=1)
    5
    >>> conv_transpose_output_size(3, 3, stride=2, padding=1, output_padding=1)
    6
    """
    n = _check_int("input size n", n, 1)
    kernel = _check_int("kernel", kernel, 1)
    stride = _check_int("stride", stride, 1)
    padding = _check_int("padding", padding, 0)
    output_padding = _check_int("output_padding", output_padding, 0)
    dilation = _check_int("dilation", dilation, 1)
    if output_padding >= stride and output_padding >= dilation:
        raise ValueError(
            f"output_padding={output_padding} must be smaller than the stride ({stride}) or the "
            f"dilation ({dilation}): it only chooses among the {stride} input sizes that a "
            f"stride-{stride} convolution maps to one output size. Use output_padding in "
            f"0..{max(stride, dilation) - 1}, or change the padding to move the size further."
        )
    full = (n - 1) * stride + dilation * (kernel - 1) + output_padding + 1
    out = full - 2 * padding
    if out < 1:
        raise ValueError(
            f"Padding {padding} crops the whole output: ({n} - 1)*{stride} - 2*{padding} + "
            f"{dilation}*({kernel} - 1) + {output_padding} + 1 = {out}. Use padding at most "
            f"{(full - 1) // 2}, or a larger input, kernel or stride."
        )
    return out


def conv_params(in_channels, out_channels, kernel, bias=True, groups=1) -> int:
    """Learnable parameters of a 2-D convolution: ``out * (in / groups) * kh * kw (+ out)``.

    Stride, padding and dilation do not appear: they move the same filters differently but
    add no weights. Ten 5x5 filters on 3 channels: ``10 * (3*5*5 + 1) = 760``.

    Args:
        kernel: an int or an ``(h, w)`` pair.
        groups: channel groups (``groups == in_channels`` is a depthwise convolution).

    Raises:
        ValueError: for non-positive sizes, or channels not divisible by ``groups``.
    """
    cin = _check_int("in_channels", in_channels, 1)
    cout = _check_int("out_channels", out_channels, 1)
    groups = _check_int("groups", groups, 1)
    kh, kw = _pair("kernel", kernel)
    if cin % groups or cout % groups:
        raise ValueError(
            f"in_channels={cin} and out_channels={cout} must both be divisible by groups={groups}."
        )
    return cout * (cin // groups) * kh * kw + (cout if bias else 0)


def conv_macs(in_channels, out_channels, kernel, output_size, groups=1) -> int:
    """Multiply-adds of one 2-D convolution on one sample: ``H2 W2 * out * (in / groups) kh kw``.

    Every output value is a dot product over its group's ``in / groups`` channels and the
    ``kh x kw`` window; biases and the additions that start each sum are not counted (the
    convention of :func:`layer_table` and of the MobileNet paper). A depthwise convolution is
    ``groups == in_channels``; a depthwise-separable one adds a 1x1 convolution after it.

    Args:
        kernel, output_size: an int or an ``(h, w)`` pair (``output_size`` is the output's
            height and width, e.g. from :func:`conv_output_size`).
        groups: channel groups, dividing both channel counts.

    Raises:
        ValueError: for non-positive sizes, or channels not divisible by ``groups``.

    >>> conv_macs(512, 512, 3, 14)  # MobileNet's 14x14x512 example layer
    462422016
    """
    cin = _check_int("in_channels", in_channels, 1)
    cout = _check_int("out_channels", out_channels, 1)
    groups = _check_int("groups", groups, 1)
    kh, kw = _pair("kernel", kernel)
    oh, ow = _pair("output_size", output_size)
    if cin % groups or cout % groups:
        raise ValueError(
            f"in_channels={cin} and out_channels={cout} must both be divisible by groups={groups}."
        )
    return oh * ow * cout * (cin // groups) * kh * kw


# --------------------------------------------------------------------------- layer tables


def layer_table(model, input_shape) -> list[dict]:
    """One row per leaf layer of ``model``, in the order the forward pass calls them.

    A dummy batch of one sample (zeros, ``float32``, on the CPU) is pushed through the model with a
    forward hook on every leaf module, so every number comes from the definition.

    Args:
        model: a ``torch.nn.Module``. Its parameters are moved to the CPU for the dummy pass and
            moved back afterwards; its train/eval mode is restored.
        input_shape: the shape of ONE sample, without the batch dimension, e.g. ``(3, 224, 224)``.

    Returns:
        A list of dicts with keys

        - ``name``: the module's qualified name (``"features.0"``),
        - ``type``: its class name (``"Conv2d"``),
        - ``output_shape``: a tuple without the batch dimension,
        - ``params``: parameters owned by this layer (shared ones counted where first used),
        - ``activations``: output elements per sample,
        - ``macs``: multiply-adds per sample (convolution and linear layers; 0 otherwise). A
          transposed convolution counts those of the convolution it transposes: input values
          times ``out_channels / groups`` times the kernel size.

        A layer called twice gives two rows. Parameters that no called leaf layer owns (a
        parameter of a container, a layer the forward pass skips) get one last row, so the sum of
        ``params`` is always the model's total. Multiply the sum of ``activations`` by 4 for
        float32 bytes per image (see :func:`table_totals`).

    Raises:
        ValueError: for a bad ``input_shape``, or when the model rejects the dummy input (the
            message repeats PyTorch's and reminds you to leave the batch dimension out).
    """
    import torch

    try:
        shape = tuple(int(s) for s in input_shape)
    except TypeError as e:
        raise ValueError(
            f"input_shape must be a tuple of ints such as (3, 224, 224), got {input_shape!r}."
        ) from e
    if not shape or any(s <= 0 for s in shape):
        raise ValueError(f"input_shape must be a non-empty tuple of positive ints, got {shape}.")

    names, leaves = leaf_modules(model)
    rows: list[dict] = []
    seen: set[int] = set()

    def hook(module, inputs, output):
        if isinstance(output, (tuple, list)):
            output = output[0]
        if not torch.is_tensor(output):
            return
        own = 0
        for p in module.parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                own += p.numel()
        rows.append(
            {
                "name": names.get(module, type(module).__name__),
                "type": type(module).__name__,
                "output_shape": tuple(output.shape[1:]),
                "params": int(own),
                "activations": int(output[0].numel()),
                "macs": int(_macs(module, inputs, output)),
            }
        )

    try:
        first = next(model.parameters())
        old_device = first.device
        dtype = first.dtype if first.dtype in (torch.float32, torch.float64) else torch.float32
    except StopIteration:
        old_device, dtype = None, torch.float32
    was_training = model.training
    handles = [m.register_forward_hook(hook) for m in leaves]
    try:
        model.eval()
        if old_device is not None and old_device.type != "cpu":
            model.to("cpu")
        with torch.no_grad():
            try:
                model(torch.zeros((1, *shape), dtype=dtype))
            except (RuntimeError, ValueError) as e:
                raise ValueError(
                    f"The model rejected a dummy input of shape (1, *{shape}): {e}. "
                    "input_shape is ONE sample without the batch dimension, e.g. (3, 224, 224)."
                ) from e
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
        if old_device is not None and old_device.type != "cpu":
            model.to(old_device)
    # Parameters held outside the leaf layers (or by layers the pass never called) still count.
    rest = sum(p.numel() for p in model.parameters() if id(p) not in seen)
    if rest:
        rows.append(
            {
                "name": "(parameters outside the layers called)",
                "type": "-",
                "output_shape": (),
                "params": int(rest),
                "activations": 0,
                "macs": 0,
            }
        )
    return rows


def leaf_modules(model):
    """``(names, leaves)``: the modules of ``model`` that hold no other module (its layers), in
    registration order, and a dict from each module to its dotted name."""
    names = {m: n for n, m in model.named_modules()}
    return names, [m for m in model.modules() if not any(True for _ in m.children())]


def count_params(model, trainable_only: bool = False) -> int:
    """Number of parameters of a PyTorch module (each shared tensor counted once).

    ``trainable_only`` counts only tensors with ``requires_grad`` (what an optimizer updates).
    """
    if not hasattr(model, "parameters"):
        raise ValueError(
            f"count_params takes a torch.nn.Module, got {type(model).__name__}; "
            "for a list of tensors use sum(t.numel() for t in tensors)."
        )
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def table_totals(rows, bytes_per_value: int = 4) -> dict:
    """Sum a :func:`layer_table`: ``params``, ``activations``, ``macs`` and activation memory.

    ``activation_bytes`` counts each layer's output once (``bytes_per_value`` = 4 for float32);
    a training step keeps these for the backward pass and roughly doubles them with gradients.
    """
    params = sum(r["params"] for r in rows)
    acts = sum(r["activations"] for r in rows)
    return {
        "params": params,
        "activations": acts,
        "macs": sum(r.get("macs", 0) for r in rows),
        "activation_bytes": acts * bytes_per_value,
        "param_bytes": params * bytes_per_value,
    }


# --------------------------------------------------------------------------- receptive fields


def receptive_field(layers, input_size: int | None = None) -> list[dict]:
    """Receptive field of each layer in a chain of convolutions and poolings (one axis).

    A unit's receptive field is the span of input pixels it can see. Through a chain,

        r_l = r_{l-1} + (d_l (k_l - 1)) * j_{l-1},    j_l = j_{l-1} * s_l,

    where ``j`` (the jump) is the distance in input pixels between neighbouring units of layer
    ``l``; three stacked 3x3 convolutions see 7x7, as one 7x7 does.

    Args:
        layers: a sequence whose items are ``(kernel, stride=1, dilation=1, padding=0)`` tuples
            (optionally led by a name: ``("conv1", 11, 4)``), dicts with those keys, or
            ``nn.Module`` s (an ``nn.Sequential`` or any module is walked in definition order;
            layers without a ``kernel_size``, such as ReLU, are skipped). It is treated as a
            single chain: for a branched network pass the layers of one path.
        input_size: if given, the output size of each layer is computed too (floored).

    Returns:
        One dict per layer with ``name``, ``kernel``, ``stride``, ``dilation``, ``rf`` (the
        receptive field in input pixels), ``jump`` and, with ``input_size``, ``size``
        (the output size) and ``start`` (input coordinate of the first unit's centre; negative
        means it sits in the padding).
    """
    try:
        from torch import nn

        if isinstance(layers, nn.Module):
            names, leaves = leaf_modules(layers)
            named = [(names[m], m) for m in leaves]
            specs = []
            for n, m in named:
                spec = _layer_spec(m)
                if spec is not None:
                    specs.append((n or spec[0], *spec[1:]))
            layers = specs
    except ImportError:  # pragma: no cover
        pass
    rf, jump, start = 1, 1, 0.5
    size = input_size
    if size is not None:
        size = _check_int("input_size", size, 1)
    rows = []
    for layer in layers:
        spec = _layer_spec(layer)
        if spec is None:
            continue
        name, k, s, d, p = spec
        k, s = _check_int("kernel", k, 1), _check_int("stride", s, 1)
        d = _check_int("dilation", d, 1)
        p = _check_int("padding", p, 0)
        extent = d * (k - 1) + 1
        rf = rf + (extent - 1) * jump
        start = start + ((extent - 1) / 2 - p) * jump
        jump = jump * s
        row = {"name": name, "kernel": k, "stride": s, "dilation": d, "rf": rf, "jump": jump}
        if size is not None:
            size = _output_size("kernel", size, k, s, p, d, exact=False)
            row["size"] = size
            row["start"] = start - 0.5
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- private helpers


def _output_size(what, n, kernel, stride, padding, dilation, exact) -> int:
    n = _check_int("input size n", n, 1)
    kernel = _check_int("kernel", kernel, 1)
    stride = _check_int("stride", stride, 1)
    padding = _check_int("padding", padding, 0)
    dilation = _check_int("dilation", dilation, 1)
    extent = dilation * (kernel - 1) + 1
    padded = n + 2 * padding
    if extent > padded:
        dil = f" (kernel {kernel} at dilation {dilation})" if dilation > 1 else ""
        raise ValueError(
            f"The {what} extent {extent}{dil} is larger than the padded input "
            f"{n} + 2*{padding} = {padded}; use a smaller kernel or more padding."
        )
    span = padded - extent
    if span % stride and exact:
        frac = span / stride + 1
        raise ValueError(
            f"Stride {stride} does not fit: ({n} - {extent} + 2*{padding})/{stride} + 1 = "
            f"{frac:.2f} is not a whole number of {what} positions. Change the stride or the "
            f"padding, or pass exact=False to floor it as PyTorch does ({span // stride + 1})."
        )
    return span // stride + 1


def _macs(module, inputs, output) -> int:
    """Multiply-adds per sample of a convolution or linear layer (0 for everything else)."""
    from torch import nn

    per_sample = output[0].numel() if output.dim() > 1 else output.numel()
    if isinstance(module, nn.modules.conv._ConvNd):
        k = 1
        for s in module.kernel_size:
            k *= s
        if module.transposed:
            # each input value is spread over a kernel-sized patch of out/groups channels:
            # the multiply-adds of the convolution whose backward pass this layer is
            return inputs[0][0].numel() * (module.out_channels // module.groups) * k
        return per_sample * (module.in_channels // module.groups) * k
    if isinstance(module, nn.Linear):
        return per_sample * module.in_features
    return 0


def _layer_spec(layer):
    """(name, kernel, stride, dilation, padding) along one axis for a layer or a tuple."""
    try:
        from torch import nn
    except ImportError:  # pragma: no cover
        nn = None
    if nn is not None and isinstance(layer, nn.Module):
        k = getattr(layer, "kernel_size", None)
        if k is None:
            return None  # a pointwise layer (ReLU, BatchNorm): the field does not change
        s = getattr(layer, "stride", 1)
        d = getattr(layer, "dilation", 1)
        p = getattr(layer, "padding", 0)
        first = lambda v: v[0] if isinstance(v, (tuple, list)) else v
        k, s, d = first(k), first(s) or first(k), first(d)
        p = first(p)
        if p == "same":
            p = d * (k - 1) // 2
        elif p == "valid":
            p = 0
        return type(layer).__name__, int(k), int(s), int(d), int(p)
    if isinstance(layer, dict):
        return (
            layer.get("name", "layer"),
            layer["kernel"],
            layer.get("stride", 1),
            layer.get("dilation", 1),
            layer.get("padding", 0),
        )
    if isinstance(layer, Sequence) and not isinstance(layer, str):
        if isinstance(layer[0], str):
            name, *rest = layer
        else:
            name, rest = "layer", list(layer)
        if not 1 <= len(rest) <= 4:
            raise ValueError(
                f"A layer spec is (kernel, stride=1, dilation=1, padding=0), optionally led by "
                f"a name; got {layer!r}."
            )
        rest = list(rest) + [1, 1, 0][len(rest) - 1 :]
        return (name, *rest)
    raise ValueError(
        f"Cannot read a kernel from {layer!r}; pass (kernel, stride, dilation) tuples, dicts "
        "with a 'kernel' key, or nn.Modules."
    )
