"""Weight penalties added to the loss, as Keras's `kernel_regularizer=L2(l2)`, `L1(l1)` or `L1L2(l1, l2)`.

Each is added once per batch to the batch's mean loss (not divided by the
batch size), and its gradient to the kernel's gradient.
"""
import numpy as np

from . import utils


class L2:
    """penalty(W) = l2 * sum(W ** 2)   (no 1/2, and not divided by the batch size: Keras's form)
    d penalty / dW = 2 * l2 * W        (in, out), added to the kernel's gradient
    """

    def __init__(self, l2=0.01):
        self.l2 = _non_negative("l2", l2)

    def __call__(self, kernel):
        return self.l2 * float(_sum_of_squares(kernel))

    def gradient(self, kernel):
        return (2 * self.l2) * kernel


class L1:
    """penalty(W) = l1 * sum(|W|)
    d penalty / dW = l1 * sign(W)      (0 where W is exactly 0, as TensorFlow's gradient of |x|)
    """

    def __init__(self, l1=0.01):
        self.l1 = _non_negative("l1", l1)

    def __call__(self, kernel):
        return self.l1 * float(np.abs(kernel).sum())

    def gradient(self, kernel):
        return self.l1 * np.sign(kernel)


class L1L2:
    """penalty(W) = l1 * sum(|W|) + l2 * sum(W ** 2);  d penalty / dW = l1 * sign(W) + 2 * l2 * W"""

    def __init__(self, l1=0.0, l2=0.0):
        self.l1, self.l2 = _non_negative("l1", l1), _non_negative("l2", l2)

    def __call__(self, kernel):
        return self.l1 * float(np.abs(kernel).sum()) + self.l2 * float(_sum_of_squares(kernel))

    def gradient(self, kernel):
        return self.l1 * np.sign(kernel) + (2 * self.l2) * kernel


def get(l1=0.0, l2=0.0):
    """The regularizer for these factors: L1L2 if both, L1 or L2 if one, None if neither."""
    if l1 and l2:
        return L1L2(l1, l2)
    return L1(l1) if l1 else L2(l2) if l2 else None


def _non_negative(name, value):
    value = float(value)
    if not (value >= 0 and value != float("inf")):
        raise ValueError(f"{name} must be a non-negative number, got {value}")
    return value


def _sum_of_squares(kernel):
    # sum(W * W) as one dot product of the flattened kernel with itself: no (in, out) temporary.
    flat = kernel.reshape(-1)
    return flat @ flat


def __getattr__(name):
    """`regularizers.OrthogonalRegularizer` and the others numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("regularizers", name, ("L1", "L1L2", "L2"))
