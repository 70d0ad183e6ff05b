"""From-scratch NumPy layers, CS231n style.

Each layer is a pair: ``*_forward(...) -> (out, cache)`` and ``*_backward(dout, cache) -> grads``.
Arrays are NCHW; float32 and float64 both work and keep their dtype. Check any backward pass with
:func:`dlparts.scratch.gradcheck.numerical_gradient`.
"""
