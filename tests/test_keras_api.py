"""Keras's own tutorials, run twice: against keras and against numpy_impl, with only the import changed.

Each snippet below is written as Keras's documentation writes it (`import keras`,
`from keras import layers`). `run(snippet, package)` swaps the import lines for
numpy_impl's (`import numpy_impl as keras`, `from numpy_impl import layers`) and
nothing else, runs it, and returns its variables; the tests compare what both
runs produced. Where a snippet needs MNIST, `load_data()` hands it a slice of the
offline sample in place of `keras.datasets.mnist.load_data()` (the one other change).
"""
import contextlib
import io
import re
import textwrap

import numpy as np
import pytest

import compare.data
from compare.check.reference import LOSS_CASES as CHECK_LOSS_CASES
import numpy_impl
from .sampling import every

keras = pytest.importorskip("keras")


def swap_imports(source):
    """keras's import lines -> numpy_impl's; every other line untouched."""
    source = re.sub(r"^import keras$", "import numpy_impl as keras", source, flags=re.M)
    return re.sub(r"^from keras(\.\w+)? import", r"from numpy_impl\1 import", source, flags=re.M)


def run(snippet, package, **given):
    """Run `snippet` (Keras's form) against "keras" or "numpy_impl"; its variables and printed text."""
    source = textwrap.dedent(snippet)
    if package == "numpy_impl":
        source = swap_imports(source)
    (keras if package == "keras" else numpy_impl).utils.clear_session()     # default names from "dense"
    (keras if package == "keras" else numpy_impl).utils.set_random_seed(0)
    namespace = dict(given)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, f"<{package} snippet>", "exec"), namespace)
    namespace["printed"] = printed.getvalue()
    return namespace


def both(snippet, **given):
    return run(snippet, "keras", **given), run(snippet, "numpy_impl", **given)


@contextlib.contextmanager
def keras_eagerly():
    """Keras runs a few steps op by op: for six steps, tracing its train function (a second or two
    a model) costs more than the steps. The snippet's text and what it returns are the same."""
    compile_traced = keras.Model.compile

    def compile_eagerly(self, *args, **kwargs):
        kwargs.setdefault("run_eagerly", True)
        return compile_traced(self, *args, **kwargs)
    keras.Model.compile = compile_eagerly
    try:
        yield
    finally:
        keras.Model.compile = compile_traced


def summary_rows(printed):
    """(name, type, output shape, parameters) per layer row, and the totals, from summary()'s table."""
    rows = re.findall(r"│ (\w+) \((\w+)\)\s+│ (\([\w, ]+\))\s+│\s+([\d,]+) │", printed)
    totals = re.findall(r"(Total|Trainable|Non-trainable) params: ([\d,]+)", printed)
    return rows, totals


@pytest.fixture(scope="module")
def mnist_slice():
    """load_data() for the snippets: 2,000 training and 500 test digits of the offline sample, as
    keras.datasets.mnist.load_data() gives them (uint8 images (n, 28, 28), uint8 labels (n,))."""
    (images, labels), _ = compare.data.load_mnist("sample")
    return lambda: ((images[:2000], labels[:2000]), (images[2000:2500], labels[2000:2500]))


# ---- TensorFlow's beginner quickstart ------------------------------------------------
# tensorflow.org/tutorials/quickstart/beginner, with tf.keras written keras (Keras 3's form),
# .numpy() left out (numpy_impl's results are NumPy already) and tf.nn.softmax as keras's.

QUICKSTART = """
import keras
(x_train, y_train), (x_test, y_test) = load_data()
x_train, x_test = x_train / 255.0, x_test / 255.0

model = keras.models.Sequential([
  keras.layers.Flatten(input_shape=(28, 28)),
  keras.layers.Dense(128, activation='relu'),
  keras.layers.Dropout(0.2),
  keras.layers.Dense(10)
])
predictions = model(x_train[:1])
probabilities = keras.activations.softmax(predictions)
loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
initial_loss = loss_fn(y_train[:1], predictions)

model.compile(optimizer='adam',
              loss=loss_fn,
              metrics=['accuracy'])
history = model.fit(x_train, y_train, epochs=5)
evaluated = model.evaluate(x_test,  y_test, verbose=2)

probability_model = keras.Sequential([
  model,
  keras.layers.Softmax()
])
top5 = probability_model(x_test[:5])
"""


@pytest.fixture(scope="module")
def quickstart(mnist_slice):
    return both(QUICKSTART, load_data=mnist_slice)


def test_quickstart_runs_and_answers_as_keras_does(quickstart):
    theirs, mine = quickstart
    assert np.shape(mine["predictions"]) == tuple(theirs["predictions"].shape) == (1, 10)
    np.testing.assert_allclose(np.sum(mine["probabilities"]), 1, rtol=1e-6)
    # At Glorot-small weights the first loss is near ln(10) in both: a float in numpy_impl, as float() of Keras's.
    assert isinstance(mine["initial_loss"], float)
    assert abs(mine["initial_loss"] - np.log(10)) < 1.0 and abs(float(theirs["initial_loss"]) - np.log(10)) < 1.0
    assert list(mine["history"].history) == list(theirs["history"].history) == ["accuracy", "loss"]
    assert len(mine["history"].history["loss"]) == 5
    assert len(mine["evaluated"]) == len(theirs["evaluated"]) == 2
    assert mine["evaluated"][1] > 0.75 and theirs["evaluated"][1] > 0.75     # 2,000 digits, 5 epochs
    # Keras's evaluate(verbose=2) prints one line with the figures; so does numpy_impl's, in Keras's form.
    for run_ in (theirs, mine):
        assert re.search(r"^16/16 - \d+s - \d+ms/step - accuracy: 0\.\d{4} - loss: \d\.\d{4}$", run_["printed"], re.M)
    np.testing.assert_allclose(np.asarray(mine["top5"]).sum(axis=1), 1, rtol=1e-6)
    assert np.shape(mine["top5"]) == tuple(theirs["top5"].shape) == (5, 10)


def test_quickstart_model_at_keras_weights_gives_keras_outputs(quickstart):
    theirs, mine = quickstart
    model = mine["model"]
    model.set_weights(theirs["model"].get_weights())
    x = theirs["x_test"][:50]
    np.testing.assert_allclose(model(x), np.asarray(theirs["model"](x)), rtol=0, atol=1e-5)
    np.testing.assert_allclose(mine["probability_model"](x), np.asarray(theirs["probability_model"](x)),
                               rtol=0, atol=1e-6)       # the nested model shares its layers, as in Keras
    np.testing.assert_allclose(model.evaluate(x, theirs["y_test"][:50], verbose=0),
                               theirs["model"].evaluate(x, theirs["y_test"][:50], verbose=0), rtol=1e-5)


# ---- The classic mnist_mlp example -------------------------------------------------------
# keras-team/keras examples/mnist_mlp.py, on 1,000 training and 300 test digits of the slice.

MNIST_MLP = """
import keras
from keras.models import Sequential
from keras.layers import Dense, Dropout
from keras.optimizers import RMSprop

batch_size = 128
num_classes = 10
epochs = 20

(x_train, y_train), (x_test, y_test) = load_data()

x_train = x_train.reshape(len(x_train), 784)
x_test = x_test.reshape(len(x_test), 784)
x_train = x_train.astype('float32')
x_test = x_test.astype('float32')
x_train /= 255
x_test /= 255
print(x_train.shape[0], 'train samples')
print(x_test.shape[0], 'test samples')

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)

model = Sequential()
model.add(Dense(512, activation='relu', input_shape=(784,)))
model.add(Dropout(0.2))
model.add(Dense(512, activation='relu'))
model.add(Dropout(0.2))
model.add(Dense(num_classes, activation='softmax'))

model.summary()

model.compile(loss='categorical_crossentropy',
              optimizer=RMSprop(),
              metrics=['accuracy'])

history = model.fit(x_train, y_train,
                    batch_size=batch_size,
                    epochs=epochs,
                    verbose=1,
                    validation_data=(x_test, y_test))
score = model.evaluate(x_test, y_test, verbose=0)
print('Test loss:', score[0])
print('Test accuracy:', score[1])
"""


@pytest.mark.slow
def test_mnist_mlp_runs_and_answers_as_keras_does(mnist_slice):
    (x_train, y_train), (x_test, y_test) = mnist_slice()
    smaller = lambda: ((x_train[:1000], y_train[:1000]), (x_test[:300], y_test[:300]))   # noqa: E731 (20 epochs)
    theirs, mine = both(MNIST_MLP, load_data=smaller)
    np.testing.assert_array_equal(mine["y_train"], theirs["y_train"])           # to_categorical
    assert mine["y_train"].dtype == theirs["y_train"].dtype == np.float64
    assert summary_rows(mine["printed"]) == summary_rows(theirs["printed"])
    assert summary_rows(mine["printed"])[0][0] == ("dense", "Dense", "(None, 512)", "401,920")
    keys = ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert list(mine["history"].history) == list(theirs["history"].history) == keys
    assert len(mine["score"]) == len(theirs["score"]) == 2
    # both learn (chance is 0.1); how far differs by machine: on a 2-core EPYC without AVX-512 (OpenBLAS's
    # Haswell kernel) Keras's own run reaches 0.827 on these 300 digits and numpy_impl's 0.913
    assert mine["score"][1] > 0.75 and theirs["score"][1] > 0.75
    # The progress bar's last line of an epoch shows the validation figures, as Keras's does.
    assert re.search(r"val_accuracy: 0\.\d{4} - val_loss: \d\.\d{4}", mine["printed"])


# ---- Keras's guide "The Sequential model" ----------------------------------------------------
# keras.io/guides/sequential_model, its snippets a dense network can run (np.ones for ops.ones).

SEQUENTIAL_GUIDE = {
    "named layers, called on a batch": """
        import keras
        from keras import layers
        model = keras.Sequential(
            [
                layers.Dense(2, activation="relu", name="layer1"),
                layers.Dense(3, activation="relu", name="layer2"),
                layers.Dense(4, name="layer3"),
            ]
        )
        x = np.ones((3, 3))
        y = model(x)
        result = (y.shape, [layer.name for layer in model.layers])
        """,
    "add and pop": """
        import keras
        from keras import layers
        model = keras.Sequential()
        model.add(layers.Dense(2, activation="relu"))
        model.add(layers.Dense(3, activation="relu"))
        model.add(layers.Dense(4))
        model.pop()
        result = (len(model.layers), [layer.name for layer in model.layers])
        """,
    "a named model": """
        import keras
        from keras import layers
        model = keras.Sequential(name="my_sequential")
        model.add(layers.Dense(2, activation="relu", name="layer1"))
        model.add(layers.Dense(3, activation="relu", name="layer2"))
        model.add(layers.Dense(4, name="layer3"))
        result = (model.name, model.get_layer("layer2").name, model.get_layer(index=0).name)
        """,
    "a layer's weights, made on its first call": """
        import keras
        from keras import layers
        layer = layers.Dense(3)
        before = len(layer.weights)
        x = np.ones((1, 4))
        y = layer(x)
        result = (before, [tuple(w.shape) for w in layer.weights], tuple(y.shape), layer.name)
        """,
    "layers called alone compute in float32, as Keras's floatx": """
        import keras
        from keras import layers
        x = np.arange(12.0).reshape(2, 6)          # float64, as NumPy makes it
        dense, flatten, dropout = layers.Dense(3), layers.Flatten(), layers.Dropout(0.5, seed=1)
        kept = np.asarray(dropout(np.ones((4, 6)), training=True))
        result = (np.asarray(dense(x)).dtype.name, np.asarray(dense(np.ones((2, 6), dtype=int))).dtype.name,
                  np.asarray(flatten(x.reshape(2, 3, 2))).dtype.name, np.asarray(dropout(x)).dtype.name,
                  sorted(set(kept.ravel().tolist())), sorted(set(np.asarray(dropout(np.ones((4, 6)))).ravel().tolist())))
        model = keras.Sequential([keras.Input(shape=(6,)), layers.Dropout(0.5, seed=2)])
        result += (sorted(set(np.asarray(model(np.ones((4, 6)), training=True)).ravel().tolist())),
                   sorted(set(np.asarray(model(np.ones((4, 6)))).ravel().tolist())))
        """,
    "a model's weights, made on its first call": """
        import keras
        from keras import layers
        model = keras.Sequential(
            [
                layers.Dense(2, activation="relu"),
                layers.Dense(3, activation="relu"),
                layers.Dense(4),
            ]
        )  # No weights at this stage!
        before = len(model.weights)
        x = np.ones((1, 4))
        y = model(x)
        print("Number of weights after calling the model:", len(model.weights))
        model.summary()
        result = (before, len(model.weights), [layer.name for layer in model.layers])
        """,
    "Input first, summary at once": """
        import keras
        from keras import layers
        model = keras.Sequential()
        model.add(keras.Input(shape=(4,)))
        model.add(layers.Dense(2, activation="relu"))
        model.summary()
        result = (len(model.layers), model.built)
        """,
    "input_shape on the first layer": """
        import keras
        from keras import layers
        model = keras.Sequential()
        model.add(layers.Dense(2, activation="relu", input_shape=(4,)))
        model.summary()
        result = (len(model.layers), len(model.weights))
        """,
    "build with the batch dimension": """
        import keras
        from keras import layers
        model = keras.Sequential([layers.Dense(8, activation="relu"), layers.Dropout(0.5), layers.Dense(3)])
        model.build((None, 16))
        model.summary()
        result = ([tuple(w.shape) for w in model.weights], [layer.name for layer in model.layers])
        """,
}


@pytest.mark.parametrize("name", every(3, list(SEQUENTIAL_GUIDE)))
def test_sequential_guide_snippet(name):
    theirs, mine = both(SEQUENTIAL_GUIDE[name], np=np)
    assert _plain(mine["result"]) == _plain(theirs["result"])
    assert summary_rows(mine["printed"]) == summary_rows(theirs["printed"])
    assert mine["printed"].count("Model:") == theirs["printed"].count("Model:")


# ---- Keras's guide "Training & evaluation with the built-in methods" -------------------------------
# keras.io/guides/training_with_built_in_methods: its model as a Sequential (numpy_impl has no functional API).

TRAINING_GUIDE = """
import keras
from keras import layers
(x_train, y_train), (x_test, y_test) = load_data()
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
x_test = x_test.reshape(len(x_test), 784).astype("float32") / 255
y_train = y_train.astype("float32")
y_test = y_test.astype("float32")
x_val = x_train[-500:]
y_val = y_train[-500:]
x_train = x_train[:-500]
y_train = y_train[:-500]

model = keras.Sequential([
    keras.Input(shape=(784,), name="digits"),
    layers.Dense(64, activation="relu", name="dense_1"),
    layers.Dense(64, activation="relu", name="dense_2"),
    layers.Dense(10, activation="softmax", name="predictions"),
])
model.compile(
    optimizer=keras.optimizers.RMSprop(),  # Optimizer
    # Loss function to minimize
    loss=keras.losses.SparseCategoricalCrossentropy(),
    # List of metrics to monitor
    metrics=[keras.metrics.SparseCategoricalAccuracy()],
)
history = model.fit(
    x_train,
    y_train,
    batch_size=64,
    epochs=2,
    # We pass some validation for
    # monitoring validation loss and metrics
    # at the end of each epoch
    validation_data=(x_val, y_val),
)
results = model.evaluate(x_test, y_test, batch_size=128)
as_dict = model.evaluate(x_test, y_test, batch_size=128, verbose=0, return_dict=True)
predictions = model.predict(x_test[:3])
"""


def test_training_guide_runs_and_answers_as_keras_does(mnist_slice):
    theirs, mine = both(TRAINING_GUIDE, load_data=mnist_slice)
    keys = ["loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"]
    assert list(mine["history"].history) == list(theirs["history"].history) == keys
    assert len(mine["results"]) == len(theirs["results"]) == 2
    assert list(mine["as_dict"]) == list(theirs["as_dict"]) == ["loss", "sparse_categorical_accuracy"]
    assert mine["as_dict"]["loss"] == pytest.approx(mine["results"][0])
    assert mine["predictions"].shape == theirs["predictions"].shape == (3, 10)
    assert [layer.name for layer in mine["model"].layers] == ["dense_1", "dense_2", "predictions"]


# ---- optimizers with Keras's options, as its optimizer docs write them -----------------------------------

OPTIMIZER_SNIPPET = """
import keras
from keras import layers
model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"),
                          layers.Dense(3, activation="softmax")])
opt = {optimizer}
model.compile(loss="sparse_categorical_crossentropy", optimizer=opt, metrics=["accuracy"])
history = model.fit(x, y, batch_size=16, epochs=2, verbose=0)
result = (list(history.history), len(history.history["loss"]))
"""


@pytest.mark.parametrize("optimizer", every(3, [
    "keras.optimizers.AdamW(learning_rate=0.001, weight_decay=0.004)",
    "keras.optimizers.Adagrad(learning_rate=0.01)",
    "keras.optimizers.SGD(learning_rate=0.01, momentum=0.9, weight_decay=1e-4)",
    "keras.optimizers.Adam(learning_rate=0.01, global_clipnorm=1.0)",
    "keras.optimizers.RMSprop(clipnorm=1.0)",
    "keras.optimizers.SGD(clipvalue=0.5)",
    "keras.optimizers.SGD(learning_rate=keras.optimizers.schedules.ExponentialDecay("
    "initial_learning_rate=1e-2, decay_steps=10000, decay_rate=0.9))",
    "keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay("
    "0.0, 1000, warmup_target=0.1, warmup_steps=1000))",
    "keras.optimizers.SGD(keras.optimizers.schedules.PiecewiseConstantDecay([4, 6], [1.0, 0.5, 0.1]))",
]))
def test_optimizers_with_keras_options(optimizer):
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(48, 4)).astype("float32"), rng.integers(0, 3, 48)
    with keras_eagerly():
        theirs, mine = both(OPTIMIZER_SNIPPET.format(optimizer=optimizer), x=x, y=y)
    assert mine["result"] == theirs["result"] == (["accuracy", "loss"], 2)
    for option in ("weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        assert getattr(mine["opt"], option) == getattr(theirs["opt"], option), option
    assert float(mine["opt"].learning_rate) == pytest.approx(float(theirs["opt"].learning_rate), rel=1e-6)


@pytest.mark.parametrize("kind, options", [
    ("SGD", {}), ("SGD", dict(momentum=0.9)), ("SGD", dict(momentum=0.9, nesterov=True)),
    ("Adam", {}), ("Adam", dict(amsgrad=True)), ("AdamW", {}), ("RMSprop", {}), ("RMSprop", dict(momentum=0.5)),
    ("Adagrad", {}), ("SGD", dict(momentum=0.5, clipnorm=0.7, weight_decay=0.01))], ids=str)
def test_optimizer_updates_are_keras_updates_bit_for_bit(kind, options):
    """Five float32 steps of each optimizer from the same weights and gradients: every weight
    equal to Keras's in every bit. Float32 rounds each operation, so the operations must be
    Keras's in Keras's order (Nesterov: w + (m * v - lr * g), not (w - lr * g) + m * v)."""
    rng = np.random.default_rng(5)
    shapes = [(7, 5), (5,)]
    start = [rng.standard_normal(shape).astype("float32") for shape in shapes]
    steps = [[rng.standard_normal(shape).astype("float32") for shape in shapes] for _ in range(5)]
    theirs = [keras.Variable(w.copy()) for w in start]
    mine = [w.copy() for w in start]
    keras_optimizer = getattr(keras.optimizers, kind)(learning_rate=0.03, **options)
    my_optimizer = getattr(numpy_impl.optimizers, kind)(learning_rate=0.03, **options)
    for grads in steps:
        keras_optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], theirs)
        my_optimizer.apply([g.copy() for g in grads], mine)
    assert all(not np.array_equal(w, w0) for w, w0 in zip(mine, start))
    for got, want in zip(mine, theirs):
        np.testing.assert_array_equal(got, keras.ops.convert_to_numpy(want))


REGULARIZER_SNIPPET = """
import keras
from keras import layers, regularizers
model = keras.Sequential([
    keras.Input(shape=(4,)),
    layers.Dense(units=8, activation="relu", kernel_regularizer=regularizers.L1L2(l1=1e-5, l2=1e-4)),
    layers.Dense(units=3, activation="softmax", kernel_regularizer=regularizers.L1(0.01)),
])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
history = model.fit(x, y, epochs=1, verbose=0)
penalty = regularizers.L2(0.01)(np.ones((2, 2)))
"""


def test_regularizers_as_keras_docs_write_them():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    with keras_eagerly():
        theirs, mine = both(REGULARIZER_SNIPPET, x=x, y=y, np=np)
    assert list(mine["history"].history) == list(theirs["history"].history) == ["loss"]
    assert mine["penalty"] == pytest.approx(float(theirs["penalty"]), rel=1e-6) == 0.04


INITIALIZER_SNIPPET = """
import keras
from keras import layers, initializers
layer = layers.Dense(units=64, kernel_initializer=initializers.RandomNormal(stddev=0.01))
by_name = layers.Dense(units=64, kernel_initializer="he_normal")
y = layer(np.ones((2, 400)))
z = by_name(np.ones((2, 400)))
result = ([tuple(w.shape) for w in layer.weights], float(np.std(layer.weights[0])), float(np.std(by_name.weights[0])))
"""


def test_initializers_as_keras_docs_write_them():
    theirs, mine = both(INITIALIZER_SNIPPET, np=np)
    assert mine["result"][0] == theirs["result"][0] == [(400, 64), (64,)]
    for got, want in zip(mine["result"][1:], theirs["result"][1:]):
        assert got == pytest.approx(want, rel=0.05)                 # 0.01 and sqrt(2 / 400)


EARLY_STOPPING = """
import keras
from keras import layers
(x_train, y_train), _ = load_data()
x_train = x_train.reshape(len(x_train), 784).astype("float32") / 255
model = keras.Sequential([keras.Input(shape=(784,)), layers.Dense(64, activation="relu"),
                          layers.Dense(10, activation="softmax")])
model.compile(optimizer=keras.optimizers.RMSprop(), loss="sparse_categorical_crossentropy",
              metrics=["sparse_categorical_accuracy"])
callbacks = [
    keras.callbacks.EarlyStopping(
        # Stop training when `val_loss` is no longer improving
        monitor="val_loss",
        # "no longer improving" being defined as "no better than 1e-2 less"
        min_delta=1e-2,
        # "no longer improving" being further defined as "for at least 2 epochs"
        patience=2,
        verbose=1,
    )
]
history = model.fit(
    x_train,
    y_train,
    epochs=20,
    batch_size=64,
    callbacks=callbacks,
    validation_split=0.2,
)
"""


@pytest.mark.slow
def test_early_stopping_as_the_training_guide_writes_it(mnist_slice):
    theirs, mine = both(EARLY_STOPPING, load_data=mnist_slice)
    keys = ["loss", "sparse_categorical_accuracy", "val_loss", "val_sparse_categorical_accuracy"]
    assert list(mine["history"].history) == list(theirs["history"].history) == keys
    for run_ in (theirs, mine):                   # 1,600 training digits: both stop well before 20 epochs
        epochs = len(run_["history"].history["loss"])
        assert epochs < 20 and f"Epoch {epochs}: early stopping" in run_["printed"]
        assert len(re.findall(r"^Epoch \d+/20$", run_["printed"], re.M)) == epochs     # no epoch after the stop


# ---- compile's metrics, and evaluate's return ---------------------------------------------------

@pytest.mark.parametrize("metrics", every(3, [None, ["accuracy"], ["acc"], ["sparse_categorical_accuracy"],
                                              "metric object", "named metric object"]))
def test_history_keys_and_evaluate_forms_follow_keras(metrics):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 4)).astype("float32"), rng.integers(0, 3, 40)
    answers = []
    for package in (keras, numpy_impl):
        chosen = metrics
        if metrics == "metric object":
            chosen = [package.metrics.SparseCategoricalAccuracy()]
        elif metrics == "named metric object":
            chosen = [package.metrics.SparseCategoricalAccuracy(name="sca")]
        model = package.Sequential([package.Input(shape=(4,)), package.layers.Dense(3, activation="softmax")])
        with keras_eagerly():
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=chosen)
        history = model.fit(x, y, epochs=1, verbose=0, validation_data=(x, y))
        plain, as_dict = model.evaluate(x, y, verbose=0), model.evaluate(x, y, verbose=0, return_dict=True)
        answers.append((list(history.history), np.ndim(plain), np.size(plain), list(as_dict)))
    assert answers[1] == answers[0]


@pytest.mark.parametrize("bare", ["accuracy", "metric object"])
def test_a_bare_metric_not_in_a_list_is_refused_as_keras_refuses_it(bare):
    for package in (keras, numpy_impl):
        metric = bare if bare == "accuracy" else package.metrics.SparseCategoricalAccuracy()
        model = package.Sequential([package.Input(shape=(4,)), package.layers.Dense(3, activation="softmax")])
        with pytest.raises(ValueError) as caught:
            model.compile(loss="sparse_categorical_crossentropy", metrics=metric)
            model.fit(np.ones((4, 4)), np.zeros(4), verbose=0)           # Keras refuses at fit
    assert str(caught.value) == f"metrics must be a list, e.g. metrics=['accuracy'], got {metric!r}"


def test_compiling_a_model_without_layers_names_the_last_layer():
    for model in (numpy_impl.Sequential(), numpy_impl.Sequential([numpy_impl.Dense(2), numpy_impl.layers.Dropout(0.1)])):
        with pytest.raises(ValueError, match="^the last layer must be a Dense layer$"):
            model.compile()
    model = numpy_impl.Sequential([numpy_impl.Input(shape=(4,)), numpy_impl.Dense(2, activation="softmax")])
    with pytest.raises(ValueError, match=r"^optimizer must be 'sgd', 'adam', 'rmsprop' or an optimizer object, "
                                         r"got 0\.1$"):
        model.compile(optimizer=0.1)


def test_an_empty_model_is_unbuilt_with_no_metrics_as_in_keras():
    for package in (keras, numpy_impl):
        model = package.Sequential()
        assert (model.built, model.metrics, model.layers, model.weights) == (False, [], [], [])


def test_a_nested_sequential_lends_its_input_only_to_a_model_that_starts_with_it():
    rng = np.random.default_rng(0)
    inner = numpy_impl.Sequential([numpy_impl.Input(shape=(4,)), numpy_impl.Dense(3)])
    outer = numpy_impl.Sequential([inner])                   # starts with it: built for (4,), the same layers
    assert outer.built and outer.input_shape == (4,) and outer.layers == inner.layers
    x = rng.random((2, 4))
    np.testing.assert_array_equal(outer.predict(x), inner.predict(x))
    later = numpy_impl.Sequential([numpy_impl.Dense(4)])     # its own first layer: inner's input is not its input
    later.add(inner)
    assert later.built is False and later.input_shape is None
    assert later.predict(rng.random((2, 7))).shape == (2, 3) and later.layers[0].kernel.shape == (7, 4)
    with pytest.raises(ValueError, match="^an Input must come first, before any layer$"):
        numpy_impl.Sequential([numpy_impl.Dense(2), numpy_impl.Input(shape=(4,))])
    with pytest.raises(ValueError) as caught:
        numpy_impl.Sequential(["dense"])
    assert str(caught.value) == ("Sequential takes Input and the layers of numpy_impl.layers (Activation, Add, "
                                 "BatchNormalization, Concatenate, Dense, Dropout, ELU, Flatten, Input, InputLayer, "
                                 "LayerNormalization, LeakyReLU, ReLU, Softmax), "
                                 "got str")


def test_accuracy_by_name_fits_one_hot_labels_as_keras():
    model = numpy_impl.Sequential([numpy_impl.Input(shape=(4,)), numpy_impl.Dense(3, activation="softmax")])
    model.compile(loss="categorical_crossentropy", metrics=["categorical_accuracy"])
    x = np.random.default_rng(1).normal(size=(12, 4))
    history = model.fit(x, numpy_impl.utils.to_categorical(np.arange(12) % 3), verbose=0)
    assert list(history.history) == ["categorical_accuracy", "loss"]
    with pytest.raises(ValueError, match=r"^metric 'sparse_categorical_accuracy' takes integer labels, which the "
                                         r"loss does not: use metrics=\['accuracy'\], which fits the loss$"):
        model.compile(loss="categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
    with pytest.raises(ValueError, match=r"^metric 'categorical_accuracy' takes one-hot rows, which the "
                                         r"loss does not: use metrics=\['accuracy'\], which fits the loss$"):
        model.compile(loss="sparse_categorical_crossentropy", metrics=["categorical_accuracy"])


def test_accuracy_sums_its_sample_weights_in_float64_whatever_their_dtype():
    # the weights' sums in float32 would round away their last digits (1001 weights of 0.1)
    y_true = np.arange(1001) % 3
    y_pred = np.eye(3)[(np.arange(1001) * 2) % 3]                 # a third of them right
    weights = np.full(1001, 0.1, np.float32)
    metric = numpy_impl.metrics.SparseCategoricalAccuracy()
    metric.update_state(y_true, y_pred, sample_weight=weights)
    hits = (y_pred.argmax(axis=1) == y_true).astype(np.float64)
    expected = (hits * weights.astype(np.float64)).sum() / weights.astype(np.float64).sum()
    assert metric.result() == expected


@pytest.mark.parametrize("kind", ["CategoricalAccuracy", "SparseCategoricalAccuracy"])
def test_metric_objects_alone_agree_with_keras(kind):
    rng = np.random.default_rng(2)
    y_pred, labels = rng.random((40, 5)), rng.integers(0, 5, 40)
    y_true = labels[:, None] if kind.startswith("Sparse") else np.eye(5)[labels]     # Keras takes (n, 1) labels too
    results = []
    for package in (keras, numpy_impl):
        metric = getattr(package.metrics, kind)()
        metric.update_state(y_true[:20], y_pred[:20])
        metric.update_state(y_true[20:30], y_pred[20:30], sample_weight=np.linspace(0, 1, 10))
        metric.update_state(y_true[30:], y_pred[30:], sample_weight=np.linspace(1, 2, 10)[:, None])  # a column
        results.append((metric.name, float(metric.result())))
        metric.reset_state()
        results.append(float(metric.result()))
    assert results[2][0] == results[0][0] and results[2][1] == pytest.approx(results[0][1], abs=1e-6)
    assert results[3] == results[1] == 0.0


# ---- loss objects, called as Keras calls them ------------------------------------------------------

# the cases `check` holds a learner's loss objects to (compare/check/reference.py), arrays of lists
LOSS_CASES = {case: (np.array(y_true), np.array(y_pred)) for case, (y_true, y_pred) in CHECK_LOSS_CASES.items()}


@pytest.mark.parametrize("case", LOSS_CASES)
@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("kind", ["CategoricalCrossentropy", "SparseCategoricalCrossentropy"])
def test_loss_objects_equal_keras_in_float64(case, from_logits, kind):
    y_true, y_pred = LOSS_CASES[case]
    if kind.startswith("Sparse"):
        y_true = y_true.argmax(axis=1)
    weights = np.linspace(0.5, 1.5, len(y_pred))
    mine = getattr(numpy_impl.losses, kind)(from_logits=from_logits, dtype="float64")
    theirs = getattr(keras.losses, kind)(from_logits=from_logits, dtype="float64")
    for args in ((y_true, y_pred), (y_true, y_pred, weights)):
        assert isinstance(mine(*args), float)
        # a few last bits: logits of 1000 must cost no precision (max z cancels before z_true is taken)
        assert abs(mine(*args) - float(theirs(*args))) <= 1e-15 * max(1.0, abs(float(theirs(*args))))
    assert mine.name == theirs.name


@pytest.mark.parametrize("kind", ["CategoricalCrossentropy", "SparseCategoricalCrossentropy"])
@pytest.mark.parametrize("from_logits", [False, True])
def test_a_float32_loss_computes_in_float32_whatever_it_is_handed(kind, from_logits):
    """Keras's loss objects cast y_true and y_pred to their dtype first: float64 arrays give the float32 answer."""
    rng = np.random.default_rng(4)
    y_pred, labels = rng.random((16, 5)) + 0.01, rng.integers(0, 5, 16)
    y_true = labels if kind.startswith("Sparse") else np.eye(5)[labels]
    loss = getattr(numpy_impl.losses, kind)(from_logits=from_logits)            # dtype float32, Keras's floatx
    in_float32 = loss(y_true.astype(np.float32), y_pred.astype(np.float32))
    in_float64 = getattr(numpy_impl.losses, kind)(from_logits=from_logits, dtype="float64")(y_true, y_pred)
    assert loss(y_true, y_pred) == in_float32 != in_float64
    weights = np.linspace(0.1, 1.7, 16)                                          # float64 weights, cast too
    assert loss(y_true, y_pred, weights) == loss(y_true, y_pred, weights.astype(np.float32))
    assert loss(y_true, y_pred, weights[:, None]) == loss(y_true, y_pred, weights)     # (n, 1) weights, as Keras takes
    if kind.startswith("Sparse"):                                                # (n, 1) labels, as Keras squeezes them
        assert loss(labels[:, None], y_pred) == loss(labels, y_pred)


def test_the_issues_loss_example_is_right_not_silently_wrong():
    value = numpy_impl.losses.CategoricalCrossentropy()(y_true=[[0, 1, 0]], y_pred=[[0.1, 0.8, 0.1]])
    assert value == pytest.approx(-np.log(0.8), rel=1e-6)          # 0.2231, Keras's answer


def test_loss_objects_refuse_labels_of_the_wrong_form():
    with pytest.raises(ValueError, match="one-hot rows go with CategoricalCrossentropy$"):
        numpy_impl.losses.SparseCategoricalCrossentropy()(np.eye(3), np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match="integer labels with SparseCategoricalCrossentropy$"):
        numpy_impl.losses.CategoricalCrossentropy()(np.arange(3), np.full((3, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"^y_pred must have shape \(batch, classes\), got \(3,\)$"):
        numpy_impl.losses.CategoricalCrossentropy()(np.eye(3)[0], np.full(3, 1 / 3))


@pytest.mark.parametrize("labels", [[0, 1, 3], [0, -1, 2], [0, 1.5, 2], ["0", "1", "2"], [0, 1], [[0, 1, 2]]],
                         ids=["the class count", "negative", "1.5", "text", "too few", "a row"])
def test_a_sparse_loss_object_names_labels_out_of_range_as_keras_would_refuse_them(labels):
    # the loss called alone, as Keras's tutorials call it: fit's own label check is not on this path
    probabilities = np.full((3, 3), 1 / 3)
    with pytest.raises(ValueError, match=r"^y_true must be integer labels 0\.\.2 of shape \(3,\), got shape "):
        numpy_impl.losses.SparseCategoricalCrossentropy()(np.array(labels), probabilities)
    # the edges themselves are labels: 0 and 2 of 3 classes, as whole floats too
    for good in ([0, 2, 2], [2.0, 0.0, 1.0]):
        assert numpy_impl.losses.SparseCategoricalCrossentropy()(np.array(good), probabilities) \
            == pytest.approx(np.log(3), rel=1e-6)


# ---- utils -------------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, num_classes", [([0, 2, 1], None), ([[1], [0]], 3), (np.array([3, 0]), 5),
                                                 ([1], 3), ([[0, 1], [2, 0]], None), ([[[1], [0], [2]]], 4)])
def test_to_categorical_equals_keras(labels, num_classes):
    mine = numpy_impl.utils.to_categorical(labels, num_classes)
    theirs = keras.utils.to_categorical(labels, num_classes)
    np.testing.assert_array_equal(mine, theirs)
    assert mine.dtype == theirs.dtype


def test_set_random_seed_makes_a_script_repeat():
    def weights():
        model = numpy_impl.Sequential([numpy_impl.Input(shape=(4,)), numpy_impl.Dense(3), numpy_impl.Dense(2)])
        return model.get_weights()
    numpy_impl.utils.set_random_seed(7)
    first = weights() + weights()
    numpy_impl.utils.set_random_seed(7)
    again = weights() + weights()
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], first[4])                  # two models: two different draws
    numpy_impl.utils.set_random_seed(8)
    assert not np.array_equal(weights()[0], first[0])


def test_set_random_seed_seeds_python_and_numpy_as_keras_does():
    import random
    draws = []
    for package in (keras, numpy_impl):
        package.utils.set_random_seed(7)
        draws.append((random.random(), np.random.random()))
    assert draws[1] == draws[0] == (random.Random(7).random(), np.random.RandomState(7).random())
    numpy_impl.utils.set_random_seed(2 ** 32 + 5)          # NumPy's global seed takes 32 bits: the rest wraps
    assert np.random.random() == np.random.RandomState(5).random()
    for seed in (-1, 1.5, True):
        with pytest.raises(ValueError, match=rf"^seed must be a non-negative whole number, got {seed!r}$"):
            numpy_impl.utils.set_random_seed(seed)


def test_to_categorical_names_labels_out_of_range():
    # Keras indexes past its array (an IndexError); numpy_impl says which range the labels must be in
    for labels, got in (([0, 3], "0..3"), ([-1, 2], "-1..2")):
        with pytest.raises(ValueError, match=rf"^labels must be integers in 0\.\.2 for num_classes=3, got {got}$"):
            numpy_impl.utils.to_categorical(labels, 3)
    assert numpy_impl.utils.to_categorical([2, 0], 3).shape == (2, 3)          # the last class is in range


def test_unseeded_models_after_set_random_seed_draw_from_the_whole_seed_range():
    numpy_impl.utils.set_random_seed(0)
    draws = {int(numpy_impl.utils.generator().integers(2 ** 62)) for _ in range(300)}
    assert len(draws) == 300                  # 300 generators, 300 different streams


def test_to_categorical_refuses_what_is_not_a_whole_number():
    # Keras casts to int64 and would make 1.5 a 1; numpy_impl names the problem instead
    for labels, message in ((np.array([0.0, 1.5, 2.0]), "float64 values such as 1.5"),
                            (np.array([[1.0], [np.nan]]), "float64 values such as nan"),
                            (np.array(["a", "b"]), "<U1 values such as 'a'"),
                            (np.array([["c", "d"], ["e", "f"]]), "<U1 values such as 'c'")):
        with pytest.raises(ValueError, match=rf"^to_categorical takes integer labels, got {re.escape(message)}$"):
            numpy_impl.utils.to_categorical(labels)


def test_one_hot_is_to_categorical_in_the_twins_float32_unless_asked():
    labels = np.array([2, 0, 1])
    assert numpy_impl.one_hot(labels, 3).dtype == np.float32
    assert numpy_impl.one_hot(labels, 3, "float64").dtype == np.float64
    np.testing.assert_array_equal(numpy_impl.one_hot(labels, 3), numpy_impl.utils.to_categorical(labels, 3))
    assert numpy_impl.utils.to_categorical(np.array([], int)).shape == (0, 0)     # no labels: no classes
    assert numpy_impl.one_hot(np.array([], int), 3).shape == (0, 3)
    with pytest.raises(ValueError, match=r"^labels must be integers in 0\.\.2, shape \(n,\), got shape \(3, 1\)$"):
        numpy_impl.one_hot(labels[:, None], 3)


NORMALIZATION_SNIPPET = """
import keras
from keras import layers
model = keras.Sequential([
    keras.Input(shape=(4,)),
    layers.Dense(8, use_bias=False),
    layers.BatchNormalization(),
    layers.Activation("relu"),
    layers.Dense(8),
    layers.LayerNormalization(),
    layers.Activation("relu"),
    layers.Dense(3, activation="softmax"),
])
model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
history = model.fit(x, y, batch_size=8, epochs=2, verbose=0)
model.save_weights(path)
shapes = [tuple(w.shape) for w in model.get_weights()]
"""


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_normalization_layers_and_weight_files_as_keras_writes_them(tmp_path):
    """The snippet runs in both; each one's weights file loads into the other and predicts the same."""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    with keras_eagerly():
        theirs = run(NORMALIZATION_SNIPPET, "keras", x=x, y=y, path=str(tmp_path / "keras.weights.h5"))
    mine = run(NORMALIZATION_SNIPPET, "numpy_impl", x=x, y=y, path=str(tmp_path / "numpy.weights.h5"))
    assert mine["shapes"] == theirs["shapes"] == \
        [(4, 8), (8,), (8,), (8,), (8,), (8, 8), (8,), (8,), (8,), (8, 3), (3,)]
    assert list(mine["history"].history) == list(theirs["history"].history)
    before_mine, before_theirs = mine["model"].predict(x), theirs["model"].predict(x, verbose=0)
    assert np.abs(before_mine - before_theirs).max() > 1e-3          # two different trainings
    mine["model"].load_weights(tmp_path / "keras.weights.h5")       # each loads the other's file
    theirs["model"].load_weights(tmp_path / "numpy.weights.h5")
    np.testing.assert_allclose(mine["model"].predict(x), before_theirs, rtol=0, atol=1e-5)
    np.testing.assert_allclose(theirs["model"].predict(x, verbose=0), before_mine, rtol=0, atol=1e-5)


# ---- what numpy_impl deliberately leaves out: one line saying so ----------------------------------------

ON_BATCH = ("import numpy as np\nx, y = np.ones((8, 4), 'float32'), np.arange(8) % 2\n"
            "model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, activation='softmax')])\n"
            "model.compile(optimizer='sgd', loss='sparse_categorical_crossentropy', metrics=['accuracy'])\n")

GAPS = {
    "a model with two inputs": ("a, b = keras.Input(shape=(4,)), keras.Input(shape=(4,))\n"
                                "model = keras.Model(inputs=[a, b], outputs=keras.layers.Dense(2)(a))",
                                "takes one input, got 2"),
    "a Sequential called on Input": ("model = keras.Sequential([keras.layers.Dense(2)])\n"
                                     "outputs = model(keras.Input(shape=(4,)))", "a Sequential called on an Input"),
    "another layer type": ("layer = keras.layers.Conv2D(8, 3)", "layers has no Conv2D: numpy_impl builds dense"),
    "another metric": ("metric = keras.metrics.AUC()", "metrics has no AUC"),
    "another loss": ("loss = keras.losses.Huber()", "losses has no Huber"),
    "another optimizer": ("opt = keras.optimizers.Nadam()", "optimizers has no Nadam"),
    "another regularizer": ("r = keras.regularizers.OrthogonalRegularizer()", "regularizers has no Orthogonal"),
    "another initializer": ("i = keras.initializers.Orthogonal()", "initializers has no Orthogonal"),
    "a loss with label smoothing": ("loss = keras.losses.CategoricalCrossentropy(label_smoothing=0.1)",
                                    "CategoricalCrossentropy in numpy_impl takes from_logits only (no "
                                    "label_smoothing, axis or reduction): the loss of the network it trains"),
    "a loss on another axis": ("loss = keras.losses.CategoricalCrossentropy(axis=0)",
                               "CategoricalCrossentropy in numpy_impl takes from_logits only"),
    "a loss with another reduction": ("loss = keras.losses.SparseCategoricalCrossentropy(reduction='sum')",
                                      "SparseCategoricalCrossentropy in numpy_impl takes from_logits only"),
    "a module it has not": ("x = keras.ops.ones((2, 2))", "numpy_impl has no keras.ops"),
    "a utility it has not": ("keras.utils.normalize([[3.0, 4.0]])", "numpy_impl.utils has no normalize: it offers "
                                                                    "clear_session, set_random_seed, to_categorical"),
    "a metric by name it has not": ("model = keras.Sequential([keras.Input(shape=(4,)), keras.layers.Dense(2, "
                                    "activation='softmax')])\nmodel.compile(loss='categorical_crossentropy', "
                                    "metrics=['auc'])", "no metric 'auc'"),
}


@pytest.mark.parametrize("gap", every(3, list(GAPS)))
def test_a_deliberate_gap_says_so_in_one_line(gap):
    snippet, message = GAPS[gap]
    run("import keras\n" + snippet, "keras")                         # Keras has it
    with pytest.raises(numpy_impl.NotSupported, match=re.escape(message)) as caught:
        run("import keras\n" + snippet, "numpy_impl")
    assert "\n" not in str(caught.value)
    assert isinstance(caught.value, AttributeError) and isinstance(caught.value, NotImplementedError)


def test_keras_models_names_what_it_offers():
    keras.models.clone_model                                         # Keras has it
    with pytest.raises(numpy_impl.NotSupported,
                       match=r"^numpy_impl.models has no clone_model: it offers Model, Sequential, load_model$"):
        numpy_impl.models.clone_model


SAVING_SNIPPET = """
import keras
from keras import layers
model = keras.Sequential([keras.Input(shape=(4,)), layers.Dense(8, activation="relu"), layers.Dropout(0.2),
                          layers.Dense(3, activation="softmax")])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
model.fit(x, y, batch_size=8, epochs=2, verbose=0)
model.save(path)
restored = keras.models.load_model(path)
same = np.allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0), rtol=0, atol=1e-6)
"""


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
def test_save_and_load_model_run_as_keras_writes_them_and_each_reads_the_others_file(tmp_path):
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(32, 4)).astype("float32"), rng.integers(0, 3, 32)
    with keras_eagerly():
        theirs = run(SAVING_SNIPPET, "keras", x=x, y=y, np=np, path=str(tmp_path / "keras.keras"))
    mine = run(SAVING_SNIPPET, "numpy_impl", x=x, y=y, np=np, path=str(tmp_path / "numpy.keras"))
    assert theirs["same"] and mine["same"]
    from_keras = numpy_impl.models.load_model(tmp_path / "keras.keras")             # each reads the other's file
    from_numpy = keras.models.load_model(tmp_path / "numpy.keras")
    np.testing.assert_allclose(from_keras.predict(x), theirs["model"].predict(x, verbose=0), rtol=0, atol=1e-6)
    np.testing.assert_allclose(from_numpy.predict(x, verbose=0), mine["model"].predict(x), rtol=0, atol=1e-6)
    assert float(from_numpy.optimizer.learning_rate) == pytest.approx(0.05)
    assert from_keras.optimizer.learning_rate == pytest.approx(0.05) and from_keras.loss.sparse


def test_the_on_batch_calls_are_keras_s():
    """train_on_batch, test_on_batch and predict_on_batch, from the same weights, give what Keras's give: each
    a step on (or a look at) the whole batch, the metrics starting afresh each call."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(24, 5)).astype("float32"), rng.integers(0, 3, 24)
    models = {}
    for package in (keras, numpy_impl):
        model = package.Sequential([package.Input(shape=(5,)), package.layers.Dense(4, activation="relu"),
                                    package.layers.Dense(3, activation="softmax")])
        model.compile(optimizer=package.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        models[package.__name__] = model
    theirs, mine = models["keras"], models["numpy_impl"]
    mine.set_weights(theirs.get_weights())
    np.testing.assert_allclose(mine.predict_on_batch(x), theirs.predict_on_batch(x), atol=1e-6)
    np.testing.assert_allclose(mine.test_on_batch(x, y), theirs.test_on_batch(x, y), atol=1e-6)
    assert mine.test_on_batch(x, y, return_dict=True).keys() == theirs.test_on_batch(x, y, return_dict=True).keys()
    before = theirs.get_weights()
    for _ in range(3):
        np.testing.assert_allclose(mine.train_on_batch(x, y), theirs.train_on_batch(x, y), atol=1e-6)
    assert not np.allclose(before[0], theirs.get_weights()[0])                   # steps were taken
    for keras_weight, numpy_weight in zip(theirs.get_weights(), mine.get_weights()):
        np.testing.assert_allclose(numpy_weight, keras_weight, atol=1e-6)


def test_the_training_loop_written_by_hand_is_keras_s():
    """keras.io's "Writing a training loop from scratch", its loop: gradients of each batch, then
    optimizer.apply_gradients(zip(grads, model.trainable_weights)); numpy_impl's gradients come from
    loss_and_gradients, the NumPy stand-in for a GradientTape. float64, the same weights and batches."""
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(64, 5)), numpy_impl.one_hot(rng.integers(0, 3, 64), 3, "float64")
    import tensorflow as tf
    mine = numpy_impl.Sequential([numpy_impl.Input((5,)), numpy_impl.layers.Dense(4, activation="relu"),
                                  numpy_impl.layers.Dense(3, activation="softmax")], dtype="float64")
    theirs = keras.Sequential([keras.Input((5,), dtype="float64"),
                               keras.layers.Dense(4, activation="relu", dtype="float64"),
                               keras.layers.Dense(3, activation="softmax", dtype="float64")])
    theirs.set_weights(mine.get_weights())
    mine.compile(loss="categorical_crossentropy")
    my_optimizer = numpy_impl.optimizers.SGD(learning_rate=0.1, momentum=0.9)
    keras.config.set_floatx("float64")
    try:
        their_optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=np.float64(0.9))
        loss_fn = keras.losses.CategoricalCrossentropy()
        losses = []
        for step in range(4):
            xb, yb = x[16 * step:16 * (step + 1)], y[16 * step:16 * (step + 1)]
            with tf.GradientTape() as tape:
                their_loss = loss_fn(yb, theirs(xb, training=True))
            grads = tape.gradient(their_loss, theirs.trainable_weights)
            their_optimizer.apply_gradients(zip(grads, theirs.trainable_weights))
            my_loss, my_grads = numpy_impl.loss_and_gradients(mine, xb, yb)
            iterations = my_optimizer.apply_gradients(zip(my_grads, mine.trainable_weights))
            losses.append((my_loss, float(their_loss)))
    finally:
        keras.config.set_floatx("float32")
    assert iterations == 4 and all(abs(a - b) < 1e-13 for a, b in losses)
    assert max(np.abs(a - b).max() for a, b in zip(mine.get_weights(), theirs.get_weights())) < 1e-13
    my_optimizer.apply([np.zeros_like(w) for w in mine.trainable_weights])       # the variables of the last call
    with pytest.raises(ValueError, match="a gradient of shape"):
        my_optimizer.apply(my_grads[::-1], mine.trainable_weights)


def test_an_unknown_metric_name_is_refused_with_what_there_is():
    model = numpy_impl.Sequential([numpy_impl.Input(shape=(4,)), numpy_impl.layers.Dense(2, activation="softmax")])
    with pytest.raises(numpy_impl.NotSupported, match=r"^numpy_impl has no metric 'auc': it offers 'accuracy', "
                                                      r"'categorical_accuracy', 'sparse_categorical_accuracy', "
                                                      r"'binary_accuracy', .*'mae' and their classes$"):
        model.compile(loss="categorical_crossentropy", metrics=["auc"])


def test_a_gap_is_simply_missing_to_hasattr():
    assert not hasattr(numpy_impl.layers, "Conv2D") and hasattr(numpy_impl.layers, "Dense")


def test_model_edges_answer_in_one_line():
    model = numpy_impl.Sequential([numpy_impl.Dense(2)])
    assert model.weights == []
    with pytest.raises(ValueError, match=r"^the model is not built yet, so it has no weights to count: start it with "
                       r"Input\(shape=\.\.\.\), or call build\(\(None, features\)\) or the model on data first$"):
        model.summary()
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        model.get_layer("nope")
    with pytest.raises(ValueError, match="no layer at index 3"):
        model.get_layer(index=3)
    pair = numpy_impl.Sequential([numpy_impl.Dense(2), numpy_impl.Dense(3)])
    assert pair.get_layer(index=-2) is pair.layers[0] and pair.get_layer(index=1) is pair.layers[1]
    for outside in (2, -3):                                          # one past either end, as Python's list
        with pytest.raises(ValueError, match=f"no layer at index {outside}: the model has 2 layers"):
            pair.get_layer(index=outside)
    with pytest.raises(ValueError, match="build takes \\(batch, features...\\)"):
        model.build((4,))
    with pytest.raises(ValueError, match="already in the model"):
        numpy_impl.Sequential([numpy_impl.Dense(2, name="a"), numpy_impl.Dense(2, name="a")])
    model.pop()
    with pytest.raises(ValueError, match="^there are no layers in the model to pop$"):
        model.pop()


def test_a_model_without_an_input_is_built_by_its_first_data():
    """As in Keras: no Input, and fit or predict builds the model for x's features (and images through
    a Flatten); a single sample without its batch axis is named."""
    rng = np.random.default_rng(0)
    flat = numpy_impl.Sequential([numpy_impl.Dense(3, activation="softmax")])
    flat.compile(loss="sparse_categorical_crossentropy")
    flat.fit(rng.random((8, 5)), rng.integers(0, 3, 8), verbose=0)
    assert flat.built and flat.layers[0].kernel.shape == (5, 3)
    images = numpy_impl.Sequential([numpy_impl.layers.Flatten(), numpy_impl.Dense(3)])
    assert images.predict(rng.random((2, 4, 4))).shape == (2, 3) and images.layers[1].kernel.shape == (16, 3)
    for model, message in ((numpy_impl.Sequential([numpy_impl.Dense(3)]),         # unbuilt: no features to name
                            "x must have shape (samples, features...), got (5,)"),
                           (flat, "x has shape (5,) but the model expects (samples, 5): flatten each sample to 5 "
                                  "features")):
        with pytest.raises(ValueError) as caught:
            model.predict(rng.random(5))
        assert str(caught.value) == message


# ---- the table in docs/keras-tutorials.md: python -m tests.test_keras_api ---------------------------

def comparison_table():
    """Markdown rows: snippet and what is compared, Keras's result, numpy_impl's result."""
    (images, labels), _ = compare.data.load_mnist("sample")
    load_data = lambda: ((images[:2000], labels[:2000]), (images[2000:2500], labels[2000:2500]))  # noqa: E731
    rounded = lambda values: [round(float(v), 4) for v in values]                                   # noqa: E731
    rows = []
    theirs, mine = both(QUICKSTART, load_data=load_data)
    rows += [("quickstart: History keys", *(list(r["history"].history) for r in (theirs, mine))),
             ("quickstart: loss before training (a float)",
              *(f"{float(r['initial_loss']):.4f}" for r in (theirs, mine))),
             ("quickstart: evaluate, [loss, accuracy]", *(rounded(r["evaluated"]) for r in (theirs, mine))),
             ("quickstart: probability_model(x_test[:5]) shape", *(tuple(r["top5"].shape) for r in (theirs, mine)))]
    theirs, mine = both(MNIST_MLP, load_data=load_data)
    rows += [("mnist_mlp: summary(), each layer's name and parameters",
              *(", ".join(f"{name} {count}" for name, _, _, count in summary_rows(r["printed"])[0])
                for r in (theirs, mine))),
             ("mnist_mlp: total params", *(summary_rows(r["printed"])[1][0][1] for r in (theirs, mine))),
             ("mnist_mlp: History keys", *(list(r["history"].history) for r in (theirs, mine))),
             ("mnist_mlp: test accuracy after 20 epochs", *(round(float(r["score"][1]), 4) for r in (theirs, mine)))]
    for name, snippet in SEQUENTIAL_GUIDE.items():
        theirs, mine = both(snippet, np=np)
        rows.append((f"Sequential guide: {name}", *(_plain(r["result"]) for r in (theirs, mine))))
    theirs, mine = both(TRAINING_GUIDE, load_data=load_data)
    rows += [("training guide: History keys", *(list(r["history"].history) for r in (theirs, mine))),
             ("training guide: evaluate(return_dict=True) keys", *(list(r["as_dict"]) for r in (theirs, mine))),
             ("training guide: predict(x_test[:3]).shape", *(tuple(r["predictions"].shape) for r in (theirs, mine)))]
    y_true, y_pred = LOSS_CASES["the issue's example"]
    for kind, labels_ in (("CategoricalCrossentropy", y_true),
                          ("SparseCategoricalCrossentropy", y_true.argmax(axis=1))):
        rows.append((f"{kind}(dtype='float64')(y_true, [[0.1, 0.8, 0.1]])",
                     *(f"{float(getattr(p.losses, kind)(dtype='float64')(labels_, y_pred)):.16f}"
                       for p in (keras, numpy_impl))))
    worst = 0.0
    for y_true, y_pred in LOSS_CASES.values():
        for from_logits in (False, True):
            for kind in ("CategoricalCrossentropy", "SparseCategoricalCrossentropy"):
                labels_ = y_true.argmax(axis=1) if kind.startswith("Sparse") else y_true
                values = [float(getattr(p.losses, kind)(from_logits=from_logits, dtype="float64")(labels_, y_pred))
                          for p in (keras, numpy_impl)]
                worst = max(worst, abs(values[0] - values[1]))
    rows.append(("loss objects, 12 fixed cases in float64: largest difference", "", f"{worst:.1e}"))
    header = "| snippet, and what is compared | Keras | numpy_impl |\n| --- | --- | --- |\n"
    return header + "\n".join(f"| {name} | {a} | {b} |" for name, a, b in rows)


def _plain(value):
    """TensorShape and nested tuples as plain tuples and lists, for comparing and printing."""
    if isinstance(value, (tuple, list)):
        return type(value)(_plain(v) for v in value)
    return tuple(value) if hasattr(value, "as_list") else value


if __name__ == "__main__":
    import warnings
    warnings.filterwarnings("ignore")
    print(comparison_table())


def test_a_callback_hears_every_step_with_the_running_logs_and_can_stop_the_epoch():
    import numpy_impl
    rng = np.random.default_rng(0)
    x = rng.random((100, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 100)]

    class Listener(numpy_impl.callbacks.Callback):
        def __init__(self, stop_after=None):
            self.heard, self.stop_after = [], stop_after

        def on_train_batch_end(self, batch, logs=None):
            self.heard.append((batch, dict(logs)))
            if batch + 1 == self.stop_after:
                self.model.stop_training = True

    listener = Listener()
    model = numpy_impl.build_model(seed=0)
    history = model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[listener])
    assert [batch for batch, _ in listener.heard] == [0, 1, 2, 3, 0, 1, 2, 3]        # 100 = 32 + 32 + 32 + 4
    # the last step's running logs are the epoch's logs, as in Keras
    assert listener.heard[3][1] == {"accuracy": history.history["accuracy"][0], "loss": history.history["loss"][0]}
    stopper = Listener(stop_after=2)
    model = numpy_impl.build_model(seed=0)
    history = model.fit(x, y, batch_size=32, epochs=3, shuffle=False, verbose=0, callbacks=[stopper])
    assert [batch for batch, _ in stopper.heard] == [0, 1] and len(history.history["loss"]) == 1
    assert history.history["loss"][0] == stopper.heard[1][1]["loss"]                  # the mean over 64 digits


def test_callbacks_hear_their_hooks_in_keras_order():
    """The hooks numpy_impl's Callback has (on_train_begin, on_epoch_begin, on_train_batch_end,
    on_epoch_end, on_train_end), called in the order, and with the epoch and batch numbers, that
    Keras's fit calls them: two epochs of three batches."""
    import keras_impl
    import numpy_impl
    rng = np.random.default_rng(0)
    x = rng.random((70, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 70)]
    hooks = ("on_train_begin", "on_epoch_begin", "on_train_batch_end", "on_epoch_end", "on_train_end")
    heard = {}
    for package, model in (("keras", keras_impl.build_model(seed=0)), ("numpy_impl", numpy_impl.build_model(seed=0))):
        base = keras.callbacks.Callback if package == "keras" else numpy_impl.callbacks.Callback
        calls = heard[package] = []
        listener = type("Listener", (base,), {
            hook: (lambda hook: lambda self, *args, logs=None: calls.append(
                (hook, *(arg for arg in args if isinstance(arg, int)))))(hook)       # the numbers, not the logs
            for hook in hooks})()
        with keras_eagerly():
            model.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0, callbacks=[listener])
    steps = [("on_train_batch_end", batch) for batch in range(3)]
    assert heard["numpy_impl"] == heard["keras"] == [
        ("on_train_begin",), ("on_epoch_begin", 0), *steps, ("on_epoch_end", 0),
        ("on_epoch_begin", 1), *steps, ("on_epoch_end", 1), ("on_train_end",)]


# ---- learning-rate schedules, called alone as Keras's ---------------------------------------------

SCHEDULES = {
    "exponential": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)),
    "exponential staircase": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=3, decay_rate=0.5,
                                                       staircase=True)),
    "cosine": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=1, alpha=0.1)),
    "cosine, warmup target, no warmup steps": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=4,
                                                                   warmup_target=0.5)),
    "piecewise": ("PiecewiseConstantDecay", dict(boundaries=[2, 5], values=[0.3, 0.2, 0.1])),
}


@pytest.mark.parametrize("case", SCHEDULES)
def test_schedule_objects_alone_equal_keras(case):
    kind, options = SCHEDULES[case]
    mine, theirs = (getattr(package.optimizers.schedules, kind)(**options) for package in (numpy_impl, keras))
    assert mine.name == theirs.name
    for step in range(8):
        assert mine(step) == pytest.approx(float(theirs(step)), rel=1e-6), step


@pytest.mark.parametrize("kind", ["ExponentialDecay", "CosineDecay"])
def test_a_schedule_needs_at_least_one_decay_step(kind):
    options = dict(initial_learning_rate=0.1, decay_steps=0) | ({"decay_rate": 0.5} if kind[0] == "E" else {})
    with pytest.raises(ValueError, match="decay_steps must be > 0, got 0"):
        getattr(numpy_impl.optimizers.schedules, kind)(**options)


def test_a_schedule_that_cannot_be_made_is_named_whole():
    with pytest.raises(ValueError) as caught:
        numpy_impl.schedules.from_spec({"name": "linear"}, 0.1)
    assert str(caught.value) == "unknown schedule 'linear': use cosine, exponential or piecewise"
    with pytest.raises(ValueError) as caught:
        numpy_impl.optimizers.schedules.PiecewiseConstantDecay(boundaries=[2, 5], values=[0.3, 0.2])
    assert str(caught.value) == "give one more value than boundaries, got 2 boundaries and 2 values"


def test_regularizers_take_keras_defaults():
    for kind, factors in (("L1", ("l1",)), ("L2", ("l2",)), ("L1L2", ("l1", "l2"))):
        mine, theirs = getattr(numpy_impl.regularizers, kind)(), getattr(keras.regularizers, kind)()
        for factor in factors:
            assert getattr(mine, factor) == pytest.approx(float(getattr(theirs, factor))), (kind, factor)


# ---- EarlyStopping's decisions, epoch by epoch, against Keras's own callback -------------------------

class WeightHolder:
    """What EarlyStopping reaches through callback.model: stop_training, metrics and the weights."""

    def __init__(self):
        self.stop_training, self.metrics, self.weights = False, [], [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [np.array(w) for w in weights]


STOPPING_HISTORIES = {"min": [1.0, 0.9, 0.9, 0.95, 0.88, 0.8, 0.85, 0.86, 0.86],
                      "max": [0.5, 0.6, 0.6, 0.55, 0.62, 0.7, 0.65, 0.64, 0.64]}


@pytest.mark.parametrize("mode", ["min", "max", "auto"])
@pytest.mark.parametrize("min_delta, patience, baseline", [(0.0, 1, None), (0.05, 2, None), (0.0, 2, 0.89)])
def test_early_stopping_decides_as_keras_does_epoch_by_epoch(mode, min_delta, patience, baseline):
    """Repeated values, small gains under min_delta and a baseline: each epoch's wait and stop, as Keras's."""
    values = STOPPING_HISTORIES["max" if mode == "max" else "min"]
    if mode == "max" and baseline:
        baseline = 0.61
    decisions = []
    for package in (keras, numpy_impl):
        callback = package.callbacks.EarlyStopping(monitor="val_loss", mode=mode, min_delta=min_delta,
                                                   patience=patience, baseline=baseline, restore_best_weights=True)
        holder = WeightHolder()
        callback.set_model(holder)
        callback.on_train_begin()
        steps = []
        for epoch, value in enumerate(values):
            holder.weights = [np.full(1, float(epoch))]
            callback.on_epoch_end(epoch, {"val_loss": value})
            steps.append((callback.wait, holder.stop_training))
        callback.on_train_end()
        decisions.append((steps, float(holder.weights[0][0])))               # the restored epoch's weights
    assert decisions[1] == decisions[0]


@pytest.mark.parametrize("values, restore, stops", [
    ([1.0, 0.9, 0.95, 0.97], True, True),   # stops after its third epoch (index 2), best: the second
    ([1.0, 0.9, 0.95, 0.97], False, True),
    ([1.0, 1.1], False, True),              # stops after its second epoch (index 1, the earliest it can)
    ([1.0, 0.9, 0.8], True, False),         # never stops: only the restoring line
    ([1.0, 0.9, 0.8], False, False),        # never stops, nothing to restore: silent
])
@pytest.mark.parametrize("verbose", [0, 1, 2])
def test_early_stopping_prints_what_keras_prints(values, restore, stops, verbose):
    """verbose > 0: "Epoch N: early stopping" when it stopped, then "Restoring model weights from
    the end of the best epoch: N." when it restores; verbose 0: nothing. Each line as Keras's own
    callback writes it, for the same epochs."""
    printed, states = [], []
    for package in (keras, numpy_impl):
        callback = package.callbacks.EarlyStopping(patience=1, verbose=verbose, restore_best_weights=restore)
        holder = WeightHolder()
        callback.set_model(holder)
        callback.on_train_begin()
        states.append((callback.wait, callback.stopped_epoch, callback.best, callback.best_weights,
                       callback.best_epoch))
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            for epoch, value in enumerate(values):
                callback.on_epoch_end(epoch, {"val_loss": value})
                if holder.stop_training:
                    break
            callback.on_train_end()
        printed.append(out.getvalue())
    assert states[1] == states[0] == (0, 0, None, None, 0)
    assert printed[1] == printed[0]
    assert bool(printed[1]) == (verbose > 0 and (restore or stops))       # each case prints, or not, as it says


def test_early_stopping_takes_keras_defaults_and_names_a_bad_mode():
    mine, theirs = numpy_impl.callbacks.EarlyStopping(), keras.callbacks.EarlyStopping()
    for name in ("monitor", "min_delta", "patience", "verbose", "mode", "baseline", "restore_best_weights",
                 "start_from_epoch"):
        assert getattr(mine, name) == getattr(theirs, name), name
    with pytest.raises(ValueError, match=r"^mode must be 'auto', 'min' or 'max', got 'up'$"):
        numpy_impl.callbacks.EarlyStopping(mode="up")
    model = numpy_impl.build_model(input_dim=4, hidden=(3,), num_classes=2, seed=0)
    callback = numpy_impl.callbacks.EarlyStopping(monitor="val_mae")
    callback.set_model(model)
    with pytest.raises(ValueError, match=r"^EarlyStopping cannot tell whether 'val_mae' should go up or down: "
                                         r"pass mode='min' or mode='max'$"):
        callback.on_train_begin()


OPTIMIZER_ARGUMENTS = {
    "SGD": dict(learning_rate=0.2, momentum=0.5, nesterov=True, clipnorm=0.7),
    "Adam": dict(learning_rate=0.2, beta_1=0.8, beta_2=0.9, epsilon=1e-5, amsgrad=True, global_clipnorm=0.7),
    "AdamW": dict(learning_rate=0.2, weight_decay=0.01, beta_1=0.8, beta_2=0.9, epsilon=1e-5, amsgrad=True,
                  clipvalue=0.7),
    "RMSprop": dict(learning_rate=0.2, rho=0.8, momentum=0.3, epsilon=1e-5, centered=True, clipnorm=0.7),
    "Adagrad": dict(learning_rate=0.2, initial_accumulator_value=0.0, epsilon=1e-5, global_clipnorm=0.7),
}


@pytest.mark.parametrize("given", [False, True], ids=["Keras's defaults", "every argument given"])
@pytest.mark.parametrize("kind", OPTIMIZER_ARGUMENTS)
def test_optimizers_keep_their_settings_as_keras_keeps_them(kind, given):
    # with no arguments: Keras's defaults; with each of its own arguments away from its default and a
    # clipping option passed on to the base class: each one kept
    arguments = OPTIMIZER_ARGUMENTS[kind] if given else {}
    mine, theirs = getattr(numpy_impl.optimizers, kind)(**arguments), getattr(keras.optimizers, kind)(**arguments)
    for name in ("learning_rate", "momentum", "nesterov", "beta_1", "beta_2", "epsilon", "amsgrad", "rho",
                 "centered", "initial_accumulator_value", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"):
        if hasattr(theirs, name):
            expected = getattr(theirs, name)
            expected = None if expected is None else float(np.asarray(expected))
            actual = getattr(mine, name)
            assert (actual is None if expected is None else actual == pytest.approx(expected)), (kind, name)


def test_optimizers_by_name_take_keras_default_rates_and_name_what_they_refuse():
    for name, optimizer in numpy_impl.optimizers.OPTIMIZERS.items():
        keras_default = float(np.asarray(getattr(keras.optimizers, optimizer.__name__)().learning_rate))
        assert numpy_impl.optimizers.get(name).learning_rate == pytest.approx(keras_default), name
    with pytest.raises(ValueError, match=r"^unknown optimizer 'nadam': use one of "
                                         + ", ".join(numpy_impl.optimizers.OPTIMIZERS) + "$"):
        numpy_impl.optimizers.get("nadam")
    with pytest.raises(ValueError, match=r"^momentum is not an option of adagrad$"):
        numpy_impl.optimizers.get("adagrad", momentum=0.9)
    for option in ("clipvalue", "global_clipnorm"):
        with pytest.raises(ValueError, match=rf"^{option} must be a positive number or None, got -1.0$"):
            numpy_impl.optimizers.SGD(**{option: -1})
    with pytest.raises(ValueError, match=r"^give at most one of clipnorm, clipvalue and global_clipnorm "
                                         r"\(Keras takes one\)$"):
        numpy_impl.optimizers.SGD(clipvalue=1.0, global_clipnorm=1.0)
    assert numpy_impl.optimizers.SGD(weight_decay=0.0).weight_decay == 0.0        # no decay, as Keras allows


def test_optimizer_arguments_keras_would_refuse_are_named():
    with pytest.raises(ValueError, match=r"^initial_accumulator_value must be >= 0, got -0.1$"):
        numpy_impl.optimizers.Adagrad(initial_accumulator_value=-0.1)
    with pytest.raises(ValueError, match=r"^AdamW needs a weight_decay \(Keras's default is 0.004\)$"):
        numpy_impl.optimizers.AdamW(weight_decay=None)
    with pytest.raises(ValueError):                                        # as Keras refuses it
        keras.optimizers.AdamW(weight_decay=None)


SUMMARY_MODELS = {
    "the quickstart's": lambda k: [k.Input(shape=(784,)), k.layers.Dense(128, activation="relu"),
                                   k.layers.Dropout(0.2), k.layers.Dense(10)],
    "megabytes, and statistics that are not trained": lambda k: [
        k.Input(shape=(784,)), k.layers.Dense(1024, use_bias=False), k.layers.BatchNormalization(),
        k.layers.Activation("relu"), k.layers.Dense(1024), k.layers.Dense(10, activation="softmax")],
    "a name too long for its column": lambda k: [k.Input(shape=(4,)),
                                                 k.layers.Dense(3, name="a_rather_long_name for_the_first_column"),
                                                 k.layers.Dense(2, name="another_long_layer_name_without_spaces_at_all")],
    "a name exactly as wide as its column": lambda k: [k.Input(shape=(4,)),
                                                       k.layers.Dense(3, name="exactly_31_with_its_kin")],
    "images through Dropout and Flatten": lambda k: [k.Input(shape=(28, 28)), k.layers.Dropout(0.1),
                                                     k.layers.Flatten(), k.layers.Dense(10)],
}


NAMES_SNIPPET = """
import keras
inputs = [keras.Input(shape=(4,)), keras.Input(shape=(4,), name="pixels"), keras.Input(shape=(3,))]
layers = [keras.layers.Dense(2), keras.layers.Dense(2), keras.layers.Dense(2, name="out"), keras.layers.Dropout(0.1),
          keras.layers.BatchNormalization(), keras.layers.LayerNormalization(), keras.layers.Flatten(),
          keras.layers.Activation("relu"), keras.layers.Softmax(), keras.layers.Dropout(0.2, name="drop")]
models = [keras.Sequential(), keras.Sequential(name="mine"), keras.Sequential()]
names = [each.name for each in inputs + layers + models]
"""


def test_default_names_are_the_names_keras_gives():
    """Inputs, layers and models unnamed and named, numbered from the second on, as Keras numbers them."""
    theirs = run(NAMES_SNIPPET, "keras")["names"]
    assert run(NAMES_SNIPPET, "numpy_impl")["names"] == theirs
    assert theirs[:3] == ["keras_tensor", "pixels", "keras_tensor_1"] and theirs[-3:] == ["sequential", "mine",
                                                                                          "sequential_1"]


@pytest.mark.parametrize("nbytes", [0, 1023, 1024, 1025, 1024 ** 2 - 1, 1024 ** 2, 5 * 1024 ** 3, 1000 * 1024 ** 3,
                                    1024 ** 4, 3 * 1024 ** 5])
def test_summary_sizes_are_keras_readable_sizes(nbytes):
    from keras.src.utils.summary_utils import readable_memory_size
    from numpy_impl.summary import _size
    assert _size(nbytes) == readable_memory_size(nbytes)


@pytest.mark.parametrize("case", every(2, list(SUMMARY_MODELS)))
def test_summary_prints_what_keras_prints_character_for_character(case):
    printed = []
    for package in (keras, numpy_impl):
        package.utils.clear_session()
        name = "named_by_its_maker" if case == "a name too long for its column" else None   # else "sequential"
        model = package.Sequential(SUMMARY_MODELS[case](package), name=name)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.summary()
        printed.append(out.getvalue())
    assert printed[1] == printed[0]


@pytest.mark.parametrize("optimizer", every(3, [
    "'sgd'", "keras.optimizers.SGD(0.1, momentum=0.9)", "'adam'", "'rmsprop'",
    "keras.optimizers.Adam(keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.9))",
    "keras.optimizers.Adam(amsgrad=True)", "'adagrad'", "keras.optimizers.RMSprop(momentum=0.9, centered=True)",
    "keras.optimizers.AdamW()"]))
def test_summary_after_fit_counts_the_optimizer_as_keras_does(optimizer):
    """Once the optimizer has taken a step, Keras's summary adds its variables: a line "Optimizer params"
    (step count, rate unless a schedule, state arrays) and them in the total."""
    printed = []
    for package in (keras, numpy_impl):
        package.utils.clear_session()
        model = package.Sequential([package.Input((4,)), package.layers.Dense(3), package.layers.BatchNormalization(),
                                    package.layers.Dense(2, activation="softmax")])
        model.compile(optimizer=eval(optimizer, {"keras": package}), loss="categorical_crossentropy")
        model.fit(np.ones((4, 4)), np.eye(2)[[0, 1, 0, 1]], verbose=0)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.summary()
        printed.append(out.getvalue())
    assert "Optimizer params" in printed[0]
    assert printed[1] == printed[0]


@pytest.mark.parametrize("case", SUMMARY_MODELS)
def test_count_params_counts_what_keras_counts(case):
    """model.count_params() and each layer's, moving statistics included, Dropout and Flatten 0."""
    counts = []
    for package in (keras, numpy_impl):
        model = package.Sequential(SUMMARY_MODELS[case](package))
        counts.append([model.count_params()] + [layer.count_params() for layer in model.layers])
    assert counts[1] == counts[0] and counts[0][0] == sum(counts[0][1:]) > 0


def test_count_params_before_the_model_is_built_is_refused_as_keras_refuses_it():
    for package in (keras, numpy_impl):
        model = package.Sequential([package.layers.Dense(3), package.layers.Dense(2)])
        with pytest.raises(ValueError, match="built"):
            model.count_params()
        with pytest.raises(ValueError, match="built"):
            model.layers[0].count_params()
    with pytest.raises(ValueError) as caught:                 # numpy_impl's own words, the fix included
        model.layers[0].count_params()
    assert str(caught.value) == (f"layer {model.layers[0].name!r} is not built yet, so it has no weights to count: "
                                 "call it on data, or build the model it is in, first")
    model.build((None, 4))                                    # numpy_impl's, built now: 4*3 + 3 + 3*2 + 2
    assert model.count_params() == 23 and model.layers[1].count_params() == 8


@pytest.mark.parametrize("kwargs, steps", [({}, 3), ({"batch_size": 50}, 2), ({"batch_size": 70}, 1)])
def test_predict_verbose_2_prints_the_line_keras_prints(kwargs, steps):
    """predict(verbose=2): one "steps/steps - Ns - Nms/step" line, the steps counted at Keras's batch
    size (32 unless given), in both; verbose=0 prints nothing. (Keras's default, "auto", draws a bar;
    numpy_impl's default is 0, silent.)"""
    x = np.ones((70, 4), "float32")
    for package in (keras, numpy_impl):
        model = package.Sequential([package.Input((4,)), package.layers.Dense(2)])
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.predict(x, verbose=2, **kwargs)
        assert re.fullmatch(rf"{steps}/{steps} - \d+s - \d+ms/step\n", out.getvalue()), (package, out.getvalue())
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            model.predict(x, verbose=0, **kwargs)
        assert out.getvalue() == ""
    quiet, bar = io.StringIO(), io.StringIO()                  # model: numpy_impl's, the loop's last
    with contextlib.redirect_stdout(quiet):
        model.predict(x, **kwargs)
    with contextlib.redirect_stdout(bar):
        model.predict(x, verbose=1, **kwargs)
    assert quiet.getvalue() == "" and bar.getvalue().startswith(f"{steps}/{steps} [====")
