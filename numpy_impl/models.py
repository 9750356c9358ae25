"""`keras.models`: Sequential, Model (the functional API and subclassed models) and load_model."""
from . import utils
from .functional import Model
from .model import Sequential
from .saving import load_model

__all__ = ["Model", "Sequential", "load_model"]


def __getattr__(name):
    """`models.clone_model` and the rest of Keras's `keras.models` numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("models", name, ("Model", "Sequential", "load_model"))
