"""BatchNormalization and LayerNormalization: by hand, by finite differences, and against Keras.

(Both also train in lockstep with Keras in test_vocabulary.py: "sgd momentum batchnorm", "adam layernorm".)
"""
import numpy as np
import pytest

import keras_impl
import numpy_impl
from compare.gradcheck import finite_difference_check, numerical_gradient

from .conftest import random_batch
from .test_vocabulary import eager


def layer_on(layer, x, training=True):
    layer.build_once(x.shape[1:], np.random.default_rng(0), x.dtype)
    return layer.forward(x, training)


def test_batchnorm_training_step_by_hand(rng):
    """Batch moments per feature with the biased variance (divide by B), and the moving
    statistics moved 1 - momentum of the way towards them."""
    x = rng.normal(3.0, 2.0, size=(8, 5))
    layer = numpy_impl.BatchNormalization(momentum=0.9)
    outputs = layer_on(layer, x)
    mean, variance = x.mean(axis=0), ((x - x.mean(axis=0)) ** 2).sum(axis=0) / 8
    np.testing.assert_allclose(outputs, (x - mean) / np.sqrt(variance + 1e-3), rtol=0, atol=1e-14)
    np.testing.assert_allclose(layer.moving_mean, 0.1 * mean, rtol=1e-15)
    np.testing.assert_allclose(layer.moving_variance, 0.9 + 0.1 * variance, rtol=1e-15)


def test_batchnorm_in_evaluation_uses_the_moving_statistics(rng):
    """Out of training, a sample's output is the same alone or in any batch; in training it is not."""
    layer = numpy_impl.BatchNormalization()
    x = rng.normal(size=(16, 4))
    layer_on(layer, x)                                        # moves the statistics off 0 and 1
    layer.gamma[...], layer.beta[...] = 2.0, 0.5
    alone = layer.forward(x[:1].copy(), training=False)
    in_batch = layer.forward(x.copy(), training=False)[:1]
    np.testing.assert_array_equal(alone, in_batch)
    inv = 2.0 / np.sqrt(layer.moving_variance + 1e-3)
    np.testing.assert_allclose(alone, (x[:1] - layer.moving_mean) * inv + 0.5, rtol=0, atol=1e-14)
    assert np.abs(layer.forward(x[:4].copy(), True)[:1] - layer.forward(x.copy(), True)[:1]).max() > 1e-3


def test_layernorm_normalises_each_sample_over_its_features(rng):
    x = rng.normal(2.0, 3.0, size=(6, 10))
    layer = numpy_impl.LayerNormalization()
    outputs = layer_on(layer, x)
    mean, variance = x.mean(axis=1, keepdims=True), x.var(axis=1, keepdims=True)
    np.testing.assert_allclose(outputs, (x - mean) / np.sqrt(variance + 1e-3), rtol=0, atol=1e-14)
    np.testing.assert_array_equal(outputs, layer.forward(x, training=False))     # no running estimates


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_gradients_against_finite_differences(rng, norm):
    model = numpy_impl.build_model(input_dim=6, hidden=(5, 4), num_classes=3, dtype="float64", **{norm: True})
    for layer in model.layers:                       # gamma and beta away from 1 and 0, so every path counts
        if isinstance(layer, numpy_impl.layers.Normalization):
            layer.gamma[...] = rng.uniform(0.5, 2.0, layer.gamma.shape)
            layer.beta[...] = rng.normal(size=layer.beta.shape)
    x, y = random_batch(rng, n=12)
    errors = finite_difference_check(model, x, y, entries_per_tensor=30)
    assert len(errors) == (8 if norm == "batchnorm" else 10)     # (kernel, gamma, beta) x 2 (+ biases), out
    assert max(errors) < 1e-6


@pytest.mark.parametrize("norm", ["batchnorm", "layernorm"])
def test_weights_in_keras_order_and_summary_counts(norm):
    """get_weights() shapes as Keras's (no bias before BatchNormalization; gamma, beta, moving mean,
    moving variance), and summary()'s trainable and non-trainable counts equal Keras's."""
    options = dict(input_dim=20, hidden=(16, 12), num_classes=4, **{norm: True})
    mine, theirs = numpy_impl.build_model(**options), keras_impl.build_model(**options)
    assert [w.shape for w in mine.get_weights()] == [w.shape for w in theirs.get_weights()]
    lines = {}
    for model in (mine, theirs):
        printed = []
        model.summary(print_fn=lambda text, **_: printed.append(text))
        lines[model] = [line for line in "\n".join(printed).splitlines() if "rainable params:" in line]
    assert lines[mine] == lines[theirs]
    assert ("Non-trainable params: 56 " in lines[mine][1]) == (norm == "batchnorm")


def test_moving_statistics_equal_keras_after_training(rng):
    """float64, one epoch at batch 32 with a partial last batch: the moving statistics to 1e-13."""
    options = dict(input_dim=20, hidden=(16, 12), num_classes=4, seed=3, dtype="float64", learning_rate=0.05,
                   momentum=0.9, batchnorm=True)
    mine, theirs = numpy_impl.build_model(**options), eager(keras_impl.build_model(**options))
    theirs.set_weights(mine.get_weights())
    x, y = random_batch(rng, n=203, features=20, classes=4)
    x = 4.0 * x - 1.0
    mine.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    theirs.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    norms = [layer for layer in mine.layers if isinstance(layer, numpy_impl.BatchNormalization)]
    keras_norms = [layer for layer in theirs.layers if "batch_normalization" in layer.name]
    for layer, keras_layer in zip(norms, keras_norms):
        assert np.abs(layer.moving_mean).max() > 0.01               # they did move
        np.testing.assert_allclose(layer.moving_mean, keras_layer.moving_mean.numpy(), rtol=0, atol=1e-13)
        np.testing.assert_allclose(layer.moving_variance, keras_layer.moving_variance.numpy(), rtol=0, atol=1e-13)


@pytest.mark.parametrize("make, message", [
    (lambda: numpy_impl.BatchNormalization(momentum=1.5), "BatchNormalization momentum must be in [0, 1], got 1.5"),
    (lambda: numpy_impl.LayerNormalization(epsilon=0), "LayerNormalization epsilon must be a positive number, got 0.0"),
    (lambda: numpy_impl.build_model(batchnorm=True, layernorm=True), "give batchnorm or layernorm, not both"),
    (lambda: numpy_impl.Sequential([numpy_impl.Input((4, 4)), numpy_impl.BatchNormalization()]),
     "BatchNormalization takes (batch, features) inputs here, got features of shape (4, 4): put a Flatten() before it"),
])
def test_nonsense_normalization_settings_are_refused(make, message):
    with pytest.raises(ValueError) as error:
        make()
    assert str(error.value) == message


@pytest.mark.parametrize("momentum", [0.0, 1.0])
def test_batchnorm_momentum_at_its_ends(rng, momentum):
    """Keras takes momentum 0 (the moving statistics are the last batch's) and 1 (they never move)."""
    x = rng.normal(3.0, 2.0, size=(8, 5))
    layer = numpy_impl.BatchNormalization(momentum=momentum)
    layer_on(layer, x)
    expected_mean = np.zeros(5) if momentum == 1.0 else x.mean(axis=0)
    expected_variance = np.ones(5) if momentum == 1.0 else x.var(axis=0)
    np.testing.assert_allclose(layer.moving_mean, expected_mean, rtol=1e-14, atol=0)
    np.testing.assert_allclose(layer.moving_variance, expected_variance, rtol=1e-14, atol=0)


@pytest.mark.parametrize("norm", ["BatchNormalization", "LayerNormalization"])
def test_a_normalization_layer_alone_hands_back_its_input_gradient(rng, norm):
    """layer.backward(dL/doutputs), called alone as the derivation calls it, returns dL/dx
    (and fills dL/dgamma, dL/dbeta): each against central differences of L = sum(upstream * layer(x))."""
    layer = getattr(numpy_impl.layers, norm)()
    x = rng.normal(size=(6, 4))
    layer_on(layer, x)
    layer.gamma[...], layer.beta[...] = rng.uniform(0.5, 2.0, 4), rng.normal(size=4)
    upstream = rng.normal(size=(6, 4))

    def loss():
        return float(np.sum(upstream * layer.forward(x, True)))

    layer.forward(x, True)
    grad_x = layer.backward(upstream)
    assert grad_x is not None and grad_x.shape == x.shape
    for array, analytic in ((x, grad_x.copy()), (layer.gamma, layer.grad_gamma.copy()), (layer.beta, layer.grad_beta.copy())):
        numeric = np.array([numerical_gradient(loss, array, index) for index in np.ndindex(array.shape)])
        np.testing.assert_allclose(analytic, numeric.reshape(array.shape), rtol=1e-6, atol=1e-8)
