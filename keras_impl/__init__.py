"""keras_impl: the same dense network in Keras 3, on the backend KERAS_BACKEND names
(tensorflow, the default; jax; torch). Keras picks it once, when it is first imported."""
import os

# Quiet TensorFlow's C++ notices that honour it (some absl-logged lines at import do not).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402  (after the log setting)

if keras.backend.backend() == "jax":
    # JAX makes every array float32 (and every integer int32) unless 64-bit mode is on,
    # silently: a float64 twin would run in float32. It must be on before arrays are made.
    import jax
    jax.config.update("jax_enable_x64", True)

if keras.backend.backend() != "tensorflow":
    # Keras's type promotion (keras.backend.result_type) turns float64 into float32 on every
    # backend but TensorFlow, "to be aligned with JAX's default": on PyTorch, ops.matmul of two
    # float64 arrays comes back float32, so a float64 Dense computes x @ W in float32
    # (keras-team/keras#23704). The twin keeps float64 as float64; float32 models are unchanged.
    # (A private table: should a later Keras drop it, tests/test_backends.py shows whether
    # float64 still holds.)
    from keras.src.backend.common import dtypes as _dtypes
    if isinstance(getattr(_dtypes, "BIT64_TO_BIT32_DTYPE", None), dict):
        _dtypes.BIT64_TO_BIT32_DTYPE["float64"] = "float64"

from .autodiff import loss_and_gradients  # noqa: E402
from .model import build_model, layer_outputs  # noqa: E402

__all__ = ["build_model", "layer_outputs", "loss_and_gradients"]
