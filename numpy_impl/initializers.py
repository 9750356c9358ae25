"""Weight initialisers with Keras's names and formulas."""
import numpy as np


def glorot_uniform(fan_in, fan_out, rng, dtype="float32"):
    """Glorot (Xavier) uniform: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)).

    Keras's default kernel initializer for Dense. Returns shape (fan_in, fan_out).
    """
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def zeros(shape, dtype="float32"):
    """Keras's default bias initializer."""
    return np.zeros(shape, dtype=dtype)
