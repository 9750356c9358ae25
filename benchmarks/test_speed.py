"""Training speed of both twins (pytest-benchmark).

    pytest benchmarks --benchmark-group-by=param        # the twins side by side per batch size
    pytest benchmarks --benchmark-disable               # run each once, as plain tests (CI)

One function per twin, parametrised by batch size only, so that grouping by
param puts `numpy` and `keras` of the same batch size in one table.
"""
import numpy as np
import pytest

import keras_impl
import numpy_impl

BATCH_SIZES = [32, 128, 1024]
ROUNDS = 3


def build(twin):
    return (numpy_impl if twin == "numpy" else keras_impl).build_model(seed=0)


def run_epoch(benchmark, model, x, y, batch_size):
    if benchmark.enabled:
        model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0)  # warm-up: Keras builds its graph
    else:
        x, y = x[:4096], y[:4096]          # --benchmark-disable: check that it runs, quickly
    before, _ = model.evaluate(x[:2000], y[:2000], verbose=0)
    benchmark.pedantic(model.fit, args=(x, y), kwargs=dict(batch_size=batch_size, epochs=1, verbose=0),
                       rounds=ROUNDS, iterations=1)
    after, _ = model.evaluate(x[:2000], y[:2000], verbose=0)
    assert after < before, (before, after)       # the timed epochs trained the network: the loss went down


# ---- one training epoch ------------------------------------------------------------------

@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_epoch_numpy(benchmark, mnist_xy, batch_size):
    benchmark.group = f"epoch, batch {batch_size}"
    run_epoch(benchmark, build("numpy"), *mnist_xy, batch_size)


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_epoch_keras(benchmark, mnist_xy, batch_size):
    benchmark.group = f"epoch, batch {batch_size}"
    run_epoch(benchmark, build("keras"), *mnist_xy, batch_size)


# ---- one forward pass of a batch --------------------------------------------------------------

@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_forward_numpy(benchmark, mnist_xy, batch_size):
    model, x = build("numpy"), mnist_xy[0][:batch_size]
    logits = benchmark(model.forward, x)
    assert logits.shape == (batch_size, 10)


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_forward_keras(benchmark, mnist_xy, batch_size):
    import tensorflow as tf
    model, x = build("keras"), tf.constant(mnist_xy[0][:batch_size])
    forward = tf.function(lambda batch: model(batch, training=False))
    forward(x)                                                          # trace once
    probabilities = benchmark(forward, x)
    assert probabilities.shape == (batch_size, 10)


# ---- one backward pass of a batch (the forward pass done untimed in setup) -------------------

@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_backward_numpy(benchmark, mnist_xy, batch_size):
    from numpy_impl.losses import categorical_crossentropy_from_logits
    model = build("numpy")
    x, y = (a[:batch_size] for a in mnist_xy)

    def forward():
        _, _, grad_logits = categorical_crossentropy_from_logits(model.forward(x), y)
        return (grad_logits,), {}

    benchmark.pedantic(model.backward, setup=forward, rounds=50 if benchmark.enabled else 1, iterations=1)
    timed = [g.copy() for g in model.gradients]             # what the timed backward pass left
    keras_model = build("keras")
    keras_model.set_weights(model.get_weights())
    _, reference = keras_impl.loss_and_gradients(keras_model, x, y)   # TensorFlow's autodiff, float32
    for mine, theirs in zip(timed, reference):
        np.testing.assert_allclose(mine, np.asarray(theirs), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("batch_size", BATCH_SIZES)
def test_backward_keras(benchmark, mnist_xy, batch_size):
    import keras
    import tensorflow as tf
    model = build("keras")
    x, y = (tf.constant(a[:batch_size]) for a in mnist_xy)

    def forward():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(keras.losses.categorical_crossentropy(y, model(x, training=True)))
        return (tape, loss), {}

    def backward(tape, loss):
        return tape.gradient(loss, model.trainable_variables)

    benchmark.pedantic(backward, setup=forward, rounds=50 if benchmark.enabled else 1, iterations=1)
    grads = backward(*forward()[0])
    assert [tuple(g.shape) for g in grads] == [w.shape for w in model.get_weights()]
