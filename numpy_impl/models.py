"""`keras.models`: the Sequential model. (Keras's functional `Model` is left out, and says so.)"""
from . import utils
from .model import Sequential


class Model:
    """Keras's functional and subclassed `Model`, which numpy_impl does not have: one line says so."""

    def __init__(self, *args, **kwargs):
        raise utils.NotSupported(utils.GAPS["functional"])


__all__ = ["Model", "Sequential"]


def __getattr__(name):
    """`models.load_model` and the rest of Keras's `keras.models` numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    if name == "load_model":
        raise utils.NotSupported(utils.GAPS["save"])
    raise utils.missing("models", name, ("Sequential",))
