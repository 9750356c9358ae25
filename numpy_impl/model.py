"""The NumPy twin: a Keras-like `Sequential` model, trained by backpropagation.

Read it beside keras_impl/model.py: `build_model` and `loss_and_gradients`
have the same signatures there, and `Sequential` here answers the calls a
Keras model answers (compile, fit, evaluate, predict, get_weights,
set_weights). What Keras does for us there is written out here: the forward
pass, the loss, the backward pass and the SGD update.

This is a teaching network, not a framework: dense layers, ReLU/softmax,
categorical cross-entropy and SGD are all it knows.
"""
import math

import numpy as np

from .layers import Dense, Input
from .losses import categorical_crossentropy_from_logits
from .optimizers import SGD
from .progress import ProgressBar


class History:
    """What `fit` returns, as in Keras: `history.history["loss"][epoch]`, ..."""

    def __init__(self):
        self.epoch = []
        self.history = {}

    def record(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite: the weights have blown up."""

    def __init__(self, epoch, batch, loss):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(f"training diverged: loss {loss} at epoch {epoch}, batch {batch}")


class Sequential:
    """A stack of Dense layers ending in softmax, for categorical cross-entropy.

    `seed` and `dtype` stand in for Keras's global `set_random_seed` and
    floatx: they fix the initial weights and shuffling, and the float type of
    every weight and every computation ("float32" or "float64").
    """

    def __init__(self, layers=(), seed=None, dtype="float32"):
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.layers, self.input_dim, self.optimizer = [], None, None
        for layer in layers:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, Input):
            self.input_dim = layer.shape[0]
        elif isinstance(layer, Dense):
            self.layers.append(layer)
        else:
            raise ValueError(f"Sequential takes Input and Dense layers, got {type(layer).__name__}")

    def build(self, input_dim):
        """Create every layer's weights, each layer's input width the last one's units."""
        self.input_dim = int(input_dim)
        width = self.input_dim
        for layer in self.layers:
            layer.build(width, self.rng, self.dtype)
            width = layer.units
        self.weights = [w for layer in self.layers for w in layer.weights]

    @property
    def gradients(self):
        """[dL/dkernel_0, dL/dbias_0, dL/dkernel_1, ...]: what the layers' backward passes last stored."""
        return [g for layer in self.layers for g in layer.gradients]

    @property
    def built(self):
        return bool(self.layers) and self.layers[0].kernel is not None

    def compile(self, optimizer="sgd", loss="categorical_crossentropy", metrics=("accuracy",)):
        if not self.layers or self.layers[-1].activation.name != "softmax":
            raise ValueError("the last layer must be Dense(..., activation='softmax')")
        if loss != "categorical_crossentropy":
            raise ValueError(f"only loss='categorical_crossentropy' is implemented, got {loss!r}")
        self.optimizer = SGD() if optimizer == "sgd" else optimizer
        if not isinstance(self.optimizer, SGD):
            raise ValueError(f"optimizer must be 'sgd' or an SGD instance, got {optimizer!r}")
        if not self.built and self.input_dim is not None:
            self.build(self.input_dim)

    # ---- one training step ----------------------------------------------------

    def forward(self, x):
        """Hidden layers, then the output layer's logits (its softmax is in the loss)."""
        for layer in self.layers[:-1]:
            x = layer.forward(x)
        return self.layers[-1].affine(x)                  # (B, classes)

    def compute_gradients(self, x, y):
        """Forward and backward through the whole network.

        Fills every layer's grad_kernel and grad_bias; returns the mean loss and
        the softmax probabilities of the batch.
        """
        logits = self.forward(x)
        loss, probabilities, grad_logits = categorical_crossentropy_from_logits(logits, y)
        self.backward(grad_logits)
        return loss, probabilities

    def backward(self, grad_logits):
        """From dL/dlogits back through the layers in reverse, filling their gradients.

        The output layer starts from its logits (the softmax is inside the loss);
        the first layer's dL/dx is not needed.
        """
        last = len(self.layers) - 1
        grad = self.layers[last].backward_affine(grad_logits, need_grad_inputs=last > 0)
        for index in range(last - 1, -1, -1):
            grad = self.layers[index].backward(grad, need_grad_inputs=index > 0)

    def train_step(self, x, y):
        loss, probabilities = self.compute_gradients(x, y)
        self.optimizer.apply(self.gradients, self.weights)
        return loss, probabilities

    # ---- the Keras calls --------------------------------------------------------

    def fit(self, x, y, batch_size=32, epochs=1, verbose=1, shuffle=True, validation_data=None):
        """Train with minibatch SGD; returns a History like Keras's.

        verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch (Keras's meanings).

        As in Keras: the last batch may be smaller and its loss is averaged over
        its own size; History's "loss" and "accuracy" are running means over the
        epoch, weighted by batch size and taken before each update.
        """
        if self.optimizer is None:
            raise ValueError("call compile() before fit()")
        batch_size, epochs = _positive_int("batch_size", batch_size), _positive_int("epochs", epochs)
        x, y = self._check_data(x, y)
        if validation_data is not None:
            validation_data = self._check_data(*validation_data, what="validation_data")
        labels = y.argmax(axis=1)
        n = len(x)
        steps = math.ceil(n / batch_size)
        history = History()
        for epoch in range(epochs):
            if verbose and epochs > 1:       # (Keras prints "Epoch 1/1" too; one epoch needs no header)
                print(f"Epoch {epoch + 1}/{epochs}")
            order = self.rng.permutation(n) if shuffle else None
            bar = ProgressBar(steps, interactive=verbose == 1) if verbose else None
            total_loss, correct = 0.0, 0
            with np.errstate(over="ignore", invalid="ignore"):   # divergence is caught below
                for step, start in enumerate(range(0, n, batch_size)):
                    stop = min(start + batch_size, n)
                    # Unshuffled, a batch is a slice (a view, no copy). Shuffled, its rows are
                    # gathered right before its step: no permuted copy of all of x per epoch
                    # (188 MB at MNIST size), and measured here a little faster than one.
                    batch = slice(start, stop) if order is None else order[start:stop]
                    loss, probabilities = self.train_step(x[batch], y[batch])
                    if not math.isfinite(loss):
                        raise TrainingDiverged(epoch + 1, step + 1, loss)
                    total_loss += loss * (stop - start)
                    correct += int(np.count_nonzero(probabilities.argmax(axis=1) == labels[batch]))
                    if bar:
                        bar.update(step + 1, {"loss": total_loss / stop, "accuracy": correct / stop})
            logs = {"loss": total_loss / n, "accuracy": correct / n}
            if validation_data is not None:
                logs["val_loss"], logs["val_accuracy"] = self._evaluate(*validation_data)
            history.record(epoch, logs)
        self.history = history
        return history

    def evaluate(self, x, y, batch_size=None, verbose=0):
        """[mean loss, accuracy] over all of x. batch_size bounds memory only."""
        return list(self._evaluate(*self._check_data(x, y), batch_size=batch_size))

    def predict(self, x, batch_size=None, verbose=0):
        """Softmax probabilities, shape (samples, classes)."""
        x = self._check_x(x)
        batch_size = _positive_int("batch_size", batch_size or 1024)
        probabilities = np.empty((len(x), self.layers[-1].units), self.dtype)
        for start in range(0, len(x), batch_size):
            logits = self.forward(x[start:start + batch_size])
            probabilities[start:start + batch_size] = self.layers[-1].activation.forward(logits)
        return probabilities

    def get_weights(self):
        """[kernel_0 (in, out), bias_0 (out,), kernel_1, ...], copies, Keras's order."""
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        if len(weights) != len(self.weights):
            raise ValueError(f"set_weights needs {len(self.weights)} arrays, got {len(weights)}")
        for index, (mine, new) in enumerate(zip(self.weights, weights)):
            new = np.asarray(new)
            if new.shape != mine.shape:
                raise ValueError(f"weight {index} has shape {new.shape}, the model needs {mine.shape}")
            mine[...] = new             # in place: the optimizer keeps its references

    # ---- helpers ---------------------------------------------------------------

    def _evaluate(self, x, y, batch_size=None):
        batch_size = _positive_int("batch_size", batch_size or 1024)
        total_loss, correct = 0.0, 0
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            loss, probabilities, _ = categorical_crossentropy_from_logits(self.forward(xb), yb)
            total_loss += loss * len(xb)
            correct += int(np.count_nonzero(probabilities.argmax(axis=1) == yb.argmax(axis=1)))
        return total_loss / len(x), correct / len(x)

    def _check_x(self, x, what="x"):
        x = np.asarray(x)
        if not self.built:
            if x.ndim != 2:
                raise ValueError(f"{what} must have shape (samples, features), got {x.shape}")
            self.build(x.shape[1])
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"{what} has shape {x.shape} but the model expects (samples, "
                             f"{self.input_dim}): flatten each sample to {self.input_dim} features")
        if len(x) == 0:
            raise ValueError(f"{what} is empty")
        if not np.issubdtype(x.dtype, np.number):
            raise ValueError(f"{what} must be numeric, got dtype {x.dtype}")
        x = x.astype(self.dtype, copy=False)
        # A sum is finite only if every entry is (NaN and inf propagate); the
        # exact test, which allocates a mask as large as x, runs only if it is not.
        if not np.isfinite(x.sum()) and not np.isfinite(x).all():
            raise ValueError(f"{what} contains NaN or infinite values: clean or drop those samples")
        return x

    def _check_data(self, x, y, what="x"):
        x = self._check_x(x, what)
        y = np.asarray(y)
        classes = self.layers[-1].units
        if y.ndim != 2 or y.shape[1] != classes:
            raise ValueError(f"labels must be one-hot of shape (samples, {classes}), got {y.shape}: "
                             "encode integer labels with one_hot(labels, num_classes)")
        if len(y) != len(x):
            raise ValueError(f"{what} has {len(x)} samples but its labels have {len(y)}")
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError("labels must be one-hot: each row all zeros but a single 1")
        return x, y.astype(self.dtype, copy=False)


def _positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value <= 0:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


def one_hot(labels, num_classes, dtype="float32"):
    """Integer labels (n,) -> one-hot rows (n, num_classes), as keras.utils.to_categorical."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (len(labels) and (labels.min() < 0 or labels.max() >= num_classes)):
        raise ValueError(f"labels must be integers in 0..{num_classes - 1}, shape (n,)")
    encoded = np.zeros((len(labels), num_classes), dtype=dtype)
    encoded[np.arange(len(labels)), labels] = 1
    return encoded


# ---- the shared API (same signatures in keras_impl) -------------------------------

def build_model(input_dim=784, hidden=(128, 128), num_classes=10, learning_rate=0.01,
                momentum=0.0, nesterov=False, seed=0, dtype="float32"):
    """Dense(relu) for each width in `hidden`, then Dense(softmax); SGD; compiled."""
    model = Sequential([Input(shape=(input_dim,))]
                       + [Dense(units, activation="relu") for units in hidden]
                       + [Dense(num_classes, activation="softmax")],
                       seed=seed, dtype=dtype)
    model.compile(optimizer=SGD(learning_rate, momentum, nesterov),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def loss_and_gradients(model, x, y):
    """Mean loss and d loss / d weight for each array of get_weights(), in that order."""
    x, y = model._check_data(x, y)
    loss, _ = model.compute_gradients(x, y)
    return loss, [g.copy() for g in model.gradients]
