"""Acceptance figures on full MNIST; these read MNIST_PATH and skip without it."""
import gzip
from pathlib import Path

import numpy as np
import pytest

import keras_impl
import numpy_impl
from compare.data import load_mnist, preprocess

pytestmark = pytest.mark.slow     # seconds each, by design: `pytest -m slow` runs them (CI does)


@pytest.fixture(scope="module")
def mnist(mnist_path):
    return load_mnist(mnist_path)


def test_first_labels_and_mean_pixels(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert (mnist.n_train, mnist.n_test) == (60000, 10000)
    assert list(y_train[:10]) == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert list(y_test[:10]) == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train.mean() == pytest.approx(33.318, abs=1e-3)
    assert x_test.mean() == pytest.approx(33.791, abs=1e-3)


def test_npz_gzipped_idx_and_raw_idx_give_identical_arrays(mnist_path, tmp_path):
    """Three readers of three files: the .npz, the gzipped IDX folder beside it (or the other way
    round, whichever MNIST_PATH names), and that folder gunzipped here. All must give the same arrays."""
    given = Path(mnist_path)
    npz = given if given.is_file() else given.parent / "mnist.npz"
    idx_folder = given if given.is_dir() else given.parent / "mnist"
    if not (npz.is_file() and idx_folder.is_dir()):
        pytest.skip(f"needs a mnist.npz and an IDX folder side by side; found {npz} and {idx_folder}")
    for gz in idx_folder.glob("*.gz"):
        (tmp_path / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
    loads = [load_mnist(str(npz)), load_mnist(str(idx_folder)), load_mnist(str(tmp_path))]
    assert [load.source for load in loads] == [str(npz), str(idx_folder), str(tmp_path)]
    for other in loads[1:]:
        for part_a, part_b in zip(loads[0], other):
            for a, b in zip(part_a, part_b):
                assert a.dtype == b.dtype and np.array_equal(a, b)


@pytest.mark.parametrize("dtype, bound", [("float64", 1e-6), ("float32", 1e-4)])
def test_one_epoch_lockstep_on_10000_digits(mnist, dtype, bound):
    (x_train, y_train), (x_test, y_test) = mnist
    x, y = preprocess(x_train[:10000], y_train[:10000], dtype)
    order = np.random.default_rng(0).permutation(10000)           # pre-permuted, shuffle=False
    x, y = x[order], y[order]
    numpy_model = numpy_impl.build_model(learning_rate=0.1, dtype=dtype)
    keras_model = keras_impl.build_model(learning_rate=0.1, dtype=dtype)
    keras_model.set_weights(numpy_model.get_weights())
    h_np = numpy_model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    h_tf = keras_model.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    largest = max(np.abs(a - b).max() for a, b in zip(numpy_model.get_weights(), keras_model.get_weights()))
    assert largest < bound
    assert abs(h_np.history["loss"][0] - h_tf.history["loss"][0]) < bound
    x_test, _ = preprocess(x_test, y_test, dtype)
    disagreements = np.sum(numpy_model.predict(x_test).argmax(1) != keras_model.predict(x_test, verbose=0).argmax(1))
    assert disagreements <= 5


def test_numpy_twin_reaches_97_percent(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    model = numpy_impl.build_model(learning_rate=0.1, seed=0)
    model.fit(*preprocess(x_train, y_train), batch_size=32, epochs=5, verbose=0)
    _, accuracy = model.evaluate(*preprocess(x_test, y_test))
    assert accuracy >= 0.97
