"""Weight initialisers with Keras's names and formulas (keras/src/initializers/random_initializers.py).

Keras's VarianceScaling family draws a kernel of shape (fan_in, fan_out) with variance scale / fan:

    fan = fan_in, fan_out, or their mean (mode)
    uniform:            U(-limit, limit), limit = sqrt(3 * scale / fan)
    truncated normal:   N(0, stddev) with draws beyond 2 stddev drawn again, and
                        stddev = sqrt(scale / fan) / 0.87962566103423978, the rescale that gives the
                        truncated distribution the variance scale / fan again

    GlorotUniform  scale 1, fan_avg, uniform (Keras's default for Dense)
    GlorotNormal   scale 1, fan_avg, truncated normal
    HeNormal       scale 2, fan_in,  truncated normal      (for ReLU layers)
    HeUniform      scale 2, fan_in,  uniform
    LecunNormal    scale 1, fan_in,  truncated normal

Each takes its own generator (the model's), so the draws are NumPy's, not Keras's:
the same distribution, other numbers. A bias (units,) is drawn with shape=(units,), and
then, as in Keras, fan_in = fan_out = units.
"""
import math

import numpy as np

from . import utils

TRUNCATION_RESCALE = 0.87962566103423978     # the std of N(0, 1) truncated at +-2


def glorot_uniform(fan_in, fan_out, rng, dtype="float32", shape=None):
    """Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    Keras's default kernel initializer for Dense. Returns shape (fan_in, fan_out) unless given.
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape or (fan_in, fan_out)).astype(dtype)


def zeros(shape, dtype="float32"):
    """Keras's default bias initializer."""
    return np.zeros(shape, dtype=dtype)


class VarianceScaling:
    """Keras's `VarianceScaling(scale, mode, distribution)`; called as init(fan_in, fan_out, rng, dtype)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal"):
        if mode not in ("fan_in", "fan_out", "fan_avg"):
            raise ValueError(f"mode must be 'fan_in', 'fan_out' or 'fan_avg', got {mode!r}")
        if distribution not in ("truncated_normal", "untruncated_normal", "uniform"):
            raise ValueError(f"distribution must be 'truncated_normal', 'untruncated_normal' or 'uniform', "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution

    def __call__(self, fan_in, fan_out, rng, dtype="float32", shape=None):
        fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, fan)
        shape = shape or (fan_in, fan_out)
        if self.distribution == "uniform":
            limit = math.sqrt(3.0 * variance)
            return rng.uniform(-limit, limit, size=shape).astype(dtype)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), size=shape).astype(dtype)
        return truncated_normal(shape, math.sqrt(variance) / TRUNCATION_RESCALE, rng).astype(dtype)


def truncated_normal(shape, stddev, rng):
    """N(0, stddev) with every draw beyond 2 stddev drawn again, as TensorFlow's truncated_normal."""
    values = rng.normal(0.0, stddev, size=shape)
    outside = np.abs(values) > 2 * stddev
    while outside.any():
        values[outside] = rng.normal(0.0, stddev, size=int(outside.sum()))
        outside = np.abs(values) > 2 * stddev
    return values


class GlorotUniform(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "uniform")

    def __call__(self, fan_in, fan_out, rng, dtype="float32", shape=None):
        if shape is None:                                           # a kernel: the same draws as Dense's default
            return glorot_uniform(fan_in, fan_out, rng, dtype)
        return glorot_uniform(fan_in, fan_out, rng, dtype, shape)


class GlorotNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_avg", "truncated_normal")


class HeNormal(VarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "truncated_normal")


class HeUniform(VarianceScaling):
    def __init__(self):
        super().__init__(2.0, "fan_in", "uniform")


class LecunNormal(VarianceScaling):
    def __init__(self):
        super().__init__(1.0, "fan_in", "truncated_normal")


class RandomNormal:
    """Keras's `RandomNormal(mean=0.0, stddev=0.05)`: N(mean, stddev), not truncated."""

    def __init__(self, mean=0.0, stddev=0.05):
        self.mean, self.stddev = float(mean), float(stddev)

    def __call__(self, fan_in, fan_out, rng, dtype="float32", shape=None):
        return rng.normal(self.mean, self.stddev, size=shape or (fan_in, fan_out)).astype(dtype)


class Zeros:
    """Keras's `Zeros()`: every entry 0 (Keras's default bias initializer)."""

    def __call__(self, fan_in, fan_out, rng, dtype="float32", shape=None):
        return zeros(shape or (fan_in, fan_out), dtype)


class Ones:
    """Keras's `Ones()`: every entry 1."""

    def __call__(self, fan_in, fan_out, rng, dtype="float32", shape=None):
        return np.ones(shape or (fan_in, fan_out), dtype)


NAMES = {"glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_normal": HeNormal,
         "he_uniform": HeUniform, "lecun_normal": LecunNormal, "random_normal": RandomNormal,
         "variance_scaling": VarianceScaling, "zeros": Zeros, "ones": Ones}


def get(initializer):
    """An initializer from its Keras name ("he_normal", ...), from a name with arguments
    ({"name": "random_normal", "stddev": 1.0}), or the object itself."""
    if callable(initializer):
        return initializer
    options = {}
    if isinstance(initializer, dict):
        options = dict(initializer)
        initializer = options.pop("name", None)
    if not isinstance(initializer, str) or initializer not in NAMES:
        raise ValueError(f"unknown initializer {initializer!r}: use one of {', '.join(NAMES)}")
    try:
        return NAMES[initializer](**options)
    except TypeError:
        raise ValueError(f"initializer {initializer!r} does not take {sorted(options)}") from None


def __getattr__(name):
    """`initializers.Orthogonal` and the others numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("initializers", name, ("GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform",
                                               "LecunNormal", "Ones", "RandomNormal", "VarianceScaling", "Zeros"))
