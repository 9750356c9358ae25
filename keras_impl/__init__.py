"""keras_impl: the same dense network in Keras 3 on TensorFlow."""
import os

# Quiet the C++ notices that honour it (some absl-logged lines at import do not).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from .model import build_model, loss_and_gradients  # noqa: E402  (after the log setting)

__all__ = ["build_model", "loss_and_gradients"]
