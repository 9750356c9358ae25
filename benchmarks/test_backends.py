"""One training epoch of Keras on each installed backend (pytest-benchmark), beside the NumPy twin.

    MNIST_PATH=mnist.npz pytest benchmarks/test_backends.py   # one table per batch size, every engine in it

Keras holds one backend per process, so each backend's model lives in a worker
process (compare/bench.py: Worker) and the benchmark times the request for one
epoch: the fit itself, plus a round trip through a pipe that carries the
epoch's sample order (under a millisecond). PyTorch is timed with its `fit`
defaults only: its fastest setting, torch.compile, spends half a minute compiling.
"""
import numpy as np
import pytest

import numpy_impl
from compare import backends
from compare.bench import Worker

BATCH_SIZES = [32, 128, 1024]
ROUNDS = 3


@pytest.fixture(scope="module", params=list(backends.BACKENDS))
def worker(request, mnist_xy):
    if not backends.is_installed(request.param):
        pytest.skip(f"{request.param} is not installed")
    handle = Worker(request.param)
    handle.ask("data", *mnist_xy)
    yield handle
    handle.close()


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_epoch_keras_on_backend(benchmark, worker, mnist_xy, batch_size):
    benchmark.group = f"epoch, batch {batch_size}, every engine"
    x, _ = mnist_xy
    worker.ask("build", dict(input_dim=x.shape[1], hidden=(128, 128), num_classes=10, learning_rate=0.01,
                             seed=0, dtype="float32"))
    samples = len(x) if benchmark.enabled else 4096      # --benchmark-disable: check that it runs, quickly
    order = np.random.default_rng(0).permutation(len(x))[:samples]
    if benchmark.enabled:
        worker.ask("fit", "keras", order, batch_size)  # warm-up: tracing and compiling
    seconds = benchmark.pedantic(worker.ask, args=("fit", "keras", order, batch_size), rounds=ROUNDS, iterations=1)
    assert seconds > 0


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_epoch_numpy_beside_the_engines(benchmark, mnist_xy, batch_size):
    benchmark.group = f"epoch, batch {batch_size}, every engine"
    x, y = mnist_xy
    if not benchmark.enabled:
        x, y = x[:4096], y[:4096]
    model = numpy_impl.build_model(seed=0)
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=batch_size, epochs=1, verbose=0),
                       rounds=ROUNDS, iterations=1)
    assert all(np.isfinite(w).all() for w in model.get_weights())
