"""Activations, each with its backward pass right beside its forward pass.

An activation object remembers what its backward pass needs from the forward
pass (the way a Keras layer keeps its inputs on the gradient tape). Every one
maps (B, units) to (B, units), entry by entry (softmax: row by row), and its
backward pass multiplies dL/doutputs by the derivative, entry by entry:

    dL/dz = dL/doutputs * f'(z)

Names and defaults are Keras's (keras.activations): "relu", "sigmoid", "tanh",
"leaky_relu" (slope 0.2), "elu", "selu", "softplus", "softsign", "silu" (and
"swish"), "gelu" (the exact erf form), "softmax", "linear" or None.
"""
import math

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


class Sigmoid:
    """sigmoid(z) = 1 / (1 + exp(-z)); its derivative is sigmoid(z) (1 - sigmoid(z)), at most 1/4."""

    name = "sigmoid"

    def forward(self, logits):
        self.outputs = sigmoid(logits)
        return self.outputs

    def backward(self, grad_outputs):
        s = self.outputs
        return grad_outputs * s * (1 - s)


class Tanh:
    """tanh(z) = (exp(z) - exp(-z)) / (exp(z) + exp(-z)); its derivative is 1 - tanh(z)^2."""

    name = "tanh"

    def forward(self, logits):
        self.outputs = np.tanh(logits)
        return self.outputs

    def backward(self, grad_outputs):
        return grad_outputs * (1 - np.square(self.outputs))


class LeakyReLU:
    """leaky_relu(z) = z where z > 0, else negative_slope * z; derivative 1 or negative_slope.

    keras.activations.leaky_relu's slope is 0.2 (so is Dense(activation="leaky_relu")'s);
    the layer keras.layers.LeakyReLU's is 0.3.
    """

    name = "leaky_relu"

    def __init__(self, negative_slope=0.2):
        self.negative_slope = float(negative_slope)

    def forward(self, logits):
        self.positive = logits > 0
        self.outputs = np.where(self.positive, logits, self.negative_slope * logits)
        return self.outputs

    def backward(self, grad_outputs):
        return grad_outputs * np.where(self.positive, 1.0, self.negative_slope).astype(grad_outputs.dtype)


class ELU:
    """elu(z) = z where z > 0, else alpha (exp(z) - 1); derivative 1, else alpha exp(z) = elu(z) + alpha."""

    name = "elu"

    def __init__(self, alpha=1.0):
        self.alpha = float(alpha)

    def forward(self, logits):
        self.positive = logits > 0
        self.outputs = np.where(self.positive, logits, self.alpha * np.expm1(np.minimum(logits, 0)))
        return self.outputs

    def backward(self, grad_outputs):
        return grad_outputs * np.where(self.positive, 1.0, self.outputs + self.alpha)


class SELU(ELU):
    """selu(z) = scale * elu(z, alpha), with Keras's fixed alpha = 1.6732632423543772 and
    scale = 1.0507009873554805 (they keep the mean and variance of the units near 0 and 1);
    derivative scale, else scale alpha exp(z)."""

    name = "selu"
    ALPHA, SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946

    def __init__(self):
        super().__init__(self.ALPHA)

    def forward(self, logits):
        self.outputs = self.SCALE * super().forward(logits)
        return self.outputs

    def backward(self, grad_outputs):
        # elu(z) + alpha = selu(z) / scale + alpha where z <= 0
        return grad_outputs * np.where(self.positive, self.SCALE, self.outputs + self.SCALE * self.alpha)


class Softplus:
    """softplus(z) = log(1 + exp(z)), a smooth ReLU; its derivative is sigmoid(z)."""

    name = "softplus"

    def forward(self, logits):
        self.logits = logits.copy()
        # max(z, 0) + log(1 + exp(-|z|)): exp never overflows, and log1p keeps the small tail exact.
        self.outputs = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))
        return self.outputs

    def backward(self, grad_outputs):
        return grad_outputs * sigmoid(self.logits)


class Softsign:
    """softsign(z) = z / (1 + |z|); its derivative is 1 / (1 + |z|)^2."""

    name = "softsign"

    def forward(self, logits):
        self.denominator = 1 + np.abs(logits)
        self.outputs = logits / self.denominator
        return self.outputs

    def backward(self, grad_outputs):
        return grad_outputs / np.square(self.denominator)


class SiLU:
    """silu(z) = swish(z) = z sigmoid(z); its derivative is sigmoid(z) (1 + z (1 - sigmoid(z)))."""

    name = "silu"

    def forward(self, logits):
        self.logits, self.s = logits.copy(), sigmoid(logits)
        self.outputs = logits * self.s
        return self.outputs

    def backward(self, grad_outputs):
        s = self.s
        return grad_outputs * (s * (1 + self.logits * (1 - s)))


class GELU:
    """gelu(z) = z Phi(z), Phi the standard normal's distribution function. Keras's default is exact:

        gelu(z)  = 0.5 z (1 + erf(z / sqrt 2))
        gelu'(z) = Phi(z) + z phi(z),   phi(z) = exp(-z^2 / 2) / sqrt(2 pi)

    approximate=True is the tanh form, with u = sqrt(2/pi) (z + 0.044715 z^3):
        gelu(z)  = 0.5 z (1 + tanh u)
        gelu'(z) = 0.5 (1 + tanh u) + 0.5 z (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 z^2)

    NumPy has no erf: the exact form takes the standard library's math.erf entry by entry,
    correct to the last bit or so in float64, and about 140 ns an entry here (see erf).
    """

    name = "gelu"

    def __init__(self, approximate=False):
        self.approximate = bool(approximate)

    def forward(self, logits):
        z = self.logits = logits.copy()
        if self.approximate:
            self.t = np.tanh(math.sqrt(2 / math.pi) * (z + 0.044715 * z ** 3))
            self.outputs = 0.5 * z * (1 + self.t)
        else:
            self.cdf = 0.5 * (1 + erf(z / math.sqrt(2)))
            self.outputs = z * self.cdf
        return self.outputs

    def backward(self, grad_outputs):
        z = self.logits
        if self.approximate:
            t = self.t
            slope = 0.5 * (1 + t) + 0.5 * z * (1 - t * t) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * z * z)
        else:
            slope = self.cdf + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
        return grad_outputs * slope


def sigmoid(logits):
    """1 / (1 + exp(-z)), computed without overflow: exp(-|z|) <= 1 on both sides,
    sigmoid(z) = 1 / (1 + exp(-z)) for z >= 0 and exp(z) / (1 + exp(z)) for z < 0."""
    e = np.exp(-np.abs(logits))
    return np.where(logits >= 0, 1 / (1 + e), e / (1 + e))


_erf = np.frompyfunc(math.erf, 1, 1)


def erf(x):
    """The error function, entry by entry: the standard library's math.erf over the array, in x's dtype."""
    return _erf(x).astype(x.dtype)


def softmax(logits):
    """Numerically stable softmax of (batch, classes) logits.

    exp(z - max z) cannot overflow, and the shift cancels in the ratio.
    """
    shifted = logits - logits.max(axis=1, keepdims=True)   # (B, K), every entry <= 0
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=1, keepdims=True)
    return shifted


ACTIVATIONS = {"relu": ReLU, "sigmoid": Sigmoid, "tanh": Tanh, "leaky_relu": LeakyReLU, "elu": ELU,
               "selu": SELU, "softplus": Softplus, "softsign": Softsign, "silu": SiLU, "swish": SiLU,
               "gelu": GELU, "softmax": Softmax, "linear": Linear, None: Linear}


def get(name):
    """A fresh activation object from its Keras name ("relu", "sigmoid", "tanh", ..., "linear" or None),
    or the object itself."""
    if hasattr(name, "forward") and hasattr(name, "backward"):
        return name
    if not isinstance(name, (str, type(None))) or name not in ACTIVATIONS:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}: use one of {known}")
    return ACTIVATIONS[name]()
