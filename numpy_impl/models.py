"""`keras.models`: the Sequential model. (Keras's functional `Model` is left out, and says so.)"""
from . import utils
from .model import Sequential


class Model:
    """Keras's functional and subclassed `Model`, which numpy_impl does not have: one line says so."""

    def __init__(self, *args, **kwargs):
        raise utils.NotSupported(utils.GAPS["functional"])


__all__ = ["Model", "Sequential"]
