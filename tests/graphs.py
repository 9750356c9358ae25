"""The graphs of issue 46, built twice from one description: in numpy_impl (its functional Model, or a subclass
with call()) and in Keras (keras.Model the same way), float64, numpy_impl's initial weights copied to Keras.
tests/backend_agreement.py trains them in lockstep on each engine; tests/test_functional.py uses them too.

`logits=True` ends each in a linear Dense, for a loss with from_logits=True: on JAX and PyTorch Keras takes a
softmax output's cross-entropy from probabilities clipped at 1e-7, which a network trained long enough reaches
(the subclassed model did, after 5,000 digits), so the engine tables train on logits, as keras_impl does."""
import numpy as np


def chain(package, dtype, output="softmax"):
    """Input -> Dense 16 relu -> Dense 16 relu -> Dense 10 softmax, written with the functional API."""
    layers, options = package.layers, _options(package, dtype)
    inputs = package.Input(shape=(784,), **_input(package, dtype))
    x = layers.Dense(16, activation="relu", **options)(inputs)
    x = layers.Dense(16, activation="relu", **options)(x)
    return inputs, layers.Dense(10, activation=output, **options)(x)


def residual(package, dtype, output="softmax"):
    """x = Dense 16 relu; x = Add([x, Dense 16 relu (x)]) twice; Dense 10 softmax: keras.io's residual pattern."""
    layers, options = package.layers, _options(package, dtype)
    inputs = package.Input(shape=(784,), **_input(package, dtype))
    x = layers.Dense(16, activation="relu", **options)(inputs)
    for _ in range(2):
        x = layers.Add(**options)([x, layers.Dense(16, activation="relu", **options)(x)])
    return inputs, layers.Dense(10, activation=output, **options)(x)


def concatenated(package, dtype, output="softmax"):
    """Two branches from the input, Dense 16 relu and Dense 8 tanh, joined side by side, then Dense 10 softmax."""
    layers, options = package.layers, _options(package, dtype)
    inputs = package.Input(shape=(784,), **_input(package, dtype))
    a = layers.Dense(16, activation="relu", **options)(inputs)
    b = layers.Dense(8, activation="tanh", **options)(inputs)
    x = layers.Concatenate(**options)([a, b])
    x = layers.Dense(12, activation="relu", **options)(x)
    return inputs, layers.Dense(10, activation=output, **options)(x)


def subclassed(package, dtype, output="softmax"):
    """keras.io's subclassing pattern: layers made in __init__, applied in call()."""
    layers, options = package.layers, _options(package, dtype)

    class MLP(package.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.hidden = layers.Dense(16, activation="relu", **options)
            self.branch = layers.Dense(16, activation="relu", **options)
            self.add = layers.Add(**options)
            self.classifier = layers.Dense(10, activation=output, **options)

        def call(self, inputs, training=None):
            x = self.hidden(inputs)
            x = self.add([x, self.branch(x)])
            return self.classifier(x)
    return MLP


GRAPHS = {"functional chain": chain, "residual, Add": residual, "Concatenate": concatenated,
          "subclassed Model": subclassed}


def build(package, name, dtype="float64", seed=0, logits=False):
    made = GRAPHS[name](package, dtype, None if logits else "softmax")
    if isinstance(made, tuple):
        inputs, outputs = made
        return package.Model(inputs, outputs, **({"seed": seed, "dtype": dtype} if package.__name__ == "numpy_impl"
                                                 else {}))
    # a Keras Model is a layer with a dtype policy of its own: without dtype=, its call rounds the inputs to float32
    model = made(**({"seed": seed, "dtype": dtype} if package.__name__ == "numpy_impl" else {"dtype": dtype}))
    model.build((None, 784)) if package.__name__ == "numpy_impl" else model(np.zeros((1, 784), dtype))
    return model


def _options(package, dtype):
    return {} if package.__name__ == "numpy_impl" else {"dtype": dtype}


def _input(package, dtype):
    return {} if package.__name__ == "numpy_impl" else {"dtype": dtype}
