"""save_weights / load_weights in Keras's .weights.h5 layout: NumPy -> Keras, Keras -> NumPy, and bad files."""
import os
from pathlib import Path

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
    assert str(error.value).endswith(": it was saved from a different model")      # the fix, said whole
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_files_that_hold_no_layers_or_other_counts_are_named(tmp_path):
    import h5py
    model = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.layers.Dense(3)])
    with h5py.File(tmp_path / "empty.weights.h5", "w"):
        pass                                              # an HDF5 file, but not one save_weights wrote
    with pytest.raises(WeightsFileError, match=r"^\S+empty\.weights\.h5 holds weights for no layers, the model "
                                               r"has dense: it was saved from a different model$"):
        model.load_weights(tmp_path / "empty.weights.h5")
    numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.layers.Dense(3, use_bias=False)]).save_weights(
        tmp_path / "nobias.weights.h5")
    with pytest.raises(WeightsFileError, match=r"^\S+nobias\.weights\.h5: dense holds 1 arrays, the model's "
                                               r"dense(_\d+)? has 2: it was saved from a different model$"):
        model.load_weights(tmp_path / "nobias.weights.h5")


def test_an_unbuilt_model_neither_saves_nor_loads(tmp_path):
    built = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.layers.Dense(3)])
    built.save_weights(tmp_path / "m.weights.h5")
    unbuilt = numpy_impl.Sequential([numpy_impl.layers.Dense(3)])
    with pytest.raises(ValueError, match=r"^the model is not built yet, so it has no weights to save: give it "
                                         r"an Input first$"):
        unbuilt.save_weights(tmp_path / "n.weights.h5")
    with pytest.raises(ValueError, match=r"^the model is not built yet: give it an Input \(or build it\) before "
                                         r"load_weights$"):
        unbuilt.load_weights(tmp_path / "m.weights.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.weights.h5"]


def test_saving_writes_beside_the_file_and_a_failed_save_leaves_the_old_file(tmp_path, monkeypatch):
    """The weights go to a temporary .weights.h5 in the target's own folder, moved into place whole
    (a move within one folder is atomic); if writing fails, the error comes through, the temporary
    file is removed and a file saved before is left as it was."""
    model = numpy_impl.Sequential([numpy_impl.Input((4,)), numpy_impl.layers.Dense(3)])
    moves = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda source, target: (moves.append((source, target)),
                                                                      real_replace(source, target)))
    model.save_weights(tmp_path / "m.weights.h5")
    (source, target), = moves
    assert Path(source).parent == tmp_path and Path(source).name.endswith(".weights.h5")
    assert Path(target) == tmp_path / "m.weights.h5"
    before = (tmp_path / "m.weights.h5").read_bytes()

    def broken(model):
        raise OSError("disk full")
    monkeypatch.setattr(numpy_impl.saving, "layer_groups", broken)
    with pytest.raises(OSError, match="^disk full$"):
        model.save_weights(tmp_path / "m.weights.h5")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.weights.h5"]
    assert (tmp_path / "m.weights.h5").read_bytes() == before


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
