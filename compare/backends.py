"""Which engine runs Keras: TensorFlow, JAX or PyTorch.

Keras reads KERAS_BACKEND once, when it is first imported, and cannot switch
afterwards. So a backend is chosen here, before anything imports Keras; a run
that needs several backends (the speed sweep) starts a process per backend.
"""
import importlib.util
import os
import sys

# backend name -> (module it needs, the extra that installs it, how a user calls it)
BACKENDS = {"tensorflow": ("tensorflow", None, "TensorFlow"),
            "jax": ("jax", "jax", "JAX"),
            "torch": ("torch", "torch", "PyTorch")}


class BackendError(ValueError):
    """The backend asked for cannot run here: one line naming the fix."""


def default_backend():
    """KERAS_BACKEND if set, else tensorflow (Keras's own default)."""
    return os.environ.get("KERAS_BACKEND") or "tensorflow"


def is_installed(backend):
    return importlib.util.find_spec(BACKENDS[backend][0]) is not None


def installed_backends():
    return [name for name in BACKENDS if is_installed(name)]


def label(backend):
    """TensorFlow, JAX, PyTorch: the engine's own name."""
    return BACKENDS[backend][2] if backend in BACKENDS else backend


def require(backend):
    """Raise BackendError unless `backend` is known and installed."""
    if backend not in BACKENDS:
        raise BackendError(f"unknown Keras backend {backend!r} (from --backend or KERAS_BACKEND): "
                           f"use one of {', '.join(BACKENDS)}")
    _, extra, name = BACKENDS[backend]
    if not is_installed(backend):
        raise BackendError(f"the {backend} backend needs {name}, which is not installed: "
                           f'pip install -e ".[{extra}]" (or ".[all]" for every backend)')


def select(backend):
    """Make `backend` the one Keras will run on in this process; before Keras is imported."""
    require(backend)
    if "keras" in sys.modules:
        import keras
        if keras.backend.backend() != backend:
            raise BackendError(f"Keras is already running on {keras.backend.backend()} in this process and "
                               f"cannot switch to {backend}: start a new process with KERAS_BACKEND={backend}")
    os.environ["KERAS_BACKEND"] = backend
    return backend
