"""Wrong input to the NumPy twin: a ValueError that names the problem."""
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


def test_x_and_y_lengths_differ(model, data):
    x, y = data
    with pytest.raises(ValueError, match="12 samples but its labels have 11"):
        model.fit(x, y[:11], verbose=0)


@pytest.mark.parametrize("labels, message", [
    (np.zeros((12, 4)), r"one-hot of shape \(samples, 3\)"),
    (np.arange(12) % 3, r"one-hot of shape \(samples, 3\)"),
    (np.full((12, 3), 1 / 3), "each row all zeros but a single 1"),
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


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 0}, "batch_size must be a positive"),
    ({"batch_size": -3}, "batch_size must be a positive"),
    ({"batch_size": 2.5}, "batch_size must be a positive"),
    ({"epochs": 0}, "epochs must be a positive"),
    ({"epochs": -1}, "epochs must be a positive"),
])
def test_non_positive_batch_size_or_epochs(model, data, kwargs, message):
    with pytest.raises(ValueError, match=message):
        model.fit(*data, verbose=0, **kwargs)


def test_unknown_activation():
    with pytest.raises(ValueError, match="unknown activation 'sigmoidal'"):
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


def test_divergence_names_epoch_and_batch(data):
    x, y = data
    model = numpy_impl.build_model(input_dim=6, hidden=(5,), num_classes=3, learning_rate=1e30, seed=1)
    with pytest.raises(numpy_impl.TrainingDiverged) as caught:
        model.fit(x * 1e10, y, batch_size=4, epochs=3, shuffle=False, verbose=0)
    assert caught.value.epoch >= 1 and caught.value.batch >= 1
    assert "diverged" in str(caught.value)
