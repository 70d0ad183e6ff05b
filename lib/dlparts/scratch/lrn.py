"""(in progress)"""


def lrn_forward(*args, **kwargs):
    raise NotImplementedError


def lrn_backward(*args, **kwargs):
    raise NotImplementedError
