"""The NumPy twin: a Keras-like `Sequential` model, trained by backpropagation.

Read it beside keras_impl/model.py: `build_model` and `loss_and_gradients`
have the same signatures there, and `Sequential` here answers the calls a
Keras model answers (compile, fit, evaluate, predict, get_weights,
set_weights). What Keras does for us there is written out here: the forward
pass, the loss, the backward pass and the optimizer's update.

This is a teaching network, not a framework: Dense, Dropout and Flatten
layers, ReLU and softmax, cross-entropy with one-hot or integer labels, an
L2 penalty, and SGD, Adam and RMSprop are all it knows.
"""
import math

import numpy as np

from . import losses, optimizers
from .layers import Dense, Dropout, Flatten, Input
from .progress import ProgressBar
from .regularizers import L2


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
    """A stack of layers (Dense, Dropout, Flatten) ending in a Dense layer, trained on a cross-entropy.

    `seed` and `dtype` stand in for Keras's global `set_random_seed` and
    floatx: they fix the initial weights, the dropout masks and shuffling,
    and the float type of every weight and every computation ("float32" or
    "float64").
    """

    def __init__(self, layers=(), seed=None, dtype="float32"):
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.rng = np.random.default_rng(seed)
        self.layers, self.input_shape, self.optimizer, self.loss = [], None, None, None
        self.built = False
        for layer in layers:
            self.add(layer)

    def add(self, layer):
        if isinstance(layer, Input):
            self.input_shape = layer.shape
        elif isinstance(layer, (Dense, Dropout, Flatten)):
            self.layers.append(layer)
        else:
            raise ValueError(f"Sequential takes Input, Dense, Dropout and Flatten layers, got {type(layer).__name__}")

    def build(self, input_shape):
        """Create every layer's weights, each layer's input shape the last one's output shape."""
        self.input_shape = shape = tuple(int(n) for n in input_shape)
        for layer in self.layers:
            shape = layer.build(shape, self.rng, self.dtype)
        self.weights = [w for layer in self.layers for w in layer.weights]
        # weights_below[i]: has any layer before layer i weights? Only then does layer i's
        # backward pass need dL/dx (the first Dense layer's input is data). Fixed once built.
        self.weights_below = [any(layer.weights for layer in self.layers[:index])
                              for index in range(len(self.layers))]
        self.built = True

    @property
    def gradients(self):
        """[dL/dkernel_0, dL/dbias_0, dL/dkernel_1, ...]: what the layers' backward passes last stored."""
        return [g for layer in self.layers for g in layer.gradients]

    def compile(self, optimizer="sgd", loss="categorical_crossentropy", metrics=("accuracy",)):
        """optimizer: "sgd", "adam", "rmsprop" or an optimizer object; loss: a Keras loss name or object."""
        self.loss = losses.get(loss)
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, Dense):
            raise ValueError("the last layer must be a Dense layer")
        wanted = "linear" if self.loss.from_logits else "softmax"
        if last.activation.name != wanted:
            raise ValueError(f"with from_logits={self.loss.from_logits} the last layer must be "
                             f"Dense(..., activation={wanted!r}), got {last.activation.name!r}")
        self.optimizer = optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
        if not hasattr(self.optimizer, "apply"):
            raise ValueError(f"optimizer must be 'sgd', 'adam', 'rmsprop' or an optimizer object, got {optimizer!r}")
        if not self.built and self.input_shape is not None:
            self.build(self.input_shape)

    # ---- one training step ----------------------------------------------------

    def forward(self, x, training=False):
        """Every layer but the last, then the last layer's logits (its softmax is in the loss)."""
        for layer in self.layers[:-1]:
            x = layer.forward(x, training)
        return self.layers[-1].affine(x)                  # (B, classes)

    def penalty(self):
        """The regularisers' share of the loss, at the current weights (Keras: sum(model.losses))."""
        return sum(layer.penalty() for layer in self.layers if isinstance(layer, Dense))

    def compute_gradients(self, x, y):
        """Forward (training mode) and backward through the whole network.

        Fills every layer's gradients; returns the loss (the batch's mean
        cross-entropy plus any penalty, as Keras reports it) and the softmax
        probabilities of the batch.
        """
        logits = self.forward(x, training=True)
        loss, probabilities, grad_logits = self.loss(logits, y)
        self.backward(grad_logits)
        return loss + self.penalty(), probabilities

    def backward(self, grad_logits):
        """From dL/dlogits back through the layers in reverse, filling their gradients.

        The output layer starts from its logits (the softmax is inside the loss);
        a layer needs no dL/dx if no layer before it has weights.
        """
        last = len(self.layers) - 1
        grad = self.layers[last].backward_affine(grad_logits, need_grad_inputs=self.weights_below[last])
        for index in range(last - 1, -1, -1):
            if not self.weights_below[index + 1]:
                break                                     # nothing below needs a gradient
            grad = self.layers[index].backward(grad, need_grad_inputs=self.weights_below[index])

    def train_step(self, x, y):
        loss, probabilities = self.compute_gradients(x, y)
        self.optimizer.apply(self.gradients, self.weights)
        return loss, probabilities

    # ---- the Keras calls --------------------------------------------------------

    def fit(self, x, y, batch_size=32, epochs=1, verbose=1, shuffle=True, validation_data=None):
        """Train with minibatches; returns a History like Keras's.

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
        labels = self._labels(y)
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
        """[mean loss + penalty, accuracy] over all of x, dropout off. batch_size bounds memory only."""
        return list(self._evaluate(*self._check_data(x, y), batch_size=batch_size))

    def predict(self, x, batch_size=None, verbose=0):
        """The last layer's outputs, dropout off: softmax probabilities, or logits if it is linear."""
        x = self._check_x(x)
        batch_size = _positive_int("batch_size", batch_size or 1024)
        outputs = np.empty((len(x), self.layers[-1].units), self.dtype)
        for start in range(0, len(x), batch_size):
            logits = self.forward(x[start:start + batch_size])
            outputs[start:start + batch_size] = self.layers[-1].activation.forward(logits)
        return outputs

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

    def summary(self, print_fn=print):
        """The table Keras's model.summary() prints: layer, output shape, parameter count, totals."""
        print_fn(summary_table(self))

    # ---- helpers ---------------------------------------------------------------

    def _evaluate(self, x, y, batch_size=None):
        batch_size = _positive_int("batch_size", batch_size or 1024)
        total_loss, correct = 0.0, 0
        labels = self._labels(y)
        for start in range(0, len(x), batch_size):
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            loss, probabilities, _ = self.loss(self.forward(xb), yb)
            total_loss += loss * len(xb)
            correct += int(np.count_nonzero(probabilities.argmax(axis=1) == labels[start:start + batch_size]))
        return total_loss / len(x) + self.penalty(), correct / len(x)

    def _labels(self, y):
        """Integer labels (n,), whichever form y has."""
        return y if self.loss.sparse else y.argmax(axis=1)

    def _check_x(self, x, what="x"):
        x = np.asarray(x)
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"{what} must have shape (samples, features...), got {x.shape}")
            self.build(x.shape[1:])
        if x.shape[1:] != self.input_shape:
            hint = (f"flatten each sample to {self.input_shape[0]} features" if len(self.input_shape) == 1
                    else f"give samples of shape {self.input_shape}")
            raise ValueError(f"{what} has shape {x.shape} but the model expects (samples, "
                             f"{', '.join(map(str, self.input_shape))}): {hint}")
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
        if len(y) != len(x):
            raise ValueError(f"{what} has {len(x)} samples but its labels have {len(y)}")
        if self.loss.sparse:
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.number) or (y != np.round(y)).any() \
                    or y.min() < 0 or y.max() >= classes:
                raise ValueError(f"sparse_categorical_crossentropy takes integer labels 0..{classes - 1} of "
                                 f"shape (samples,), got shape {y.shape}: for one-hot rows use "
                                 "loss='categorical_crossentropy'")
            return x, y.astype(np.intp, copy=False)
        if y.ndim != 2 or y.shape[1] != classes:
            raise ValueError(f"labels must be one-hot of shape (samples, {classes}), got {y.shape}: "
                             "encode integer labels with one_hot(labels, num_classes), or use "
                             "loss='sparse_categorical_crossentropy'")
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError("labels must be one-hot: each row all zeros but a single 1")
        return x, y.astype(self.dtype, copy=False)


def summary_table(model, name="sequential"):
    """Keras's summary: one row per layer with its output shape and parameter count, then totals."""
    rows, counts = [], {}
    for layer in model.layers:
        kind = type(layer).__name__
        base = kind.lower()
        counts[base] = counts.get(base, -1) + 1
        layer_name = base if counts[base] == 0 else f"{base}_{counts[base]}"
        shape = "(None, " + ", ".join(map(str, layer.output_shape)) + ")"
        params = sum(w.size for w in layer.weights)
        rows.append((f"{layer_name} ({kind})", shape, f"{params:,}"))
    total = sum(w.size for w in model.weights)
    size = total * model.dtype.itemsize
    widths = (31, 22, 13)                 # Keras's column widths on an 80-column console
    rule = "┏" + "┳".join("━" * (w + 2) for w in widths) + "┓"
    line = lambda cells, l, m, r: l + m.join(f" {c:<{w}} " if i < 2 else f" {c:>{w}} "
                                                  for i, (c, w) in enumerate(zip(cells, widths))) + r
    table = [f'Model: "{name}"', rule, line(("Layer (type)", "Output Shape", "Param #"), "┃", "┃", "┃"),
             "┡" + "╇".join("━" * (w + 2) for w in widths) + "┩"]
    for index, row in enumerate(rows):
        table.append(line(row, "│", "│", "│"))
        if index < len(rows) - 1:
            table.append("├" + "┼".join("─" * (w + 2) for w in widths) + "┤")
    table.append("└" + "┴".join("─" * (w + 2) for w in widths) + "┘")
    table += [f" Total params: {total:,} ({_size(size)})", f" Trainable params: {total:,} ({_size(size)})",
              " Non-trainable params: 0 (0.00 B)"]
    return "\n".join(table)


def _size(nbytes):
    for unit in ("B", "KB", "MB", "GB"):
        if nbytes < 1024 or unit == "GB":
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024


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
                momentum=0.0, nesterov=False, seed=0, dtype="float32", optimizer="sgd",
                optimizer_options=None, dropout=0.0, l2=0.0, loss="categorical_crossentropy",
                from_logits=False, input_shape=None):
    """Dense(relu) for each width in `hidden`, then the output Dense; compiled.

    optimizer: "sgd" (learning_rate, momentum, nesterov), "adam" or "rmsprop" (learning_rate,
        momentum for rmsprop); optimizer_options: more of its Keras arguments, e.g. {"amsgrad": True}.
    dropout: a rate after each hidden layer, or a sequence: the input's rate, then each hidden layer's.
    l2: L2(l2) on every kernel. loss: "categorical_crossentropy" (one-hot labels) or
        "sparse_categorical_crossentropy" (integer labels); from_logits=True ends in a linear layer.
    input_shape: e.g. (28, 28) to take images, flattened by a Flatten layer; else (input_dim,).
    """
    rates = _dropout_rates(dropout, len(hidden))
    regularizer = L2(l2) if l2 else None
    layers = [Input(shape=input_shape or (input_dim,))] + ([Flatten()] if input_shape else [])
    layers += [Dropout(rates[0])] if rates[0] else []
    for units, rate in zip(hidden, rates[1:]):
        layers.append(Dense(units, activation="relu", kernel_regularizer=regularizer))
        layers += [Dropout(rate)] if rate else []
    layers.append(Dense(num_classes, activation=None if from_logits else "softmax", kernel_regularizer=regularizer))
    model = Sequential(layers, seed=seed, dtype=dtype)
    model.compile(optimizer=optimizers.get(optimizer, learning_rate, momentum, nesterov, **(optimizer_options or {})),
                  loss=losses.get(loss, from_logits), metrics=["accuracy"])
    return model


def _dropout_rates(dropout, hidden_layers):
    """[input rate, rate after hidden layer 1, ...] from one rate (hidden layers only) or a sequence."""
    if isinstance(dropout, (int, float)):
        return [0.0] + [float(dropout)] * hidden_layers
    rates = [float(rate) for rate in dropout]
    if len(rates) != hidden_layers + 1:
        raise ValueError(f"dropout needs one rate, or {hidden_layers + 1} (the input's, then each hidden "
                         f"layer's), got {len(rates)}")
    return rates


def loss_and_gradients(model, x, y):
    """Mean loss and d loss / d weight for each array of get_weights(), in that order."""
    x, y = model._check_data(x, y)
    loss, _ = model.compute_gradients(x, y)
    return loss, [g.copy() for g in model.gradients]
