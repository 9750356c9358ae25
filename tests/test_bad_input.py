"""Wrong input to the NumPy twin: a ValueError that names the problem."""
import copy
import importlib
import inspect
import re
import warnings

import numpy as np
import pytest

import numpy_impl
from numpy_impl import Dense, Sequential

from .conftest import random_batch


@pytest.fixture
def model():
    return numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3)


@pytest.fixture
def data(rng):
    return random_batch(rng, n=12)


def test_wrong_feature_count(model, rng):
    x, y = random_batch(rng, n=12, features=7)
    with pytest.raises(ValueError, match=r"expects \(samples, 6\)"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="flatten"):
        model.predict(x.reshape(12, 7, 1))
    with pytest.raises(ValueError, match=r"expects \(samples, 6\)"):   # model(x) on a built model: no rebuild
        model(x)


@pytest.mark.parametrize("x, message", [
    (np.ones((2, 16)), "x has shape (2, 16) but the model expects (samples, 4, 4): give samples of shape (4, 4)"),
    (np.ones((2, 4, 5)), "x has shape (2, 4, 5) but the model expects (samples, 4, 4): give samples of shape (4, 4)"),
    (np.ones((0, 4, 4)), "x is empty"),
    (np.full((2, 4, 4), "a"), "x must be numeric, got dtype <U1"),
    (np.full((2, 4, 4), np.inf), "x contains NaN or infinite values: clean or drop those samples"),
])
def test_x_that_does_not_fit_an_image_model_is_named_whole(x, message):
    model = Sequential([numpy_impl.Input(shape=(4, 4)), numpy_impl.layers.Flatten(), Dense(3)])
    with pytest.raises(ValueError) as caught:
        model.predict(x)
    assert str(caught.value) == message


@pytest.mark.parametrize("dtype", ["uint8", "float64", "int64"])
def test_a_float32_model_takes_x_of_any_numeric_dtype_in_float32(rng, dtype):
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3)
    x, y = random_batch(rng, n=8)
    x = (x * 255).astype(dtype)
    model.fit(x, y, batch_size=8, verbose=0)
    assert model.layers[0].inputs.dtype == np.float32             # what the first layer remembered
    assert model.predict(x).dtype == np.float32


def test_x_and_y_lengths_differ(model, data):
    x, y = data
    with pytest.raises(ValueError, match="^x has 12 samples but its labels have 11$"):
        model.fit(x, y[:11], verbose=0)


@pytest.mark.parametrize("labels, message", [
    (np.zeros((12, 4)), r"one-hot of shape \(samples, 3\)"),
    (np.arange(12) % 3, r"one-hot of shape \(samples, 3\)"),
    (np.full((12, 3), 1 / 3), "^labels must be one-hot: each row all zeros but a single 1$"),
])
def test_labels_not_one_hot(model, data, labels, message):
    with pytest.raises(ValueError, match=message):
        model.fit(data[0], labels, verbose=0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_x(model, data, bad):
    x, y = data
    x[3, 2] = bad
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.fit(x, y, verbose=0)


def test_large_finite_x_whose_sum_overflows_is_not_called_infinite(model):
    """The check sums x first (one cheap pass) and looks entry by entry only when the sum is not
    finite: a sum that overflows on finite entries must not refuse them (Keras takes them too)."""
    x = np.full((400, 6), 1e36, dtype="float32")                # finite; their float32 sum is not
    with np.errstate(over="ignore"):
        assert not np.isfinite(x.sum()) and np.isfinite(x).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")                          # and the check warns of no overflow
        assert np.isfinite(model.predict(x)).all()
    x[1, 2] = np.inf
    with pytest.raises(ValueError, match="NaN or infinite"):
        model.predict(x)


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive"),
    ({"batch_size": -3}, "batch_size must be a positive"),
    ({"batch_size": 2.5}, "batch_size must be a positive"),
    ({"batch_size": "32"}, "batch_size must be a positive whole number, got '32'"),
    ({"batch_size": [32]}, "batch_size must be a positive whole number, got \\[32\\]"),
    ({"epochs": 0}, "epochs must be a positive"),
    ({"epochs": "two"}, "epochs must be a positive whole number, got 'two'"),
    ({"epochs": -1}, "epochs must be a positive"),
])
def test_non_positive_batch_size_or_epochs(model, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.fit(*data, verbose=0, **kwargs)


@pytest.mark.parametrize("batch_size", [0, 2.5, "a", None])
def test_predict_and_evaluate_check_their_batch_size(model, data, batch_size):
    if batch_size is None:                                  # the default: no complaint
        assert model.predict(data[0], batch_size=None).shape == (len(data[0]), 3)
        return
    message = f"^batch_size must be a positive whole number, got {re.escape(repr(batch_size))}$"
    with pytest.raises(ValueError, match=message):
        model.predict(data[0], batch_size=batch_size)
    with pytest.raises(ValueError, match=message):
        model.evaluate(*data, batch_size=batch_size, verbose=0)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'sigmoidal': use one of 'relu', 'sigmoid', 'tanh', "
                                         ".*'linear', None$"):
        Dense(4, activation="sigmoidal")


@pytest.mark.parametrize("kwargs, message", [
    ({"learning_rate": 0}, "learning_rate must be a positive"),
    ({"learning_rate": float("nan")}, "learning_rate must be a positive"),
    ({"momentum": 1.5}, "momentum must be in"),
    ({"hidden": (0,)}, "units must be a positive"),
    ({"dtype": "float16"}, "dtype must be"),
])
def test_nonsense_hyperparameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        numpy_impl.build_model(**kwargs)


def test_set_weights_checks_shapes(model):
    weights = model.get_weights()
    with pytest.raises(ValueError, match="needs 4 arrays"):
        model.set_weights(weights[:3])
    weights[0] = weights[0].T
    with pytest.raises(ValueError, match=r"weight 0 has shape \(5, 6\)"):
        model.set_weights(weights)


def test_compile_needs_softmax_output():
    model = Sequential([Dense(3, activation="relu")])
    with pytest.raises(ValueError, match="softmax"):
        model.compile()


@pytest.mark.filterwarnings("error::RuntimeWarning")       # the one clear error, no NumPy overflow warnings first
def test_divergence_names_epoch_and_batch(data):
    x, y = data
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, learning_rate=1e30, seed=1)
    with pytest.raises(numpy_impl.TrainingDiverged) as caught:
        model.fit(x * 1e10, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    replay = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, learning_rate=1e30, seed=1)
    steps = [(epoch + 1, batch + 1) for epoch in range(3) for batch in range(3)]     # 12 samples, batches of 4
    for epoch, batch in steps:                          # counted from 1, as Keras prints them
        start = 4 * (batch - 1)
        with np.errstate(all="ignore"):
            loss, _ = replay.train_step(replay._check_x(x[start:start + 4] * 1e10),
                                        y[start:start + 4].astype("float32"))
        if not np.isfinite(loss):
            break
    assert (caught.value.epoch, caught.value.batch) == (epoch, batch)
    assert str(caught.value) == f"training diverged: loss {caught.value.loss} at epoch {epoch}, batch {batch}"
    assert not np.isfinite(caught.value.loss) and str(loss) == str(caught.value.loss)


# ---- more of numpy_impl's input errors, each with its own line ----------------------------------

def test_fit_before_compile(data):
    model = Sequential([numpy_impl.Input(shape=(6,)), Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match=r"^call compile\(\) before fit\(\)$"):
        model.fit(*data, verbose=0)


def test_a_validation_split_that_leaves_no_samples_on_one_side_is_refused(model, data):
    x, y = data                                                      # 12 samples; Keras holds out the last ones
    for split in (0.95, 1e-17):                                      # floor(12 * 0.05) = 0 kept; 1 - 1e-17 == 1.0
        with pytest.raises(ValueError, match=f"^validation_split={split} of 12 samples leaves no training or no "
                                             "validation samples$"):
            model.fit(x, y, validation_split=split, verbose=0)
    history = model.fit(x, y, validation_split=0.9, verbose=0)      # one training sample is enough
    assert len(history.history["val_loss"]) == 1


@pytest.mark.parametrize("validation, message", [
    (lambda x, y: (x[:, :5], y), r"validation_data has shape \(12, 5\) but the model expects \(samples, 6\)"),
    (lambda x, y: (x, y[:7]), "validation_data has 12 samples but its labels have 7"),
    (lambda x, y: (x, y[:, :2]), r"labels must be one-hot of shape \(samples, 3\), got \(12, 2\)"),
])
def test_bad_validation_data(model, data, validation, message):
    with pytest.raises(ValueError, match=message):
        model.fit(*data, verbose=0, validation_data=validation(*data))


def test_images_without_a_flatten():
    # the model is built as soon as it knows its input, so the missing Flatten is named right there
    with pytest.raises(ValueError, match=r"Dense takes \(batch, features\) inputs, got features of shape "
                                         r"\(4, 4\): put a Flatten\(\) before it"):
        Sequential([numpy_impl.Input(shape=(4, 4)), Dense(3, activation="softmax")])


@pytest.mark.parametrize("labels, message", [
    (np.array([0, 1, 2, 3]), r"integer labels 0..2 of shape \(samples,\) or \(samples, 1\), got shape \(4,\)"),
    (np.array([0, 1, -1, 2]), r"integer labels 0..2"),
    (np.array([0, 1.5, 2, 1]), r"integer labels 0..2"),
    (np.array(["0", "1", "2", "1"]), r"integer labels 0..2 of shape \(samples,\) or \(samples, 1\), got shape \(4,\)"),
    (np.array([[0, 1], [1, 0], [2, 2], [1, 1]]),
     r"integer labels 0..2 of shape \(samples,\) or \(samples, 1\), got shape \(4, 2\)"),
    (np.array([[0], [1], [3], [1]]), r"integer labels 0..2 of shape \(samples,\) or \(samples, 1\), got shape \(4, 1\)"),
])
def test_integer_labels_out_of_range_or_not_whole(rng, labels, message):
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match=message):
        model.fit(rng.random((4, 6)), labels, verbose=0)


def test_a_column_of_integer_labels_trains_as_the_labels_do(rng):
    """Keras takes sparse labels of shape (samples, 1) too (CIFAR's come so): the same run as (samples,)."""
    x, labels = rng.random((12, 6)), rng.integers(0, 3, 12)
    runs = []
    for y in (labels, labels[:, None]):
        model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, loss="sparse_categorical_crossentropy",
                                       dtype="float64")
        history = model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
        runs.append((history.history, model.evaluate(x, y, verbose=0), model.get_weights()))
    assert runs[1][0] == runs[0][0] and runs[1][1] == runs[0][1]
    for mine, other in zip(runs[1][2], runs[0][2]):
        np.testing.assert_array_equal(mine, other)


@pytest.mark.parametrize("optimizer, kwargs, message", [
    ("Adam", {"beta_1": 1.0}, r"beta_1 must be in \[0, 1\), got 1.0"),
    ("Adam", {"beta_2": -0.1}, r"beta_2 must be in \[0, 1\), got -0.1"),
    ("Adam", {"learning_rate": -1e-3}, "learning_rate must be a positive number, got -0.001"),
    ("RMSprop", {"rho": 1.5}, r"rho must be in \[0, 1\), got 1.5"),
    ("RMSprop", {"momentum": 1.0}, r"momentum must be in \[0, 1\), got 1.0"),
    ("RMSprop", {"learning_rate": float("inf")}, "learning_rate must be a positive number, got inf"),
])
def test_adam_and_rmsprop_hyperparameters_out_of_range(optimizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        getattr(numpy_impl, optimizer)(**kwargs)


MODULES_WITH_GAPS = ["numpy_impl", "numpy_impl.layers", "numpy_impl.losses", "numpy_impl.metrics",
                     "numpy_impl.optimizers", "numpy_impl.regularizers", "numpy_impl.initializers",
                     "numpy_impl.callbacks", "numpy_impl.models", "numpy_impl.saving", "numpy_impl.utils"]


@pytest.mark.parametrize("module_name", MODULES_WITH_GAPS)
def test_a_private_name_is_plainly_missing(module_name):
    """`_name` is Python's business (copy, pickle, inspect probe for them): a bare AttributeError, no Keras gap."""
    module = importlib.import_module(module_name)
    with pytest.raises(AttributeError) as caught:
        getattr(module, "_no_such_name")
    assert type(caught.value) is AttributeError and caught.value.args == ("_no_such_name",)


@pytest.mark.parametrize("module_name", MODULES_WITH_GAPS[1:])
def test_a_gap_offers_only_what_the_module_has(module_name):
    """The one-line message for a missing Keras class lists what to use instead: each name must be there."""
    module = importlib.import_module(module_name)
    with pytest.raises(numpy_impl.NotSupported) as caught:
        getattr(module, "NoSuchThing")
    message = str(caught.value)
    assert message.startswith(f"{module_name} has no NoSuchThing: ")
    offered = message.split(" from " if module_name.endswith("layers") else " it offers ")[-1].split(", ")
    assert len(offered) >= (1 if module_name.endswith("models") else 2) and offered == sorted(offered)
    for name in offered:                             # Keras's naming: a class capitalised, a function not
        offered_kind = inspect.isclass if name[0].isupper() else inspect.isfunction
        assert offered_kind(getattr(module, name)), f"{module_name} offers {name}, which it has not"


@pytest.mark.parametrize("make, what", [(lambda: numpy_impl.Input(shape=(0,)), "Input shape"),
                                        (lambda: numpy_impl.Input(shape=(1.5,)), "Input shape"),
                                        (lambda: numpy_impl.Input(shape=(True,)), "Input shape"),
                                        (lambda: numpy_impl.Input(shape=()), "Input shape"),
                                        (lambda: Dense(3, input_shape=(4, -1)), "input_shape")])
def test_a_shape_that_is_not_positive_whole_numbers_is_named(make, what):
    with pytest.raises(ValueError) as caught:
        make()
    assert str(caught.value).startswith(f"{what} must be positive whole numbers, e.g. (784,) or (28, 28), got ")


def test_a_built_layer_called_on_another_width_is_refused_as_keras_refuses_it():
    import keras
    theirs = keras.layers.Dense(2)
    theirs(np.ones((1, 4)))
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        theirs(np.ones((1, 3)))
    numpy_impl.utils.clear_session()
    mine = Dense(2)
    mine(np.ones((1, 4)))
    with pytest.raises(ValueError) as caught:
        mine(np.ones((1, 3)))
    assert str(caught.value) == "layer 'dense' was built for inputs of shape (4,), not (3,)"


def test_a_dense_layer_without_bias_holds_none_as_keras_does():
    import keras
    theirs, mine = keras.layers.Dense(3, use_bias=False), Dense(3, use_bias=False)
    theirs(np.ones((2, 4))), mine(np.ones((2, 4)))
    assert theirs.bias is None and mine.bias is None and mine.grad_bias is None
    assert len(mine.weights) == len(mine.gradients) == len(theirs.weights) == 1


@pytest.mark.parametrize("units", [0, -2, 1.5, True, 2.5])
def test_dense_units_that_are_not_a_positive_whole_number_are_named(units):
    with pytest.raises(ValueError) as caught:
        Dense(units)
    assert str(caught.value) == f"Dense units must be a positive whole number, got {units!r}"


@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_a_dense_layer_of_one_unit_and_input_dim_build_as_in_keras():
    import keras
    for package in (keras, numpy_impl):
        layer = package.layers.Dense(1, input_dim=4)
        assert layer.built is False
        model = package.Sequential([layer])
        assert layer.built is True and [w.shape for w in model.get_weights()] == [(4, 1), (1,)]
        assert model.predict(np.ones((2, 4)), verbose=0).shape == (2, 1)


def test_a_shape_of_ones_or_whole_floats_is_a_shape():
    assert numpy_impl.Input(shape=(1,)).shape == (1,)
    assert numpy_impl.Input(shape=[28.0, 1]).shape == (28, 1)
    assert all(type(n) is int for n in numpy_impl.Input(shape=[28.0, 1]).shape)
    assert Dense(3, input_shape=(1,)).input_shape_argument == (1,)


@pytest.mark.parametrize("make, what", [(lambda k: k.Input(shape=784), "Input shape"),
                                        (lambda k: k.Sequential([k.layers.Dense(3, input_shape=4)]).build(), "input_shape")])
@pytest.mark.filterwarnings("ignore:Do not pass an `input_shape`")
def test_a_bare_number_for_a_shape_is_refused_as_keras_refuses_it(make, what):
    import keras
    with pytest.raises(ValueError, match="Cannot convert '(784|4)' to a shape"):
        make(keras)
    with pytest.raises(ValueError) as caught:
        make(numpy_impl)
    assert str(caught.value) == f"{what} must be a tuple, e.g. (784,) or (28, 28), got {784 if what[0] == 'I' else 4}"


@pytest.mark.parametrize("make, name", [(lambda: numpy_impl.L1(-0.5), "l1"), (lambda: numpy_impl.L2(-0.5), "l2"),
                                        (lambda: numpy_impl.L1L2(l1=-0.5), "l1"),
                                        (lambda: numpy_impl.L1L2(l2=-0.5), "l2")])
def test_a_negative_penalty_names_its_factor(make, name):
    with pytest.raises(ValueError) as caught:
        make()
    assert str(caught.value) == f"{name} must be a non-negative number, got -0.5"


def test_a_model_attribute_keras_lacks_too_is_plainly_missing():
    """A name a model does not have is Python's plain AttributeError, and copying a model still works."""
    model = numpy_impl.Sequential([numpy_impl.Input(shape=(3,)), Dense(2)])
    with pytest.raises(AttributeError) as caught:
        model.no_such_method
    assert type(caught.value) is AttributeError
    assert str(caught.value) == "'Sequential' object has no attribute 'no_such_method'"
    assert hasattr(model, "save") and hasattr(model, "train_on_batch") and not hasattr(model, "fit_generator")
    twin = copy.deepcopy(model)
    np.testing.assert_array_equal(twin.predict(np.ones((1, 3))), model.predict(np.ones((1, 3))))
