"""`keras.models`: the Sequential model and load_model. (Keras's functional `Model` is left out, and says so.)"""
from . import utils
from .model import Sequential
from .saving import load_model


class Model:
    """Keras's functional and subclassed `Model`, which numpy_impl does not have: one line says so."""

    def __init__(self, *args, **kwargs):
        raise utils.NotSupported(utils.GAPS["functional"])


__all__ = ["Model", "Sequential", "load_model"]


def __getattr__(name):
    """`models.clone_model` and the rest of Keras's `keras.models` numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("models", name, ("Sequential", "load_model"))
