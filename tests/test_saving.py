"""save_weights / load_weights in Keras's .weights.h5 layout: NumPy -> Keras, Keras -> NumPy, and bad files."""
import os
from pathlib import Path

import numpy as np
import pytest

import keras_impl
import numpy_impl
from numpy_impl.saving import WeightsFileError

from .conftest import random_batch
from .sampling import every

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


@pytest.mark.filterwarnings("error:Skipping variable loading")   # the file holds the step count and rate, as Keras's
@pytest.mark.parametrize("kind", every(2, list(SHAPES)))
def test_numpy_saves_and_keras_loads_and_predicts_the_same(rng, tmp_path, kind):
    mine, x = trained_numpy(rng, kind)
    mine.save_weights(tmp_path / "numpy.weights.h5")
    theirs = keras_impl.build_model(**options(kind, seed=9))          # other initial weights
    theirs.load_weights(tmp_path / "numpy.weights.h5")                # Keras's own load_weights
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert np.abs(mine.predict(x) - theirs.predict(x, verbose=0)).max() <= 1e-12


@pytest.mark.parametrize("kind", every(2, list(SHAPES)))
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
    a_failed_save_leaves_the_old_file(tmp_path, monkeypatch, model.save_weights, "m.weights.h5", "layer_groups")


def a_failed_save_leaves_the_old_file(tmp_path, monkeypatch, save, name, step):
    """With `step` of saving.py failing, `save` to tmp_path / name (saved there before) raises that error
    and leaves the folder as it was: no temporary file, and the old file unchanged."""
    save(tmp_path / name)
    before = (tmp_path / name).read_bytes()

    def broken(*args):
        raise OSError("disk full")
    monkeypatch.setattr(numpy_impl.saving, step, broken)
    with pytest.raises(OSError, match="^disk full$"):
        save(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]
    assert (tmp_path / name).read_bytes() == before


def test_bad_paths_and_files(tmp_path):
    model = numpy_impl.build_model(input_dim=20, hidden=(16,), num_classes=4)
    with pytest.raises(ValueError, match=r"^a weights file name must end in \.weights\.h5, as Keras 3 requires, got "
                                         r"m\.h5$"):
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


@pytest.mark.parametrize("kind", every(2, list(SHAPES)))
def test_the_file_has_the_layout_keras_writes_for_the_same_model(rng, tmp_path, kind):
    """Path for path, as Keras's own save_weights of an untrained compiled model (its optimizer's step
    count and rate, no state yet)."""
    import keras
    numpy_impl.utils.clear_session()                                 # both models named "sequential"
    numpy_impl.build_model(**options(kind)).save_weights(tmp_path / "numpy.weights.h5")
    keras.utils.clear_session()
    keras_impl.build_model(**options(kind)).save_weights(tmp_path / "keras.weights.h5")
    mine, theirs = h5_layout(tmp_path / "numpy.weights.h5"), h5_layout(tmp_path / "keras.weights.h5")
    assert "optimizer/vars/1" in theirs and mine == theirs


# ---- whole models: model.save("m.keras") and keras.models.load_model -----------------------------------------

def every_piece(package, optimizer, loss="categorical_crossentropy", metrics=("accuracy",), last="softmax",
                dropout=0.2):
    """The same model in either package, with each layer and regularizer numpy_impl has (images of 4 x 5)."""
    layers, regularizers = package.layers, package.regularizers
    model = package.Sequential([
        package.Input(shape=(4, 5)), layers.Flatten(),
        layers.Dense(16, activation="relu", kernel_regularizer=regularizers.L2(0.01), kernel_initializer="he_normal"),
        layers.Dropout(dropout, seed=4),
        layers.Dense(12, use_bias=False, kernel_regularizer=regularizers.L1L2(l1=0.001, l2=0.002)),
        layers.BatchNormalization(momentum=0.9, epsilon=0.01), layers.Activation("relu"),
        layers.Dense(8, kernel_regularizer=regularizers.L1(0.003)), layers.LayerNormalization(epsilon=0.002),
        layers.Activation("relu"), layers.Dense(4, activation=last)])
    model.compile(optimizer=optimizer(package), loss=loss, metrics=list(metrics))
    return model


OPTIMIZERS = {
    "SGD, Nesterov, clipnorm": lambda k: k.optimizers.SGD(0.05, momentum=0.8, nesterov=True, clipnorm=2.0),
    "Adam, amsgrad, cosine schedule": lambda k: k.optimizers.Adam(
        k.optimizers.schedules.CosineDecay(0.01, 50, alpha=0.1, warmup_target=0.02, warmup_steps=5), amsgrad=True),
    "AdamW, exponential schedule": lambda k: k.optimizers.AdamW(
        k.optimizers.schedules.ExponentialDecay(0.01, 10, 0.9, staircase=True), weight_decay=0.01),
    "RMSprop, centered, momentum, global_clipnorm": lambda k: k.optimizers.RMSprop(
        0.002, rho=0.8, momentum=0.5, centered=True, global_clipnorm=1.0),
    "Adagrad, piecewise schedule, clipvalue": lambda k: k.optimizers.Adagrad(
        k.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.05, 0.01]), clipvalue=0.5),
}
# the hyperparameters each optimizer's config must carry over, whichever package wrote it
HYPERPARAMETERS = ("momentum", "nesterov", "clipnorm", "clipvalue", "global_clipnorm", "beta_1", "beta_2", "epsilon",
                   "amsgrad", "weight_decay", "rho", "centered", "initial_accumulator_value")


def hyperparameters(optimizer):
    """{name: value} of the optimizer's settings, and its schedule's (or its rate), in either package."""
    found = {name: getattr(optimizer, name) for name in HYPERPARAMETERS if hasattr(optimizer, name)}
    found = {name: float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
             for name, value in found.items() if value is not None}
    schedule = getattr(optimizer, "schedule", None) or getattr(optimizer, "_learning_rate", None)
    if hasattr(schedule, "get_config"):                                  # Keras's schedule
        found["schedule"] = (type(schedule).__name__, schedule.get_config())
    elif callable(schedule):                                             # numpy_impl's schedule
        found["schedule"] = (type(schedule).__name__, numpy_impl.saving._serialize(schedule)["config"])
    else:
        found["learning_rate"] = round(float(optimizer.learning_rate), 7)
    return type(optimizer).__name__, found


def images(rng, n=32):
    return rng.normal(size=(n, 4, 5)).astype("float32"), np.eye(4, dtype="float32")[rng.integers(0, 4, n)]


@pytest.mark.filterwarnings("error:Skipping variable loading for optimizer")   # the state is all there
@pytest.mark.parametrize("optimizer", ["RMSprop, centered, momentum, global_clipnorm"])  # each one: below
def test_a_model_saved_here_loads_in_keras_with_its_weights_and_compile_arguments(rng, tmp_path, optimizer):
    import keras
    x, y = images(rng)
    mine = every_piece(numpy_impl, OPTIMIZERS[optimizer])
    mine.fit(x, y, batch_size=8, epochs=1, verbose=0)
    mine.save(tmp_path / "m.keras")
    theirs = keras.models.load_model(tmp_path / "m.keras")
    assert [layer.name for layer in theirs.layers] == [layer.name for layer in mine.layers]
    for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), mine.predict(x), rtol=0, atol=1e-5)
    assert hyperparameters(theirs.optimizer) == hyperparameters(mine.optimizer)
    assert theirs.loss == "categorical_crossentropy"                   # by name, as Keras writes a loss given so
    assert theirs.evaluate(x, y, verbose=0, return_dict=True).keys() == {"loss", "accuracy"}
    np.testing.assert_allclose(theirs.evaluate(x, y, verbose=0), mine.evaluate(x, y), rtol=1e-5)


@pytest.mark.parametrize("optimizer", ["Adam, amsgrad, cosine schedule"])       # each one: below
def test_a_model_saved_by_keras_loads_here_with_its_weights_and_compile_arguments(rng, tmp_path, optimizer):
    import keras
    x, y = images(rng)
    theirs = every_piece(keras, OPTIMIZERS[optimizer], loss=keras.losses.SparseCategoricalCrossentropy(),
                         metrics=[keras.metrics.SparseCategoricalAccuracy(name="hits")])
    theirs.fit(x, y.argmax(1), batch_size=8, epochs=1, verbose=0)
    theirs.save(tmp_path / "k.keras")                                  # optimizer state and all: skipped here
    mine = numpy_impl.models.load_model(tmp_path / "k.keras")
    assert [layer.name for layer in mine.layers] == [layer.name for layer in theirs.layers]
    for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(mine.predict(x), theirs.predict(x, verbose=0), rtol=0, atol=1e-5)
    assert hyperparameters(mine.optimizer) == hyperparameters(theirs.optimizer)
    assert isinstance(mine.loss, numpy_impl.SparseCategoricalCrossentropy) and not mine.loss.from_logits
    assert [metric.name for metric in mine.metrics] == ["hits"]
    np.testing.assert_allclose(mine.evaluate(x, y.argmax(1)), theirs.evaluate(x, y.argmax(1), verbose=0), rtol=1e-5)


def test_training_goes_on_the_same_after_loading_in_either_package(rng, tmp_path):
    """Plain SGD keeps no state, so a loaded model trains on exactly as the saved one would: the file
    carries the weights, the rate and the loss (from logits here), whoever reads it."""
    import keras
    x, y = images(rng, 64)
    plain = lambda k: k.optimizers.SGD(0.1)                              # noqa: E731
    for package, load in ((numpy_impl, keras.models.load_model), (keras, numpy_impl.models.load_model)):
        model = every_piece(package, plain, loss=package.losses.CategoricalCrossentropy(from_logits=True),
                            last=None, dropout=0.0)      # a mask generator's state is not saved, in either
        model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        model.save(tmp_path / f"{package.__name__}.keras")
        loaded = load(tmp_path / f"{package.__name__}.keras")
        for each in (model, loaded):
            each.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
        for a, b in zip(model.get_weights(), loaded.get_weights(), strict=True):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
        assert np.abs(model.get_weights()[1]).max() > 0                 # it did train


MORE_OPTIMIZERS = {"SGD, plain": lambda k: k.optimizers.SGD(0.1),
                   "SGD, momentum, untrained": lambda k: k.optimizers.SGD(0.1, momentum=0.9),
                   "Adagrad, untrained": lambda k: k.optimizers.Adagrad(0.05, initial_accumulator_value=0.2)}


@pytest.mark.slow
@pytest.mark.filterwarnings("error:Skipping variable loading for optimizer")     # Keras's warning
@pytest.mark.filterwarnings("error:.*skipping the optimizer's state")              # numpy_impl's
@pytest.mark.parametrize("direction", ["numpy_impl to Keras", "Keras to numpy_impl"])
@pytest.mark.parametrize("optimizer", list(OPTIMIZERS) + list(MORE_OPTIMIZERS))
def test_training_goes_on_where_the_other_package_stopped(rng, tmp_path, optimizer, direction):
    """The optimizer's state (moments, accumulators, the step count for schedules and bias corrections)
    travels in Keras's order: the next epoch from the loaded file is the saving package's next epoch."""
    import keras
    writer, load = (numpy_impl, keras.models.load_model) if direction.startswith("numpy") else \
        (keras, numpy_impl.models.load_model)
    x, y = images(rng, 64)
    saved = every_piece(writer, {**OPTIMIZERS, **MORE_OPTIMIZERS}[optimizer], dropout=0.0)
    if "untrained" not in optimizer:
        saved.fit(x, y, batch_size=16, epochs=2, verbose=0)
    saved.save(tmp_path / "m.keras")
    loaded = load(tmp_path / "m.keras")
    assert hyperparameters(loaded.optimizer) == hyperparameters(saved.optimizer)
    assert int(loaded.optimizer.iterations) == int(saved.optimizer.iterations) == (0 if "untrained" in optimizer else 8)
    for model in (saved, loaded):
        model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(saved.get_weights(), loaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def test_state_for_another_optimizer_is_skipped_with_a_warning_as_keras_does(tmp_path):
    model = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2, activation="softmax")])
    model.compile(optimizer=numpy_impl.optimizers.Adam(0.01), loss="categorical_crossentropy")
    model.fit(np.ones((4, 3)), np.eye(2)[[0, 1, 0, 1]], verbose=0)
    model.save(tmp_path / "m.keras")
    import zipfile
    # SGD keeps fewer arrays; RMSprop with momentum as many, in another order of shapes
    for other, config_start, keeps in (("SGD", b'"SGD", "config": {', 2),
                                       ("RMSprop", b'"RMSprop", "config": {"momentum": 0.5, ', 6)):
        with zipfile.ZipFile(tmp_path / "m.keras") as archive:
            config = archive.read("config.json").replace(b'"Adam", "config": {', config_start)
            with zipfile.ZipFile(tmp_path / "other.keras", "w") as edited:
                for name in archive.namelist():
                    edited.writestr(name, config if name == "config.json" else archive.read(name))
        with pytest.warns(UserWarning, match=rf"skipping the optimizer's state \(the file holds 6 arrays, this "
                                             rf"{other} keeps {keeps}\): training goes on with fresh moments"):
            loaded = numpy_impl.models.load_model(tmp_path / "other.keras")
        assert type(loaded.optimizer).__name__ == other and loaded.optimizer.iterations == 0
        np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_a_round_trip_here_keeps_every_bit_and_every_setting(rng, tmp_path):
    x, y = images(rng)
    for name, optimizer in OPTIMIZERS.items():
        model = every_piece(numpy_impl, optimizer, metrics=("categorical_accuracy",))
        model.fit(x, y, batch_size=8, epochs=1, verbose=0)
        model.save(tmp_path / "m.keras")
        again = numpy_impl.models.load_model(tmp_path / "m.keras")
        for a, b in zip(model.get_weights(), again.get_weights(), strict=True):
            assert a.dtype == b.dtype and np.array_equal(a, b), name
        assert [numpy_impl.saving._serialize(layer) for layer in again.layers] == \
            [numpy_impl.saving._serialize(layer) for layer in model.layers], name
        assert hyperparameters(again.optimizer) == hyperparameters(model.optimizer), name
        assert [metric.name for metric in again.metrics] == ["categorical_accuracy"]
        np.testing.assert_array_equal(again.predict(x), model.predict(x))

def test_a_float64_model_stays_float64_in_either_package(tmp_path):
    import keras
    float64 = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2)], dtype="float64")
    float64.save(tmp_path / "f.keras")                                  # not compiled: no compile arguments
    again, theirs = numpy_impl.models.load_model(tmp_path / "f.keras"), keras.models.load_model(tmp_path / "f.keras")
    assert again.dtype == np.float64 and again.optimizer is None
    assert [w.dtype for w in theirs.get_weights()] == [np.float64, np.float64]
    for loaded in (again, theirs):
        np.testing.assert_array_equal(loaded.get_weights()[0], float64.get_weights()[0])
    x = np.random.default_rng(1).normal(size=(4, 3))
    # Keras's predict casts the data to its floatx (float32 unless keras.config.set_floatx("float64"))
    assert np.abs(theirs.predict(x, verbose=0) - float64.predict(x)).max() < 1e-6


def keras_file(tmp_path, model):
    model.save(tmp_path / "k.keras")
    return tmp_path / "k.keras"


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")      # Keras's, rightly
def test_what_numpy_impl_does_not_have_is_named_in_one_line(tmp_path):
    import keras
    cases = [
        (keras.Sequential([keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten(),
                           keras.layers.Dense(2)]), "holds a keras.layers.Conv2D, which numpy_impl does not have"),
        (keras.Sequential([keras.Input((4,)), keras.layers.Dropout(0.5, noise_shape=(1, 4)), keras.layers.Dense(2)]),
         "its Dropout has noise_shape=[1, 4], which numpy_impl's Dropout does not do"),
        (keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, kernel_constraint="non_neg")]),
         "its Dense has kernel_constraint="),
    ]
    left, right = keras.Input((4,)), keras.Input((4,))
    cases.append((keras.Model([left, right], keras.layers.Dense(2)(keras.layers.Add()([left, right]))),
                  "holds a model with 2 inputs: numpy_impl's Model takes one input and one output"))
    inputs, shared = keras.Input((4,)), keras.layers.Dense(4, name="shared")
    cases.append((keras.Model(inputs, shared(shared(inputs))), "its layer 'shared' is called 2 times in the graph"))

    class Twice(keras.Model):                   # a subclass of the program that saved it, not given to load_model
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)
    twice = Twice()
    twice(np.zeros((1, 4)))
    cases.append((twice, "holds a Twice model, a class of the program that saved it: pass it, load_model(path, "
                         "custom_objects={'Twice': Twice}), or decorate it with"))
    unbuilt = keras.Sequential([keras.layers.Dense(2)])
    cases.append((unbuilt, "holds a model saved before it was built (no input shape), so it has no weights"))
    weighted = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    weighted.compile(loss="categorical_crossentropy", loss_weights=[0.5])
    cases.append((weighted, "was compiled with loss_weights: numpy_impl's compile has no loss_weights"))
    smoothed = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
    smoothed.compile(loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.1))
    cases.append((smoothed, "its CategoricalCrossentropy: CategoricalCrossentropy in numpy_impl takes from_logits only"))
    for model, message in cases:
        with pytest.raises(numpy_impl.saving.ModelFileError) as caught:
            numpy_impl.models.load_model(keras_file(tmp_path, model))
        assert message in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
        assert str(caught.value).startswith(f"{tmp_path / 'k.keras'}"), str(caught.value)      # the file named
    ends_in_softmax = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2), keras.layers.Softmax()])
    ends_in_softmax.compile(loss="categorical_crossentropy")
    with pytest.raises(numpy_impl.saving.ModelFileError, match="cannot compile this model: the last layer must be"):
        numpy_impl.models.load_model(keras_file(tmp_path, ends_in_softmax))


def test_bad_model_paths_and_files(tmp_path):
    model = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"^a model file name must end in \.keras, as Keras 3 requires, got m\.h5 "):
        model.save(tmp_path / "m.h5")
    with pytest.raises(ValueError, match=r"^a model file name must end in \.keras, as Keras 3 requires, got "
                                         r"m\.weights\.h5 "):
        numpy_impl.models.load_model(tmp_path / "m.weights.h5")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        model.save(tmp_path / "missing" / "m.keras")
    with pytest.raises(FileNotFoundError, match="^no model file at "):
        numpy_impl.models.load_model(tmp_path / "nothing.keras")
    (tmp_path / "text.keras").write_text("not a zip")
    import zipfile
    with zipfile.ZipFile(tmp_path / "empty.keras", "w") as archive:
        archive.writestr("metadata.json", "{}")
    for name in ("text.keras", "empty.keras"):
        with pytest.raises(numpy_impl.saving.ModelFileError, match="is not a .keras model file"):
            numpy_impl.models.load_model(tmp_path / name)
    model.save(tmp_path / "good.keras")
    with zipfile.ZipFile(tmp_path / "good.keras") as archive, zipfile.ZipFile(tmp_path / "cut.keras", "w") as cut:
        for entry in archive.namelist():
            cut.writestr(entry, '{"class_name": "Sequential", "config": {}}' if entry == "config.json"
                         else archive.read(entry))
    with pytest.raises(numpy_impl.saving.ModelFileError,
                       match=r"cut.keras: its config.json does not describe a Keras model \(KeyError: 'layers'\)$"):
        numpy_impl.models.load_model(tmp_path / "cut.keras")
    (tmp_path / "good.keras").unlink()
    (tmp_path / "cut.keras").unlink()
    with pytest.raises(ValueError, match=r"^the model is not built yet, so it has no weights to save: give it an "
                                         r"Input first$"):
        numpy_impl.Sequential([numpy_impl.layers.Dense(2)]).save(tmp_path / "unbuilt.keras")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.keras", "text.keras"]    # nothing half-written


def test_a_failed_save_leaves_the_old_file_and_no_other(tmp_path, monkeypatch):
    model = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2)])
    a_failed_save_leaves_the_old_file(tmp_path, monkeypatch, model.save, "m.keras", "save_weights")


def test_numpy_impl_defaults_are_keras_defaults_so_a_config_may_leave_them_out():
    """model.save writes only the arguments that differ from their defaults: each default a class shares with
    Keras must be Keras's, or a file would mean one thing here and another there."""
    import keras
    from numpy_impl.saving import MODULES, _parameters
    required = {"Dense": dict(units=3), "Dropout": dict(rate=0.3), "Activation": dict(activation="relu"),
                "InputLayer": dict(shape=(3,)),
                "ExponentialDecay": dict(initial_learning_rate=0.1, decay_steps=10, decay_rate=0.9),
                "CosineDecay": dict(initial_learning_rate=0.1, decay_steps=10),
                "PiecewiseConstantDecay": dict(boundaries=[1], values=[0.1, 0.01]), "Optimizer": dict(learning_rate=0.1)}
    compared = 0
    for keras_module, ours in MODULES.items():
        module = getattr(numpy_impl, ours) if ours != "schedules" else numpy_impl.optimizers.schedules
        for name in dir(module):
            kind = getattr(module, name)
            theirs = getattr(eval(keras_module, {"keras": keras}), name, None)
            if not isinstance(kind, type) or kind.__module__ != f"numpy_impl.{ours}" or not isinstance(theirs, type):
                continue
            config = theirs(**required.get(name, {})).get_config()
            for argument, parameter in _parameters(kind).items():
                if parameter.default is not parameter.empty and argument in config and argument != "name":
                    same = {("kernel_initializer", "glorot_uniform"): {"class_name": "GlorotUniform"}.items(),
                            ("bias_initializer", "zeros"): {"class_name": "Zeros"}.items(),
                            ("activation", None): {"linear"}, ("dtype", None): {"float32"}}.get((argument, parameter.default))
                    in_float32 = isinstance(parameter.default, float) and isinstance(config[argument], float) \
                        and np.float32(config[argument]) == np.float32(parameter.default)   # Keras's variables
                    assert config[argument] == parameter.default or in_float32 or (same is not None and (
                        config[argument] in same if isinstance(config[argument], str)
                        else same <= config[argument].items())), \
                        (name, argument, config[argument], parameter.default)
                    compared += 1
    assert compared >= 40


def test_a_loss_given_to_keras_as_a_function_is_read_by_its_name(tmp_path):
    import keras
    theirs = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    theirs.compile(optimizer="sgd", loss=keras.losses.sparse_categorical_crossentropy)
    mine = numpy_impl.models.load_model(keras_file(tmp_path, theirs))
    assert isinstance(mine.loss, numpy_impl.SparseCategoricalCrossentropy)


def flat(config, prefix=""):
    """{path: value} of every leaf in a config (Keras's dtype policies as their names)."""
    if isinstance(config, dict) and config.get("class_name") == "DTypePolicy":
        return {prefix: config["config"]["name"]}
    if isinstance(config, dict):
        return {path: value for key, inner in config.items() for path, value in flat(inner, f"{prefix}/{key}").items()}
    if isinstance(config, list) and any(isinstance(inner, dict) for inner in config):
        return {path: value for index, inner in enumerate(config) for path, value in flat(inner, f"{prefix}/{index}").items()}
    return {prefix: config}


def saved_config(path):
    import json
    import zipfile
    with zipfile.ZipFile(path) as archive:
        return json.loads(archive.read("config.json"))


@pytest.mark.parametrize("optimizer", every(2, list(OPTIMIZERS)))
def test_every_entry_of_the_config_is_what_keras_writes_for_the_same_model(tmp_path, optimizer):
    """numpy_impl writes fewer entries (the defaults are left out), and each one it writes is there, with
    the same value, in the config Keras writes for the same model (its float32 rates to float32)."""
    import keras
    numpy_impl.utils.clear_session()
    keras.utils.clear_session()                               # the same default names in both
    every_piece(numpy_impl, OPTIMIZERS[optimizer]).save(tmp_path / "mine.keras")
    every_piece(keras, OPTIMIZERS[optimizer]).save(tmp_path / "theirs.keras")
    mine, theirs = flat(saved_config(tmp_path / "mine.keras")), flat(saved_config(tmp_path / "theirs.keras"))
    assert len(mine) > 60
    for path, value in mine.items():
        assert path in theirs, path
        if isinstance(value, float) and isinstance(theirs[path], float):
            assert np.float32(value) == np.float32(theirs[path]), (path, value, theirs[path])
        else:
            assert value == theirs[path], (path, value, theirs[path])


def test_a_class_from_a_module_numpy_impl_does_not_know_is_named_in_one_line(tmp_path):
    import json
    import zipfile
    model = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as archive, zipfile.ZipFile(tmp_path / "other.keras", "w") as other:
        for entry in archive.namelist():
            text = archive.read(entry)
            if entry == "config.json":
                config = json.loads(text)
                config["config"]["layers"][-1]["module"] = "my_package.layers"      # e.g. a registered custom layer
                text = json.dumps(config)
            other.writestr(entry, text)
    with pytest.raises(numpy_impl.saving.ModelFileError,
                       match=r"other\.keras holds a my_package\.layers\.Dense, which numpy_impl does not have$"):
        numpy_impl.models.load_model(tmp_path / "other.keras")


def test_a_float64_loss_object_stays_float64_in_either_package(tmp_path):
    import keras
    model = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2, activation="softmax")])
    model.compile(loss=numpy_impl.losses.CategoricalCrossentropy(dtype="float64"))
    model.save(tmp_path / "m.keras")
    assert numpy_impl.models.load_model(tmp_path / "m.keras").loss.dtype == np.float64
    assert keras.models.load_model(tmp_path / "m.keras").loss.dtype == "float64"


@pytest.mark.filterwarnings("error:Skipping variable loading")           # Keras's own warning made an error
def test_a_weights_file_carries_the_optimizer_both_ways_as_keras_does(rng, tmp_path):
    x, y = random_batch(rng, n=64, features=20, classes=4)
    mine = numpy_impl.build_model(**options("plain", momentum=0.9))
    mine.fit(x, y, batch_size=16, epochs=1, verbose=0)
    mine.save_weights(tmp_path / "numpy.weights.h5")
    theirs = keras_impl.build_model(**options("plain", momentum=0.9))
    # Keras takes an optimizer's state only into a built optimizer, from its own files too
    theirs.optimizer.build(theirs.trainable_variables)
    theirs.load_weights(tmp_path / "numpy.weights.h5")
    assert int(theirs.optimizer.iterations) == mine.optimizer.iterations == 4
    # one more epoch in each, from the same weights and momentum: the same weights again
    for model in (mine, theirs):
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(mine.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)
    theirs.save_weights(tmp_path / "keras.weights.h5")
    again = numpy_impl.build_model(**options("plain", momentum=0.9))
    again.load_weights(tmp_path / "keras.weights.h5")
    assert again.optimizer.iterations == 8
    for a, b in zip(again.optimizer.velocities, mine.optimizer.velocities):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-9)


def test_a_compiled_model_told_to_load_a_file_without_optimizer_state_says_it_starts_fresh(tmp_path):
    # as Keras warns for its own compiled model and such a file; the weights load all the same
    uncompiled = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2, activation="softmax")])
    uncompiled.save_weights(tmp_path / "bare.weights.h5")
    compiled = numpy_impl.Sequential([numpy_impl.Input((3,)), numpy_impl.layers.Dense(2, activation="softmax")])
    compiled.compile(optimizer=numpy_impl.SGD(momentum=0.9))
    with pytest.warns(UserWarning, match=r"bare\.weights\.h5: skipping the optimizer's state \(the file holds 0 "
                                         r"arrays, this SGD keeps 4\)"):
        compiled.load_weights(tmp_path / "bare.weights.h5")
    for a, b in zip(compiled.get_weights(), uncompiled.get_weights()):
        np.testing.assert_array_equal(a, b)
