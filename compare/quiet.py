"""Import Keras and its engine without their C++ start-up notices on the user's terminal."""
import contextlib
import os


@contextlib.contextmanager
def native_stderr_silenced():
    """Point file descriptor 2 at /dev/null for a moment.

    TensorFlow's oneDNN, CUDA and CPU-feature notices (and JAX's and PyTorch's
    probes for accelerators) are written by C++ straight to descriptor 2
    (TF_CPP_MIN_LOG_LEVEL does not reach all of them). Python exceptions
    raised inside still propagate and are printed after the restore.
    """
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_keras_quietly():
    """Import keras_impl (and so Keras on its backend) and run a first operation, quietly."""
    with native_stderr_silenced():
        import keras_impl  # noqa: F401
        import keras
        keras.ops.zeros(1)                # the first operation probes for accelerators: quietly too
