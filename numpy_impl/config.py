"""`keras.config`: the float type that models and layers compute in when none is given (Keras's floatx).

set_floatx("float64") before making a model makes its weights and every computation float64, as Keras's
does; a model given dtype= keeps its own. numpy_impl computes in float32 or float64.
"""
_floatx = "float32"


def floatx():
    """The default float type, "float32" unless set_floatx changed it."""
    return _floatx


def set_floatx(value):
    """Set the float type of the models, layers and losses made from now on: "float32" or "float64"."""
    global _floatx
    if value not in ("float32", "float64"):
        raise ValueError(f"numpy_impl computes in 'float32' or 'float64', got floatx {value!r}")
    _floatx = value


def __getattr__(name):
    """The rest of Keras's `keras.config` (backend, epsilon, ...): one line saying numpy_impl has none."""
    from .utils import missing
    if name.startswith("_"):
        raise AttributeError(name)
    raise missing("config", name, ("floatx", "set_floatx"))
