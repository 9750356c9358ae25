"""The Keras twin: the same network in Keras 3 on TensorFlow.

Read it beside numpy_impl/model.py. Everything written out by hand there is
one call here: Keras builds the layers, TensorFlow's GradientTape does the
backward pass, and `SGD` does the update.
"""
import contextlib

import keras
import numpy as np
import tensorflow as tf


@contextlib.contextmanager
def _floatx(dtype):
    """Keras's fit/evaluate/predict cast NumPy inputs to the global floatx;
    a float64 model needs floatx float64 while it runs, or its inputs are
    rounded to float32 first."""
    previous = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        yield
    finally:
        keras.config.set_floatx(previous)


class TwinSequential(keras.Sequential):
    """keras.Sequential that runs fit, evaluate and predict in its own float type."""

    def fit(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            return super().evaluate(*args, **kwargs)

    def predict(self, *args, **kwargs):
        with _floatx(self.twin_dtype):
            return super().predict(*args, **kwargs)


def build_model(input_dim=784, hidden=(128, 128), num_classes=10, learning_rate=0.01,
                momentum=0.0, nesterov=False, seed=0, dtype="float32"):
    """Dense(relu) for each width in `hidden`, then Dense(softmax); SGD; compiled."""
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    layers = [keras.Input(shape=(input_dim,), dtype=dtype)]
    for index, units in enumerate(hidden):
        layers.append(keras.layers.Dense(
            units, activation="relu", dtype=dtype,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed + index)))
    layers.append(keras.layers.Dense(
        num_classes, activation="softmax", dtype=dtype,
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + len(hidden))))
    # Keras makes its optimizer's learning-rate variable and its loss and metric
    # trackers in the floatx of the moment: build under the twin's dtype, or a
    # float64 twin steps with 0.05 rounded to 0.0500000007 and reports float32 means.
    # SGD also casts a Python-float momentum through a float32 tensor (0.9 ->
    # 0.8999999762), so a float64 twin hands it over as np.float64 (a float to Keras).
    if dtype == "float64":
        momentum = np.float64(momentum)
    with _floatx(dtype):
        model = TwinSequential(layers)
        model.twin_dtype = dtype
        model.compile(optimizer=keras.optimizers.SGD(learning_rate, momentum=momentum, nesterov=nesterov),
                      loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def loss_and_gradients(model, x, y):
    """Mean loss and d loss / d weight for each array of get_weights(), in that order."""
    x = tf.convert_to_tensor(x, dtype=model.twin_dtype)
    y = tf.convert_to_tensor(y, dtype=model.twin_dtype)
    with tf.GradientTape() as tape:
        probabilities = model(x, training=True)
        # Behind a softmax layer Keras computes this loss from the logits.
        loss = keras.losses.categorical_crossentropy(y, probabilities)
        loss = tf.reduce_mean(loss)
    gradients = tape.gradient(loss, model.trainable_variables)
    return float(loss), [g.numpy() for g in gradients]
