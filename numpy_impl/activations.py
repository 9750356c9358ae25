"""Activations, each with its backward pass right beside its forward pass.

An activation object remembers what its backward pass needs from the forward
pass (the way a Keras layer keeps its inputs on the gradient tape).
"""
import numpy as np


class ReLU:
    """relu(z) = max(z, 0); its derivative is 1 where z > 0, else 0."""

    name = "relu"

    def forward(self, logits):
        # In place: the layer owns `logits` and keeps only the activated
        # values, which saves one (batch, units) array per layer and step.
        self.outputs = np.maximum(logits, 0, out=logits)
        return self.outputs

    def backward(self, grad_outputs):
        # d relu / dz = [z > 0] = [relu(z) > 0]; the gradient is masked in place.
        grad_outputs *= self.outputs > 0
        return grad_outputs


class Softmax:
    """softmax(z)_k = exp(z_k) / sum_j exp(z_j), over the last axis."""

    name = "softmax"

    def forward(self, logits):
        self.outputs = softmax(logits)
        return self.outputs

    def backward(self, grad_outputs):
        # Jacobian-vector product: dz_k = p_k * (g_k - sum_j g_j p_j).
        # (The output layer never comes here: the loss gives d loss / d logits
        # directly, as Keras does. This path serves a softmax anywhere else.)
        p = self.outputs
        return p * (grad_outputs - np.sum(grad_outputs * p, axis=1, keepdims=True))


class Linear:
    """The identity: what Keras calls activation=None or "linear"."""

    name = "linear"

    def forward(self, logits):
        self.outputs = logits
        return logits

    def backward(self, grad_outputs):
        return grad_outputs


def softmax(logits):
    """Numerically stable softmax of (batch, classes) logits.

    exp(z - max z) cannot overflow, and the shift cancels in the ratio.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)   # (B, K), every entry <= 0
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


ACTIVATIONS = {"relu": ReLU, "softmax": Softmax, "linear": Linear, None: Linear}


def get(name):
    """A fresh activation object from its Keras name ("relu", "softmax", "linear" or None)."""
    if name not in ACTIVATIONS:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}: use one of {known}")
    return ACTIVATIONS[name]()
