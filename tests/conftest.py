import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest

import numpy_impl


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def mnist_path():
    """Full MNIST from MNIST_PATH; tests that need it skip without it."""
    path = os.environ.get("MNIST_PATH")
    if not path:
        pytest.skip("set MNIST_PATH to a mnist.npz or IDX folder to run the full-MNIST tests")
    if not Path(path).exists():                  # set but wrong: an error, never a quiet skip
        pytest.fail(f"MNIST_PATH={path} does not exist: point it at a mnist.npz or a folder of IDX files, "
                    "or unset it to skip the full-MNIST tests")
    return path


def random_batch(rng, n=16, features=6, classes=3, dtype="float64"):
    """x in [0, 1) and random one-hot labels."""
    x = rng.random((n, features)).astype(dtype)
    y = numpy_impl.one_hot(rng.integers(0, classes, n), classes, dtype)
    return x, y


def keras_stopping_epoch(patience, val_losses):
    """The epoch (0-based) after which Keras's own EarlyStopping(patience) stops a fit that reports
    these val_loss values, or None if it never does: the reference compare's early stopping answers to."""
    import types

    import keras
    callback = keras.callbacks.EarlyStopping(patience=patience)
    callback.set_model(types.SimpleNamespace(stop_training=False))
    callback.on_train_begin()
    for epoch, loss in enumerate(val_losses):
        callback.on_epoch_end(epoch, {"val_loss": loss})
        if callback.model.stop_training:
            return epoch
    return None


# ---- running the suite on every core (pytest-xdist; pyproject.toml's addopts say -n auto) ----------
#
# The whole suite is spread over up to 4 worker processes; a single file or test runs in this
# process, as it starts faster so. PYTEST_XDIST_AUTO_NUM_WORKERS=N, or -n N, chooses for yourself.

def pytest_xdist_auto_num_workers(config):
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None                                      # xdist reads it
    whole_folders = not config.args or any(Path(arg.split("::")[0]).is_dir() for arg in config.args)
    return min(os.cpu_count() or 1, 4) if whole_folders else 0


# The workers take the tests a module at a time (pyproject.toml: --dist loadgroup, each module its own group),
# except the modules that hold twins to check's reference answers: those go to one worker together, so the
# answers are computed once in the run (about 9 s), not once in each worker.
CHECK_MODULES = {"test_check", "test_check_distrust", "test_check_hints", "test_check_textbook", "test_check_worker",
                 "test_grade", "test_exercise"}


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1] if item.module else item.nodeid.split("::")[0]
        item.add_marker(pytest.mark.xdist_group("check's reference answers" if module in CHECK_MODULES else module))


# A test marked `alone` measures how busy the machine is, so no other worker runs a test beside it.
# A lock the workers share, in two files: every test holds `room` shared; an `alone` test holds it
# exclusively. `gate` is taken on the way in, and an `alone` test keeps it while it waits and runs,
# so the other workers' next tests queue behind it instead of keeping the room busy forever.
# The files sit in a folder the main process makes before the workers start and removes at the end.

LOCKS = "NUMPY_VS_KERAS_TEST_LOCKS"


def pytest_configure(config):
    # check's reference answers (compare/check/cache.py) go to a folder of the run's own, never the user's cache;
    # the workers inherit it, so the answers are computed once for the whole run
    if "NUMPY_VS_KERAS_CACHE" not in os.environ:
        os.environ["NUMPY_VS_KERAS_CACHE"] = tempfile.mkdtemp(prefix="numpy-vs-keras-cache-")
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop("NUMPY_VS_KERAS_CACHE"), ignore_errors=True))
    if getattr(config.option, "numprocesses", None) and LOCKS not in os.environ and os.name == "posix":
        os.environ[LOCKS] = tempfile.mkdtemp(prefix="numpy-vs-keras-tests-")     # the workers inherit it
        config.add_cleanup(lambda: shutil.rmtree(os.environ.pop(LOCKS), ignore_errors=True))


def _locked(path, exclusive):
    """`path` opened and flock-ed (shared or exclusive); closing the file lets go."""
    import fcntl
    file = open(path, "a")
    fcntl.flock(file, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    return file


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not (os.environ.get("PYTEST_XDIST_WORKER") and os.environ.get(LOCKS)):
        yield                                          # one process: nothing runs beside a test
        return
    alone = item.get_closest_marker("alone") is not None
    gate_file = _locked(Path(os.environ[LOCKS]) / "gate", exclusive=True)
    room_file = _locked(Path(os.environ[LOCKS]) / "room", exclusive=alone)   # alone: wait for the others
    if not alone:
        gate_file.close()                              # in: the next test may come in beside this one
    try:
        yield
    finally:
        room_file.close()
        gate_file.close()
