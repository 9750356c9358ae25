"""Keras's `keras.utils` helpers that a dense network needs, and what numpy_impl says when asked for more.

    to_categorical(labels, num_classes)   integer labels (n,) -> one-hot rows (n, num_classes)
    set_random_seed(seed)                 fixes every draw numpy_impl makes from then on
    clear_session()                       restarts the default layer names (dense, dense_1, ...)
"""
import collections
import random
import re

import numpy as np


class NotSupported(NotImplementedError, AttributeError):
    """A part of Keras that numpy_impl deliberately leaves out; the message says what to use instead.

    It is also an AttributeError, so `hasattr(numpy_impl.layers, "Conv2D")` is
    simply False, as for any missing attribute.
    """


# ---- to_categorical ------------------------------------------------------------

def to_categorical(x, num_classes=None):
    """Keras's `to_categorical`: integer labels (n,) or (n, 1) -> one-hot rows (n, num_classes), float64.

    num_classes None: max(x) + 1, as in Keras.
    """
    labels = np.asarray(x)
    numeric = np.issubdtype(labels.dtype, np.number)
    not_whole = labels[labels != np.round(labels)] if numeric else labels.reshape(-1)    # e.g. 1.5, nan, "a"
    if not_whole.size:
        raise ValueError(f"to_categorical takes integer labels, got {labels.dtype} values such as "
                         f"{not_whole[0].item()!r}")
    labels = labels.astype(np.int64)
    shape = labels.shape[:-1] if labels.ndim > 1 and labels.shape[-1] == 1 else labels.shape  # (n, 1) -> (n,)
    labels = labels.reshape(-1)
    if not num_classes:
        num_classes = int(labels.max()) + 1 if labels.size else 0
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f"labels must be integers in 0..{num_classes - 1} for num_classes={num_classes}, "
                         f"got {labels.min()}..{labels.max()}")
    encoded = np.zeros((len(labels), num_classes))
    encoded[np.arange(len(labels)), labels] = 1
    return encoded.reshape(shape + (num_classes,))


def one_hot(labels, num_classes, dtype="float32"):
    """Integer labels (n,) -> one-hot rows (n, num_classes) in the twin's float type: to_categorical, in `dtype`."""
    if np.ndim(labels) != 1:
        raise ValueError(f"labels must be integers in 0..{num_classes - 1}, shape (n,), got shape {np.shape(labels)}")
    return to_categorical(labels, num_classes).astype(dtype, copy=False)


# ---- seeds ----------------------------------------------------------------------

_seeds = None          # after set_random_seed: the generator every unseeded model draws its own seed from


def set_random_seed(seed):
    """Keras's `set_random_seed`: seeds Python's `random`, NumPy's global generator and numpy_impl.

    A model (or a layer called alone) given no seed of its own then takes one
    from a generator started at `seed`: the same script draws the same
    weights, dropout masks and shuffles on every run.
    """
    global _seeds
    if isinstance(seed, bool) or int(seed) != seed or seed < 0:
        raise ValueError(f"seed must be a non-negative whole number, got {seed!r}")
    random.seed(int(seed))
    np.random.seed(int(seed) % 2 ** 32)
    _seeds = np.random.default_rng(int(seed))


def generator(seed=None):
    """A NumPy generator: from `seed`; else from set_random_seed's sequence; else fresh entropy."""
    if seed is None and _seeds is not None:
        seed = int(_seeds.integers(2 ** 63))
    return np.random.default_rng(seed)


# ---- names ----------------------------------------------------------------------

_name_counts = collections.defaultdict(int)


def unique_name(kind):
    """Keras's default names: the class name in snake case, numbered from the second on in a session.

    Dense -> "dense", "dense_1", "dense_2", ...; Sequential -> "sequential", ...
    """
    base = snake_case(kind)
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def snake_case(kind):
    """BatchNormalization -> batch_normalization, as Keras names layers and their weight-file groups."""
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", kind).lower()


def clear_session():
    """Keras's `clear_session`: default names start again from "dense", "sequential", ..."""
    _name_counts.clear()


# ---- what numpy_impl leaves out ------------------------------------------------------

GAPS = {
    "functional": "a Sequential called on an Input (a model inside a graph) is not supported here: call its "
                  "layers on the Input, and make the model with Model(inputs, outputs)",
    "layer": "numpy_impl.layers has no {name}: numpy_impl builds dense networks, from {available}",
    "module": "numpy_impl has no keras.{name}: it is a dense network in NumPy, with models, layers, "
              "optimizers, losses, metrics, activations, saving and utils",
    "other": "numpy_impl.{module} has no {name}: it offers {available}",
}

def missing(module, name, available):
    """The NotSupported error for `module.name`, naming what the module does offer."""
    key = "layer" if module == "layers" else "other"
    return NotSupported(GAPS[key].format(module=module, name=name, available=", ".join(sorted(available))))


def __getattr__(name):
    """`utils.plot_model` and the other Keras helpers numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise missing("utils", name, ("clear_session", "set_random_seed", "to_categorical"))
