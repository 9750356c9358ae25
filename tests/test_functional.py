"""The functional API and subclassed models (numpy_impl/functional.py): backpropagation through a graph of layers.

A chain written with the functional API is Sequential bit for bit; a residual network (Add) and one with
Concatenate have gradients that finite differences confirm, and the gradient of a tensor read twice is the
sum of both readers' (undo the sum and finite differences disagree); keras.io's functional-API guide runs
with only the import changed; and the graph answers what Keras's does (layers, inputs, outputs, get_layer,
summary). The float64 lockstep on TensorFlow, JAX and PyTorch is tests/test_backends.py's.
"""
import contextlib

import numpy as np
import pytest

import numpy_impl
from numpy_impl import functional, layers

from .graphs import GRAPHS, build
from .sampling import every

keras = pytest.importorskip("keras")


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.random((16, 784)), numpy_impl.one_hot(rng.integers(0, 10, 16), 10, "float64")


def test_a_functional_chain_is_sequential_bit_for_bit(batch):
    x, y = batch
    graph = build(numpy_impl, "functional chain")
    chain = numpy_impl.Sequential([numpy_impl.Input((784,)), layers.Dense(16, activation="relu"),
                                   layers.Dense(16, activation="relu"), layers.Dense(10, activation="softmax")],
                                  dtype="float64")
    chain.set_weights(graph.get_weights())
    for model in (graph, chain):
        model.compile(optimizer=numpy_impl.optimizers.SGD(0.1, momentum=0.9), loss="categorical_crossentropy",
                      metrics=["accuracy"])
    histories = [model.fit(x, y, batch_size=4, epochs=2, shuffle=False, verbose=0).history for model in (graph, chain)]
    assert histories[0] == histories[1]
    assert all((a == b).all() for a, b in zip(graph.get_weights(), chain.get_weights()))
    assert (graph.predict(x) == chain.predict(x)).all()


def finite_difference_error(model, x, y, entries=6, eps=1e-6):
    """Largest relative error of loss_and_gradients against central differences, a few entries per tensor."""
    _, analytic = numpy_impl.loss_and_gradients(model, x, y)
    rng = np.random.default_rng(1)
    worst = 0.0
    for weights, gradient in zip(model.trainable_weights, analytic):
        for flat in rng.choice(weights.size, size=min(entries, weights.size), replace=False):
            index = np.unravel_index(flat, weights.shape)
            old = weights[index]
            weights[index] = old + eps
            plus = numpy_impl.loss_and_gradients(model, x, y)[0]
            weights[index] = old - eps
            minus = numpy_impl.loss_and_gradients(model, x, y)[0]
            weights[index] = old
            numeric = (plus - minus) / (2 * eps)
            worst = max(worst, abs(numeric - gradient[index]) / max(abs(numeric), abs(gradient[index]), 1e-8))
    return worst


@pytest.mark.parametrize("name", ["residual, Add", "Concatenate", "subclassed Model"])
def test_gradients_through_a_graph_match_finite_differences(name, batch):
    x, y = batch
    model = build(numpy_impl, name)
    model.compile(loss="categorical_crossentropy")
    assert finite_difference_error(model, x[:8], y[:8]) < 1e-6


def overwriting_backward(self, grad_logits):
    """Model.backward with the slip: a tensor read by several layers keeps the last reader's gradient only."""
    grads = {id(self.nodes[-1].output): grad_logits}
    for index in range(len(self.nodes) - 1, -1, -1):
        node = self.nodes[index]
        g = grads.pop(id(node.output), None)
        if g is None:
            continue
        result = (node.layer.backward_affine(g, need_grad_inputs=self.weights_below[index])
                  if index == len(self.nodes) - 1 else node.layer.backward(g, self.weights_below[index]))
        if self.weights_below[index]:
            for tensor, gradient in zip(node.inputs, result if node.merges else [result]):
                if self._needs_gradient.get(id(tensor), False):
                    grads[id(tensor)] = gradient                     # overwrites: the slip


def test_a_fan_out_that_overwrites_instead_of_adding_is_caught(batch, monkeypatch):
    """micrograd's lesson: a tensor read by two layers gets both gradients, added. Keep only the last
    and the residual network's lower layers are wrong, as finite differences show."""
    x, y = batch
    model = build(numpy_impl, "residual, Add")
    model.compile(loss="categorical_crossentropy")
    assert finite_difference_error(model, x[:8], y[:8]) < 1e-6

    monkeypatch.setattr(functional.Model, "backward", overwriting_backward)
    assert finite_difference_error(model, x[:8], y[:8]) > 1e-3


def test_the_functional_api_guide_runs_with_only_the_import_changed(batch):
    """keras.io, "The Functional API": its MNIST model, as the guide writes it, on both packages from the same
    start in float64 (one_start_in_float64): the same summary, and the same losses and accuracies."""
    x, labels = batch[0], batch[1].argmax(axis=1)
    results = {}
    with one_start_in_float64():
        for package in (numpy_impl, keras):
            package.utils.clear_session()
            inputs = package.Input(shape=(784,))
            dense = package.layers.Dense(64, activation="relu")
            x_ = dense(inputs)
            x_ = package.layers.Dense(64, activation="relu")(x_)
            outputs = package.layers.Dense(10)(x_)
            model = package.Model(inputs=inputs, outputs=outputs, name="mnist_model")
            model.compile(loss=package.losses.SparseCategoricalCrossentropy(from_logits=True),
                          optimizer=package.optimizers.RMSprop(), metrics=["accuracy"])
            lines = []
            model.summary(print_fn=lines.append)            # before fit: after it Keras adds its optimizer's variables
            history = model.fit(x.astype("float32"), labels, batch_size=4, epochs=2, validation_split=0.25, verbose=0)
            results[package.__name__] = (history.history, model.name, [layer.name for layer in model.layers
                                                                       if type(layer).__name__ != "InputLayer"],
                                         model.evaluate(x, labels, verbose=0), "\n".join(lines).rstrip("\n"))
    mine, theirs = results["numpy_impl"], results["keras"]
    assert_same_numbers(mine[0], theirs[0], "history")
    assert mine[1:3] == theirs[1:3]
    assert_same_numbers(mine[3], theirs[3], "evaluate")
    assert mine[4] == theirs[4]                      # the same summary table, character for character


def test_the_model_answers_what_keras_s_does():
    answers = {}
    for package in (numpy_impl, keras):
        package.utils.clear_session()
        inputs = package.Input(shape=(6,))
        hidden = package.layers.Dense(8, activation="relu", name="hidden")(inputs)
        joined = package.layers.Concatenate(name="join")([hidden, package.layers.Dense(4, name="side")(inputs)])
        outputs = package.layers.Dense(3, activation="softmax", name="out")(joined)
        model = package.Model(inputs, outputs, name="branched")
        assert model.inputs == [inputs] and model.outputs == [outputs]
        answers[package] = ([(layer.name, type(layer).__name__) for layer in model.layers],
                            tuple(model.get_layer("join").output.shape if package is keras else
                                  (None, *model.get_layer("join").output_shape)),
                            model.get_layer(index=-1).name, type(model.get_layer(index=0)).__name__,
                            [tuple(w.shape) for w in model.get_weights()], model.count_params())
    assert answers[numpy_impl] == answers[keras]
    assert answers[numpy_impl][0] == [("input_layer", "InputLayer"), ("hidden", "Dense"), ("side", "Dense"),
                                      ("join", "Concatenate"), ("out", "Dense")]
    assert answers[numpy_impl][5] == 6 * 8 + 8 + 6 * 4 + 4 + 12 * 3 + 3
    assert model.predict(np.ones((2, 6)), verbose=0).shape == (2, 3)


def test_numpy_arithmetic_in_call_is_refused_not_left_out_of_the_backward_pass():
    class Sloppy(numpy_impl.Model):
        def __init__(self):
            super().__init__()
            self.a, self.b = layers.Dense(4), layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            x = self.a(inputs)
            return self.b(x + x)                                     # NumPy arithmetic on a layer's output
    model = Sloppy()
    model.compile(loss="categorical_crossentropy")
    with pytest.raises(numpy_impl.NotSupported, match="use a layer for it \\(layers.Add for \\+"):
        model.fit(np.ones((4, 5)), numpy_impl.one_hot(np.arange(4) % 3, 3), verbose=0)
    with pytest.raises(numpy_impl.NotSupported, match="NumPy arithmetic"):
        np.tanh(layers.Dense(2)(numpy_impl.Input((3,))))


@pytest.mark.parametrize("make, message", [
    (lambda i: numpy_impl.Model([i, numpy_impl.Input((3,))], layers.Dense(2)(i)), "takes one input, got 2"),
    (lambda i: numpy_impl.Model(i, [layers.Dense(2)(i), layers.Dense(2)(i)]), "takes one output, got 2"),
    (lambda i: (lambda d: numpy_impl.Model(i, d(d(i))))(layers.Dense(3)), "is called a second time"),
    (lambda i: numpy_impl.Model(i, layers.Dense(2)(numpy_impl.Input((3,)))), "does not depend on its input"),
    (lambda i: numpy_impl.Model(i, layers.Add()([layers.Dense(2)(i), layers.Dense(3)(i)])), "Add takes two or more"),
])
def test_a_graph_numpy_impl_does_not_take_is_one_line(make, message):
    with pytest.raises((ValueError, numpy_impl.NotSupported), match=message):
        make(numpy_impl.Input((3,)))


def trained(package, name, x, y, weights=None):
    """build(package, name), given `weights` if any, compiled with RMSprop and fit for one epoch (4 steps).
    (RMSprop: TensorFlow's Keras rounds Adam's Python-float betas through float32, 1e-6 apart after 4 steps.)"""
    model = build(package, name)
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=package.optimizers.RMSprop(1e-3), loss="categorical_crossentropy")
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    return model


@pytest.mark.parametrize("name, writer", every(2, [("residual, Add", "numpy_impl"), ("subclassed Model", "numpy_impl"),
                                                  ("residual, Add", "keras"), ("Concatenate", "numpy_impl"),
                                                  ("subclassed Model", "keras"), ("Concatenate", "keras")], names=2))
def test_a_graph_saves_as_keras_saves_it_and_each_package_reads_the_others(name, writer, tmp_path, batch):
    """model.save("m.keras") of a functional or subclassed model: the other package's load_model rebuilds the
    same graph with the same weights, and its optimizer goes on where the writer's stopped."""
    x, y = batch[0].astype(np.float32).astype(np.float64), batch[1]      # Keras's fit and predict round x to float32
    packages = {"numpy_impl": numpy_impl, "keras": keras}
    mine = trained(numpy_impl, name, x, y)
    written = mine if writer == "numpy_impl" else trained(keras, name, x, y, mine.get_weights())
    written.save(tmp_path / "m.keras")
    reader = packages["keras" if writer == "numpy_impl" else "numpy_impl"]
    # a subclass is found by its name in custom_objects (Keras's rule): here, the reader's own class of that name
    custom = {"MLP": type(build(reader, name))} if name == "subclassed Model" else None
    loaded = reader.models.load_model(tmp_path / "m.keras", custom_objects=custom)
    if name == "subclassed Model":
        assert type(loaded).__name__ == "MLP"
    else:                                       # a subclass's __init__ names its layers afresh, in Keras too
        assert [layer.name for layer in loaded.layers if type(layer).__name__ != "InputLayer"] == \
            [layer.name for layer in written.layers if type(layer).__name__ != "InputLayer"]
    assert all(np.array_equal(a, b) for a, b in zip(loaded.get_weights(), written.get_weights(), strict=True))
    assert int(loaded.optimizer.iterations) == 4
    np.testing.assert_allclose(loaded.predict(x, verbose=0), written.predict(x, verbose=0), rtol=0, atol=1e-12)
    for model in (loaded, written):
        model.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    # RMSprop's averages came with the file: fresh ones end 4e-3 apart. What is left, 6e-10 to 1.2e-9, is Keras's
    # learning rate, a float32 variable (0.0010000000474974513) where numpy_impl's is 0.001.
    assert max(np.abs(a - b).max() for a, b in zip(loaded.get_weights(), written.get_weights())) < 1e-8


def test_a_round_trip_keeps_every_bit_and_training_goes_on_alike(tmp_path, batch):
    x, y = batch
    for name in ("residual, Add", "subclassed Model"):
        model = trained(numpy_impl, name, x, y)
        model.save(tmp_path / "m.keras")
        custom = {"MLP": type(model)} if name == "subclassed Model" else None
        again = numpy_impl.models.load_model(tmp_path / "m.keras", custom_objects=custom)
        if name != "subclassed Model":                  # (a subclass's __init__ names its layers afresh)
            lines = [[], []]
            model.summary(print_fn=lines[0].append)
            again.summary(print_fn=lines[1].append)
            assert lines[0] == lines[1] and again.name == model.name
        for one in (model, again):
            one.fit(x, y, batch_size=4, epochs=1, shuffle=False, verbose=0)
        assert all((a == b).all() for a, b in zip(model.get_weights(), again.get_weights(), strict=True)), name


def test_a_subclassed_model_keeps_its_weights_where_keras_does(tmp_path):
    """Keras files a subclass's weights under the attributes that hold its layers (hidden/vars/0, not
    layers/dense/vars/0): both packages read each other's .weights.h5."""
    import h5py
    mine = build(numpy_impl, "subclassed Model")
    mine.save_weights(tmp_path / "m.weights.h5")
    with h5py.File(tmp_path / "m.weights.h5") as file:
        assert sorted(file) == ["add", "branch", "classifier", "hidden", "vars"]
        assert file["hidden/vars/0"].shape == (784, 16)
    theirs = build(keras, "subclassed Model")
    theirs.load_weights(tmp_path / "m.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True))
    theirs.set_weights([w * 2 for w in theirs.get_weights()])
    theirs.save_weights(tmp_path / "k.weights.h5")
    mine.load_weights(tmp_path / "k.weights.h5")
    assert all(np.array_equal(a, b) for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True))


def test_what_a_graph_s_file_cannot_hold_is_one_line(tmp_path):
    class Unkept(numpy_impl.Model):                 # its layer is made in call, so no attribute holds it
        def call(self, inputs, training=None):
            return layers.Dense(3, name="made_in_call")(inputs)
    model = Unkept()
    model.build((None, 4))
    with pytest.raises(ValueError, match=r"^layer 'made_in_call' of Unkept is not kept in an attribute of the model, "
                                         r"so Keras's files have no place for its weights: make it in __init__"):
        model.save(tmp_path / "u.keras")
    assert not list(tmp_path.iterdir())                                  # nothing half-written
    mlp = build(numpy_impl, "subclassed Model")
    mlp.save(tmp_path / "m.keras")
    with pytest.raises(numpy_impl.saving.ModelFileError, match=r"holds a MLP model, a class of the program that "
                                                                r"saved it: pass it, load_model\(path, custom_objects="):
        numpy_impl.models.load_model(tmp_path / "m.keras")

    class Unbuilt(keras.Model):                     # Keras saves a subclass before its first call, with a warning
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = keras.layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)
    with pytest.warns(UserWarning, match="not yet been built"):
        Unbuilt().save(tmp_path / "unbuilt.keras")
    with pytest.raises(numpy_impl.saving.ModelFileError, match=r"holds the model Unbuilt, saved before it was built "
                                                                r"\(no input shape\), so it has no weights"):
        numpy_impl.models.load_model(tmp_path / "unbuilt.keras", custom_objects={"Unbuilt": type(mlp)})


def test_a_registered_subclass_loads_without_custom_objects(tmp_path):
    @numpy_impl.saving.register_keras_serializable(package="Course")
    class Probe(numpy_impl.Model):
        def __init__(self, units=3, **kwargs):
            super().__init__(**kwargs)
            self.units = units
            self.out = layers.Dense(units, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(inputs)

        def get_config(self):
            return {"units": self.units}
    model = Probe(units=5)
    model.build((None, 4))
    model.save(tmp_path / "p.keras")
    again = numpy_impl.models.load_model(tmp_path / "p.keras")
    assert type(again) is Probe and again.units == 5
    assert all((a == b).all() for a, b in zip(model.get_weights(), again.get_weights(), strict=True))


def test_every_graph_builds_in_both_packages_with_the_same_weight_shapes():
    for name in GRAPHS:
        mine, theirs = build(numpy_impl, name), build(keras, name)
        assert [w.shape for w in mine.get_weights()] == [tuple(w.shape) for w in theirs.get_weights()], name


# ---- keras.io's guides, with only the import changed ---------------------------------------------------

TRAINING_GUIDE = """
import numpy as np
import keras
from keras import layers

inputs = keras.Input(shape=(784,), name="digits")
x = layers.Dense(64, activation="relu", name="dense_1")(inputs)
x = layers.Dense(64, activation="relu", name="dense_2")(x)
outputs = layers.Dense(10, activation="softmax", name="predictions")(x)
model = keras.Model(inputs=inputs, outputs=outputs)

(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255
y_train = y_train.astype("float32")
y_test = y_test.astype("float32")
x_val = x_train[-200:]
y_val = y_train[-200:]
x_train = x_train[:-200]
y_train = y_train[:-200]

model.compile(
    optimizer=keras.optimizers.RMSprop(),
    loss=keras.losses.SparseCategoricalCrossentropy(),
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val), verbose=0)
results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
predictions = model.predict(x_test[:3], verbose=0)

class_weight = {0: 1.0, 1: 1.0, 2: 1.0, 3: 1.0, 4: 1.0, 5: 2.0, 6: 1.0, 7: 1.0, 8: 1.0, 9: 1.0}
class_history = model.fit(x_train, y_train, class_weight=class_weight, batch_size=64, epochs=1, verbose=0)
sample_weight = np.ones(shape=(len(y_train),))
sample_weight[y_train == 5] = 2.0
sample_history = model.fit(x_train, y_train, sample_weight=sample_weight, batch_size=64, epochs=1, verbose=0)

callbacks = [
    keras.callbacks.EarlyStopping(
        monitor="val_loss", min_delta=1e-2, patience=2, verbose=1,
    )
]
stopping_history = model.fit(x_train, y_train, epochs=20, batch_size=64, callbacks=callbacks,
                             validation_split=0.2, verbose=0)

callbacks = [
    keras.callbacks.ModelCheckpoint(
        filepath=folder + "/mymodel_{epoch}.keras",
        save_best_only=True,
        monitor="val_loss",
        verbose=1,
    )
]
model.fit(x_train, y_train, epochs=2, batch_size=64, callbacks=callbacks, validation_split=0.2, verbose=0)

initial_learning_rate = 0.1
lr_schedule = keras.optimizers.schedules.ExponentialDecay(
    initial_learning_rate, decay_steps=100000, decay_rate=0.96, staircase=True
)
optimizer = keras.optimizers.RMSprop(learning_rate=lr_schedule)
"""


@contextlib.contextmanager
def one_start_in_float64():
    """Both packages in float64, neither fit shuffling, and each Keras model starting from the weights the
    matching numpy_impl model started from (numpy_impl's run goes first): the guide's own text then gives the
    same numbers in both, to 1e-12. Without this each package draws its own weights, and only the keys and
    forms could be compared."""
    started, handed = [], []
    fits = {numpy_impl: numpy_impl.Sequential.fit, keras: keras.Model.fit}

    def from_the_same_start(package):
        def fit(self, *args, **kwargs):
            kwargs.setdefault("shuffle", False)
            if package is numpy_impl and all(self is not model for model, _ in started):
                started.append((self, [w.copy() for w in self.get_weights()]))
            elif package is keras and all(self is not model for model in handed):
                self.set_weights(started[len(handed)][1])
                handed.append(self)
            return fits[package](self, *args, **kwargs)
        return fit
    numpy_impl.Sequential.fit, keras.Model.fit = from_the_same_start(numpy_impl), from_the_same_start(keras)
    numpy_impl.config.set_floatx("float64")
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        numpy_impl.Sequential.fit, keras.Model.fit = fits[numpy_impl], fits[keras]
        numpy_impl.config.set_floatx("float32")
        keras.config.set_floatx("float32")
        keras.config.set_dtype_policy("float32")


def assert_same_numbers(mine, theirs, what, tolerance=1e-12):
    """Two History.history dicts (or evaluate's lists): the same keys, the same number of values, each equal
    to `tolerance`."""
    if isinstance(mine, dict):
        assert sorted(mine) == sorted(theirs), what
        for key in mine:
            assert_same_numbers(mine[key], theirs[key], f"{what}[{key!r}]", tolerance)
        return
    mine, theirs = np.asarray(mine, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    assert mine.shape == theirs.shape, what
    assert np.abs(mine - theirs).max(initial=0) < tolerance, (what, mine, theirs)


@pytest.mark.slow
def test_the_training_and_evaluation_guide_runs_with_only_the_import_changed(tmp_path):
    """keras.io, "Training & evaluation with the built-in methods": its functional MNIST model, fit with
    validation data, evaluate, predict, class and sample weights, EarlyStopping and ModelCheckpoint writing
    .keras files, run as the guide writes them, from the same start in float64 (one_start_in_float64). Every
    number the guide prints or returns agrees to 1e-12, and so do the files: each package loads the other's
    checkpoints."""
    import compare.data
    from .test_keras_api import run
    (images, labels), (test_images, test_labels) = compare.data.load_mnist("sample")
    data = ((images[:1000], labels[:1000]), (test_images[:300], test_labels[:300]))
    ran = {}
    with one_start_in_float64():
        for package in ("numpy_impl", "keras"):
            folder = tmp_path / package
            folder.mkdir()
            ran[package] = run(TRAINING_GUIDE, package, load_data=lambda: data, folder=str(folder))
            ran[package]["written"] = sorted(path.name for path in folder.iterdir())
    theirs, mine = ran["keras"], ran["numpy_impl"]
    for key in ("history", "class_history", "sample_history", "stopping_history"):
        assert_same_numbers(mine[key].history, theirs[key].history, key)
    assert_same_numbers(mine["results"], theirs["results"], "results")
    assert_same_numbers(mine["predictions"], theirs["predictions"], "predictions")
    assert mine["written"] == theirs["written"] and mine["written"][0].startswith("mymodel_")
    assert mine["printed"].replace("numpy_impl", "keras") == theirs["printed"]   # EarlyStopping's and
    last = mine["written"][-1]                                                   # ModelCheckpoint's lines
    mine_read = keras.models.load_model(tmp_path / "numpy_impl" / last)
    theirs_read = numpy_impl.models.load_model(tmp_path / "keras" / last)
    for a, b in zip(mine_read.get_weights(), theirs_read.get_weights(), strict=True):
        assert np.abs(a - b).max() < 1e-12
    assert mine["history"].history["val_sparse_categorical_accuracy"][-1] > 0.5    # it learned


CALLBACKS_GUIDE = """
import keras

class CustomCallback(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        print("Starting training; got log keys: {}".format(list(logs or {})))
    def on_epoch_begin(self, epoch, logs=None):
        print("Start epoch {} of training; got log keys: {}".format(epoch, list(logs or {})))
    def on_epoch_end(self, epoch, logs=None):
        print("End epoch {} of training; got log keys: {}".format(epoch, sorted(logs)))
    def on_test_begin(self, logs=None):
        print("Start testing; got log keys: {}".format(list(logs or {})))
    def on_test_end(self, logs=None):
        print("Stop testing; got log keys: {}".format(sorted(logs)))
    def on_predict_begin(self, logs=None):
        print("Start predicting; got log keys: {}".format(list(logs or {})))
    def on_predict_end(self, logs=None):
        print("Stop predicting; got log keys: {}".format(list(logs or {})))
    def on_train_batch_end(self, batch, logs=None):
        print("...Training: end of batch {}; got log keys: {}".format(batch, sorted(logs)))
    def on_test_batch_end(self, batch, logs=None):
        print("...Evaluating: end of batch {}; got log keys: {}".format(batch, sorted(logs)))
    def on_predict_batch_end(self, batch, logs=None):
        print("...Predicting: end of batch {}; got log keys: {}".format(batch, sorted(logs)))

class EarlyStoppingAtMinLoss(keras.callbacks.Callback):
    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None
    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = float("inf")
    def on_epoch_end(self, epoch, logs=None):
        current = logs.get("loss")
        if current < self.best:
            self.best = current
            self.wait = 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)

class LossHistory(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.per_batch_losses = []
    def on_batch_end(self, batch, logs=None):
        self.per_batch_losses.append(logs.get("loss"))

model = get_model()
model.fit(x, y, batch_size=16, epochs=1, verbose=0, validation_split=0.25, callbacks=[CustomCallback()])
res = model.evaluate(x, y, batch_size=16, verbose=0, callbacks=[CustomCallback()])
res = model.predict(x, batch_size=16, verbose=0, callbacks=[CustomCallback()])
losses = LossHistory()
model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[losses])
stopping = EarlyStoppingAtMinLoss(patience=1)
stopped = model.fit(x, y, batch_size=16, epochs=30, verbose=0, callbacks=[stopping])
"""


@pytest.mark.slow
def test_the_writing_your_own_callbacks_guide_runs_with_only_the_import_changed(batch):
    """keras.io, "Writing your own callbacks", from the same start in float64 (one_start_in_float64): its
    CustomCallback prints what every hook is given (the same lines here as in Keras), its per-batch loss list
    fills (on_batch_end) with the same losses, its EarlyStoppingAtMinLoss stops at the same epoch."""
    from .test_keras_api import run
    x, y = np.tile(batch[0], (4, 1)) * 0.1, np.tile(batch[1], (4, 1))            # 64 digits: 4 batches of 16

    def get_model(package):
        def make():
            model = package.Sequential([package.Input((784,)), package.layers.Dense(8, activation="relu"),
                                        package.layers.Dense(10, activation="softmax")])
            model.compile(optimizer=package.optimizers.SGD(0.5), loss="categorical_crossentropy",
                          metrics=["accuracy"])
            return model
        return make
    with one_start_in_float64():
        ran = {name: run(CALLBACKS_GUIDE, name, get_model=get_model(package), x=x, y=y)
               for name, package in (("numpy_impl", numpy_impl), ("keras", keras))}
    theirs, mine = ran["keras"], ran["numpy_impl"]
    assert mine["printed"] == theirs["printed"]                       # every hook, its batch, its log keys
    assert len(mine["losses"].per_batch_losses) == 4
    assert_same_numbers(mine["losses"].per_batch_losses, theirs["losses"].per_batch_losses, "per-batch losses")
    assert_same_numbers(mine["stopped"].history, theirs["stopped"].history, "stopped")
    assert 0 < mine["stopping"].stopped_epoch == theirs["stopping"].stopped_epoch < 29


def test_layer_outputs_follow_the_graph(batch):
    """numpy_impl.layer_outputs on a graph: each layer on the tensors it reads, so an Add's output is the sum
    of its inputs' and the last is predict's."""
    model = build(numpy_impl, "residual, Add")
    outputs = dict(numpy_impl.layer_outputs(model, batch[0]))
    assert list(outputs) == [layer.name for layer in model.layers[1:]]
    add = next(node for node in model.nodes if type(node.layer).__name__ == "Add")
    first, second = (tensor.node.layer.name for tensor in add.inputs)
    np.testing.assert_array_equal(outputs[add.layer.name], outputs[first] + outputs[second])
    np.testing.assert_array_equal(outputs[model.layers[-1].name], model.predict(batch[0]))


SAVING_GUIDE = """
import numpy as np
import keras

@keras.saving.register_keras_serializable(package="my_package")
class CustomModel(keras.Model):
    def __init__(self, hidden_units):
        super().__init__()
        self.hidden_units = hidden_units
        self.dense_layers = [keras.layers.Dense(u) for u in hidden_units]

    def call(self, inputs):
        x = inputs
        for layer in self.dense_layers:
            x = layer(x)
        return x

    def get_config(self):
        return {"hidden_units": self.hidden_units}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

model = CustomModel([16, 16, 10])
input_arr = np.random.default_rng(0).random((1, 5))
outputs = model(input_arr)
model.save(folder + "/custom_model.keras")
loaded = keras.models.load_model(folder + "/custom_model.keras")
np.testing.assert_allclose(loaded(input_arr), outputs)
"""


def test_the_saving_guide_s_custom_model_runs_and_each_package_loads_the_other_s_file(tmp_path):
    """keras.io, "Save, serialize, and export models": its subclassed CustomModel (a list of layers, call
    without training, get_config and from_config, registered), saved and loaded, with only the import changed;
    then each package loads the file the other wrote and computes the same outputs."""
    from .test_keras_api import run
    ran = {}
    for package in ("numpy_impl", "keras"):
        (tmp_path / package).mkdir()
        ran[package] = run(SAVING_GUIDE, package, folder=str(tmp_path / package))
    for writer, reader in (("numpy_impl", keras), ("keras", numpy_impl)):
        model = reader.models.load_model(tmp_path / writer / "custom_model.keras")
        assert type(model).__name__ == "CustomModel" and model.hidden_units == [16, 16, 10]
        np.testing.assert_allclose(np.asarray(model(ran[writer]["input_arr"])), np.asarray(ran[writer]["outputs"]),
                                   rtol=1e-6, atol=1e-6)
