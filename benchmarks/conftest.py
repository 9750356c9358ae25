import os

import numpy as np
import pytest

from compare.data import load_mnist, preprocess


@pytest.fixture(scope="session")
def mnist_xy():
    """Full MNIST (x, y) when MNIST_PATH is set; otherwise random data of the same shape."""
    path = os.environ.get("MNIST_PATH")
    if path and os.path.exists(path):
        (images, labels), _ = load_mnist(path)
        return preprocess(images, labels)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60000, 28, 28), dtype=np.uint8)
    return preprocess(images, rng.integers(0, 10, 60000))
