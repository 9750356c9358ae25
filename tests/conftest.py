import os
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
