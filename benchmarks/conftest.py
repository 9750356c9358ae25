import os

import numpy as np
import pytest

from compare.data import load_mnist, preprocess


def pytest_xdist_auto_num_workers(config):
    """Timings run one at a time, in this process: pyproject.toml's `-n auto` gives no workers here."""
    return 0


@pytest.fixture(scope="session")
def mnist_xy():
    """Full MNIST (x, y) when MNIST_PATH is set; otherwise random data of the same shape.
    MNIST_PATH set to a path that does not exist fails the benchmarks, never times random data."""
    path = os.environ.get("MNIST_PATH")
    if path and not os.path.exists(path):
        pytest.fail(f"MNIST_PATH={path} does not exist: point it at a mnist.npz or a folder of IDX files, "
                    "or unset it to time random data of MNIST's shape")
    if path:
        (images, labels), _ = load_mnist(path)
        return preprocess(images, labels)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
    return preprocess(images, rng.integers(0, 10, 60000))
