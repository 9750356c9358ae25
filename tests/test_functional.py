"""The functional API and subclassed models (numpy_impl/functional.py): backpropagation through a graph of layers.

A chain written with the functional API is Sequential bit for bit; a residual network (Add) and one with
Concatenate have gradients that finite differences confirm, and the gradient of a tensor read twice is the
sum of both readers' (undo the sum and finite differences disagree); keras.io's functional-API guide runs
with only the import changed; and the graph answers what Keras's does (layers, inputs, outputs, get_layer,
summary). The float64 lockstep on TensorFlow, JAX and PyTorch is tests/test_backends.py's.
"""
import numpy as np
import pytest

import numpy_impl
from numpy_impl import functional, layers

from .graphs import GRAPHS, build

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
    """keras.io, "The Functional API": its MNIST model, as the guide writes it, on both packages."""
    x, labels = batch[0], batch[1].argmax(axis=1)
    results = {}
    for package in (keras, numpy_impl):
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
        results[package.__name__] = (sorted(history.history), model.name, [layer.name for layer in model.layers
                                                                          if type(layer).__name__ != "InputLayer"],
                                     len(model.evaluate(x, labels, verbose=0)), "\n".join(lines).rstrip("\n"))
    mine, theirs = results["numpy_impl"], results["keras"]
    assert mine[:4] == theirs[:4]
    assert mine[4] == theirs[4]                      # the same summary table, character for character


def test_the_model_answers_what_keras_s_does():
    inputs = numpy_impl.Input(shape=(6,))
    hidden = layers.Dense(8, activation="relu", name="hidden")(inputs)
    joined = layers.Concatenate(name="join")([hidden, layers.Dense(4, name="side")(inputs)])
    outputs = layers.Dense(3, activation="softmax", name="out")(joined)
    model = numpy_impl.Model(inputs, outputs, name="branched")
    assert [layer.name for layer in model.layers] == ["hidden", "side", "join", "out"]
    assert model.inputs == [inputs] and model.outputs == [outputs]
    assert model.get_layer("join").output_shape == (12,) and model.get_layer(index=-1).name == "out"
    assert [w.shape for w in model.get_weights()] == [(6, 8), (8,), (6, 4), (4,), (12, 3), (3,)]
    assert model.count_params() == 6 * 8 + 8 + 6 * 4 + 4 + 12 * 3 + 3
    assert model.predict(np.ones((2, 6))).shape == (2, 3)


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


def test_a_functional_model_saves_its_weights_and_says_what_it_does_not_save(tmp_path, batch):
    model = build(numpy_impl, "residual, Add")
    model.save_weights(tmp_path / "r.weights.h5")
    other = build(numpy_impl, "residual, Add", seed=5)
    other.load_weights(tmp_path / "r.weights.h5")
    assert all((a == b).all() for a, b in zip(model.get_weights(), other.get_weights()))
    theirs = build(keras, "residual, Add")
    theirs.load_weights(tmp_path / "r.weights.h5")                # Keras reads the file numpy_impl wrote
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), theirs.get_weights()))
    with pytest.raises(numpy_impl.NotSupported, match="save_weights"):
        model.save(tmp_path / "r.keras")


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
        filepath=folder + "/mymodel_{epoch}.weights.h5",
        save_weights_only=True,
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


@pytest.mark.slow
def test_the_training_and_evaluation_guide_runs_with_only_the_import_changed(tmp_path):
    """keras.io, "Training & evaluation with the built-in methods": its functional MNIST model, fit with
    validation data, evaluate, predict, class and sample weights, EarlyStopping and ModelCheckpoint, run as
    the guide writes them (its ModelCheckpoint as its weights-only variant; numpy_impl does not write a
    functional model's .keras file). What each run defines must agree: History's keys, the results' form,
    the files written. (The numbers themselves, from the same weights, are tests/test_callbacks.py's and
    tests/test_weights.py's, in float64.)"""
    import compare.data
    from .test_keras_api import run
    (images, labels), (test_images, test_labels) = compare.data.load_mnist("sample")
    data = ((images[:1000], labels[:1000]), (test_images[:300], test_labels[:300]))
    ran = {}
    for package in ("keras", "numpy_impl"):
        folder = tmp_path / package
        folder.mkdir()
        ran[package] = run(TRAINING_GUIDE, package, load_data=lambda: data, folder=str(folder))
        ran[package]["written"] = sorted(path.name for path in folder.iterdir())
    theirs, mine = ran["keras"], ran["numpy_impl"]
    for key in ("history", "class_history", "sample_history", "stopping_history"):
        assert sorted(mine[key].history) == sorted(theirs[key].history), key
    assert len(mine["results"]) == len(theirs["results"]) == 2 and mine["predictions"].shape == (3, 10)
    assert mine["written"] and all(name.startswith("mymodel_") for name in mine["written"])
    assert set(mine["written"]) <= {"mymodel_1.weights.h5", "mymodel_2.weights.h5"}
    assert ("early stopping" in mine["printed"]) == ("early stopping" in theirs["printed"]) or \
        len(mine["stopping_history"].history["loss"]) != len(theirs["stopping_history"].history["loss"])
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
    """keras.io, "Writing your own callbacks": its CustomCallback prints what every hook is given (the same
    lines here as in Keras), its per-batch loss list fills (on_batch_end), its EarlyStoppingAtMinLoss stops."""
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
    ran = {name: run(CALLBACKS_GUIDE, name, get_model=get_model(package), x=x, y=y)
           for name, package in (("keras", keras), ("numpy_impl", numpy_impl))}
    theirs, mine = ran["keras"], ran["numpy_impl"]
    assert mine["printed"] == theirs["printed"]                       # every hook, its batch, its log keys
    assert len(mine["losses"].per_batch_losses) == len(theirs["losses"].per_batch_losses) == 4
    assert mine["stopping"].stopped_epoch > 0 and len(mine["stopped"].history["loss"]) < 30
