"""save_weights / load_weights in Keras's .weights.h5 layout: NumPy -> Keras, Keras -> NumPy, and bad files."""
import numpy as np
import pytest

import keras_impl
import numpy_impl
from numpy_impl.saving import WeightsFileError

from .conftest import random_batch

SHAPES = {"plain": {}, "batchnorm, dropout": dict(batchnorm=True, dropout=(0.1, 0.2, 0.2)),
          "layernorm, images": dict(layernorm=True, input_shape=(4, 5))}


def options(kind, **more):
    return {**dict(input_dim=20, hidden=(16, 12), num_classes=4, seed=3, dtype="float64", learning_rate=0.05),
            **SHAPES[kind], **more}


def trained_numpy(rng, kind):
    model = numpy_impl.build_model(**options(kind))
    x, y = random_batch(rng, n=64, features=20, classes=4)
    model.fit(x.reshape((64,) + model.input_shape), y, batch_size=16, epochs=1, verbose=0)
    return model, x.reshape((64,) + model.input_shape)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")   # no optimizer state is saved
@pytest.mark.parametrize("kind", list(SHAPES))
def test_numpy_saves_and_keras_loads_and_predicts_the_same(rng, tmp_path, kind):
    mine, x = trained_numpy(rng, kind)
    mine.save_weights(tmp_path / "numpy.weights.h5")
    theirs = keras_impl.build_model(**options(kind, seed=9))          # other initial weights
    theirs.load_weights(tmp_path / "numpy.weights.h5")                # Keras's own load_weights
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.abs(mine.predict(x) - theirs.predict(x, verbose=0)).max() <= 1e-12


@pytest.mark.parametrize("kind", list(SHAPES))
def test_keras_saves_and_numpy_loads_and_predicts_the_same(rng, tmp_path, kind):
    theirs = keras_impl.build_model(**options(kind))
    x, y = random_batch(rng, n=64, features=20, classes=4)
    x = x.reshape((64,) + tuple(SHAPES[kind].get("input_shape", (20,))))
    theirs.fit(x, y, batch_size=16, epochs=1, verbose=0)             # moves the BN statistics too
    theirs.save_weights(tmp_path / "keras.weights.h5")                # Keras's own file, optimizer state and all
    mine = numpy_impl.build_model(**options(kind, seed=9))
    mine.load_weights(tmp_path / "keras.weights.h5")
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.abs(mine.predict(x) - theirs.predict(x, verbose=0)).max() <= 1e-12


def test_a_round_trip_in_float32_keeps_every_bit(rng, tmp_path):
    model = numpy_impl.build_model(input_dim=20, hidden=(16,), num_classes=4, batchnorm=True)
    model.fit(*random_batch(rng, n=32, features=20, classes=4), verbose=0)
    model.save_weights(tmp_path / "m.weights.h5")
    again = numpy_impl.build_model(input_dim=20, hidden=(16,), num_classes=4, batchnorm=True, seed=5)
    again.load_weights(tmp_path / "m.weights.h5")
    for a, b in zip(model.get_weights(), again.get_weights()):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("other, message", [
    (dict(hidden=(16, 8)), "layers/dense_1/vars/0 has shape (16, 12), the model's dense"),
    (dict(hidden=(16,)), "holds weights for dense, dense_1, dense_2, the model has dense, dense_1:"),
    (dict(hidden=(16, 12, 12)), "the model has dense, dense_1, dense_2, dense_3:"),
    (dict(batchnorm=True), "the model has dense, batch_normalization, dense_1, batch_normalization_1, dense_2"),
])
def test_a_file_from_another_model_is_refused_and_nothing_changes(rng, tmp_path, other, message):
    saved = numpy_impl.build_model(input_dim=20, hidden=(16, 12), num_classes=4)
    saved.save_weights(tmp_path / "m.weights.h5")
    model = numpy_impl.build_model(**{**dict(input_dim=20, num_classes=4, seed=4), **other})
    before = model.get_weights()
    with pytest.raises(WeightsFileError) as error:
        model.load_weights(tmp_path / "m.weights.h5")
    assert message in str(error.value) and "\n" not in str(error.value)
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_bad_paths_and_files(tmp_path):
    model = numpy_impl.build_model(input_dim=20, hidden=(16,), num_classes=4)
    with pytest.raises(ValueError, match=r"must end in \.weights\.h5"):
        model.save_weights(tmp_path / "m.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.save_weights(tmp_path / "missing" / "m.weights.h5")
    with pytest.raises(FileNotFoundError, match="no weights file"):
        model.load_weights(tmp_path / "nothing.weights.h5")
    (tmp_path / "text.weights.h5").write_text("not hdf5")
    with pytest.raises(WeightsFileError, match="not an HDF5 weights file"):
        model.load_weights(tmp_path / "text.weights.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["text.weights.h5"]     # no half-written file


def h5_layout(path):
    """Every group and dataset path in the file, with each dataset's shape, and the groups' attributes."""
    import h5py
    layout = {}
    with h5py.File(path, "r") as file:
        def visit(name, item):
            layout[name] = tuple(item.shape) if isinstance(item, h5py.Dataset) else dict(item.attrs)
        file.visititems(visit)
    return layout


@pytest.mark.parametrize("kind", list(SHAPES))
def test_the_file_has_the_layout_keras_writes_for_the_same_model(rng, tmp_path, kind):
    """Path for path, as Keras's own save_weights of an untrained model (no optimizer state yet)."""
    import keras
    numpy_impl.utils.clear_session()                                 # both models named "sequential"
    numpy_impl.build_model(**options(kind)).save_weights(tmp_path / "numpy.weights.h5")
    keras.utils.clear_session()
    keras_impl.build_model(**options(kind)).save_weights(tmp_path / "keras.weights.h5")
    mine, theirs = h5_layout(tmp_path / "numpy.weights.h5"), h5_layout(tmp_path / "keras.weights.h5")
    theirs = {name: value for name, value in theirs.items() if not name.startswith("optimizer")}
    assert mine == theirs
