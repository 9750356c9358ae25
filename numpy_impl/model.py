"""The NumPy twin: a Keras-like `Sequential` model, trained by backpropagation.

Read it beside keras_impl/model.py: `build_model` and `loss_and_gradients`
have the same signatures there, and `Sequential` here answers the calls a
Keras model answers (compile, fit, evaluate, predict, get_weights,
set_weights, summary, model(x), ...). What Keras does for us there is written
out here: the forward pass, the loss, the backward pass and the optimizer's
update.

This is a teaching network, not a framework: Dense, BatchNormalization,
LayerNormalization, Activation, Dropout, Flatten and Softmax layers, ReLU and
softmax, cross-entropy with one-hot or integer labels, L1 and L2 penalties,
the optimizers of optimizers.py and weights and model files in Keras's formats
(saving.py) are all it knows; what it leaves out of Keras raises
utils.NotSupported.
"""
import math
import time

import numpy as np

from . import config, losses, optimizers, regularizers, schedules, utils
from . import metrics as metrics_module
from .callbacks import CallbackList, History, TerminateOnNaN, TrainingDiverged
from .layers import KNOWN as KNOWN_LAYERS
from .layers import (Activation, BatchNormalization, Dense, Dropout, Flatten, Input, InputLayer, Layer,
                     LayerNormalization)
from .progress import ProgressBar
from .summary import summary_table


class Sequential:
    """A stack of layers (numpy_impl.layers) ending in a Dense layer, trained on a cross-entropy.

    `seed` and `dtype` stand in for Keras's global `set_random_seed` and
    floatx: they fix the initial weights, the dropout masks and shuffling,
    and the float type of every weight and every computation ("float32" or
    "float64"). Without a seed, the model draws one from
    `utils.set_random_seed`'s sequence, if that was called.

    As in Keras, the model is built (its weights made) as soon as it knows
    its input shape: from an Input, from `input_shape=` on the first layer,
    from `build((None, features))`, or from the first data it sees.
    """

    def __init__(self, layers=(), seed=None, dtype=None, name=None):
        dtype = dtype or config.floatx()
        if np.dtype(dtype) not in (np.float32, np.float64):
            raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
        self.dtype = np.dtype(dtype)
        self.rng = utils.generator(seed)
        self.name = name or utils.unique_name("Sequential")
        self.layers, self.input_shape, self.optimizer, self.loss = [], None, None, None
        self.metrics = []
        self.built, self.batch_dimension = False, None
        self.stop_training = False             # a callback sets it to end fit after the current step
        self._weights, self._trainable = [], []
        for layer in layers or ():
            self.add(layer)

    def add(self, layer):
        """Append a layer (or every layer of another Sequential, shared, as Keras nests it)."""
        if isinstance(layer, (Input, InputLayer)):
            if self.layers:
                raise ValueError("an Input must come first, before any layer")
            self.input_shape = layer.shape
        elif isinstance(layer, Sequential):
            if not self.layers and self.input_shape is None:
                self.input_shape = layer.input_shape
            for inner in layer.layers:
                self.add(inner)
            return
        elif isinstance(layer, Layer):
            if not self.layers and self.input_shape is None:
                self.input_shape = layer.input_shape_argument
            if any(other.name == layer.name for other in self.layers):
                raise ValueError(f"a layer named {layer.name!r} is already in the model: layer names must be unique")
            self.layers.append(layer)
        else:
            raise ValueError(f"Sequential takes Input and the layers of numpy_impl.layers "
                             f"({', '.join(KNOWN_LAYERS)}), got {type(layer).__name__}")
        self._build_layers()

    def pop(self):
        """Remove the last layer and return it, as Keras's `model.pop()`."""
        if not self.layers:
            raise ValueError("there are no layers in the model to pop")
        layer = self.layers.pop()
        self._build_layers()
        return layer

    def get_layer(self, name=None, index=None):
        """A layer by its name, or by its index in `model.layers`."""
        if index is not None:
            if not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"there is no layer at index {index}: the model has {len(self.layers)} layers")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}: the layers are {[layer.name for layer in self.layers]}")

    def build(self, input_shape):
        """Keras's `model.build((None, features...))`: the batch dimension first, then each sample's shape."""
        input_shape = tuple(input_shape)
        if len(input_shape) < 2:
            raise ValueError(f"build takes (batch, features...), e.g. (None, 784), got {input_shape}")
        self._build_for(input_shape[1:])

    def _build_for(self, sample_shape, batch=None):
        """Build for samples of this shape. A model first built by calling it on a batch
        shows that batch's size in summary(), as Keras's does; else None."""
        self.input_shape = tuple(int(n) for n in sample_shape)
        self.batch_dimension = batch
        self._build_layers()

    def _build_layers(self):
        """Build every layer not yet built, each layer's input shape the last one's output shape."""
        if self.input_shape is None or not self.layers:
            self.built = False
            self._weights, self._trainable = [], []
            return
        shape = self.input_shape
        for layer in self.layers:
            shape = layer.build_once(shape, self.rng, self.dtype)
        self._weights = [w for layer in self.layers for w in layer.weights]
        self._trainable = [w for layer in self.layers for w in layer.trainable_weights]
        # weights_below[i]: has any layer before layer i weights? Only then does layer i's
        # backward pass need dL/dx (the first Dense layer's input is data). Fixed once built.
        self.weights_below = [any(layer.weights for layer in self.layers[:index])
                              for index in range(len(self.layers))]
        self.built = True

    @property
    def weights(self):
        """[kernel_0, bias_0, kernel_1, ...], the arrays themselves, Keras's order (a BatchNormalization
        adds gamma, beta, moving_mean, moving_variance in its place); [] before the model is built."""
        return self._weights

    @property
    def trainable_weights(self):
        """The weights the optimizer updates: all but BatchNormalization's moving statistics."""
        return self._trainable

    @property
    def non_trainable_weights(self):
        trained = {id(w) for w in self._trainable}
        return [w for w in self._weights if id(w) not in trained]

    def count_params(self):
        """Keras's `model.count_params()`: how many numbers all the weights hold, moving statistics included."""
        if not self.built:
            raise ValueError("the model is not built yet, so it has no weights to count: start it with "
                             "Input(shape=...), or call build((None, features)) or the model on data first")
        return sum(w.size for w in self.weights)

    @property
    def gradients(self):
        """[dL/dkernel_0, dL/dbias_0, dL/dkernel_1, ...], one per trainable weight: what the layers'
        backward passes last stored."""
        return [g for layer in self.layers for g in layer.gradients]

    def compile(self, optimizer="sgd", loss="categorical_crossentropy", metrics=None):
        """optimizer: "sgd", "adam", "rmsprop" or an optimizer object; loss: a Keras loss name or object;
        metrics: e.g. ["accuracy"] (none by default, as in Keras: then History has only "loss")."""
        self.loss = losses.get(loss)
        if metrics is not None and not isinstance(metrics, (list, tuple)):      # Keras refuses a bare one too
            raise ValueError(f"metrics must be a list, e.g. metrics=['accuracy'], got {metrics!r}")
        last = self.layers[-1] if self.layers else None
        if not isinstance(last, Dense):
            raise ValueError("the last layer must be a Dense layer")
        problem = self.loss.output_problem(last.activation.name)
        if problem:
            raise ValueError(problem)
        self.metrics = [metrics_module.get(metric, self.loss.sparse, last.units) for metric in metrics or []]
        self.optimizer = optimizers.get(optimizer) if isinstance(optimizer, str) else optimizer
        if not hasattr(self.optimizer, "apply"):
            raise ValueError(f"optimizer must be 'sgd', 'adam', 'rmsprop' or an optimizer object, got {optimizer!r}")

    # ---- one training step ----------------------------------------------------

    def forward(self, x, training=False):
        """Every layer but the last, then the last layer's logits (its activation is in the loss's head)."""
        for layer in self.layers[:-1]:
            x = layer.forward(x, training)
        return self.layers[-1].affine(x)                  # (B, classes)

    def penalty(self):
        """The regularisers' share of the loss, at the current weights (Keras: sum(model.losses))."""
        return sum(layer.penalty() for layer in self.layers if isinstance(layer, Dense))

    def compute_gradients(self, x, y, sample_weight=None):
        """Forward (training mode) and backward through the whole network.

        Fills every layer's gradients; returns the loss (the batch's mean
        loss plus any penalty, as Keras reports it) and the model's outputs
        for the batch (softmax probabilities for a softmax output).
        sample_weight (B,): each sample's share of the loss, Keras's sum_i w_i loss_i / B.
        """
        logits = self.forward(x, training=True)
        loss, outputs, grad_logits = self.loss.head(self.layers[-1].activation, logits, y, sample_weight=sample_weight)
        self.backward(grad_logits)
        return loss + self.penalty(), outputs

    def backward(self, grad_logits):
        """From dL/dlogits back through the layers in reverse, filling their gradients.

        The output layer starts from its logits (its activation is in the loss's head);
        a layer needs no dL/dx if no layer before it has weights.
        """
        last = len(self.layers) - 1
        grad = self.layers[last].backward_affine(grad_logits, need_grad_inputs=self.weights_below[last])
        for index in range(last - 1, -1, -1):
            if not self.weights_below[index + 1]:
                break                                     # nothing below needs a gradient
            grad = self.layers[index].backward(grad, need_grad_inputs=self.weights_below[index])

    def train_step(self, x, y, sample_weight=None):
        loss, outputs = self.compute_gradients(x, y, sample_weight)
        self.optimizer.apply(self.gradients, self._trainable)
        return loss, outputs

    # ---- the Keras calls --------------------------------------------------------

    def fit(self, x, y, batch_size=None, epochs=1, verbose="auto", callbacks=None, validation_split=0.0,
            validation_data=None, shuffle=True, class_weight=None, sample_weight=None):
        """Train with minibatches; returns a History like Keras's.

        batch_size None: 32, Keras's default. verbose: 0 silent, 1 (or "auto") a progress bar per
        epoch, 2 one line per epoch (Keras's meanings).
        validation_split: the LAST share of x and y held out for validation (before any shuffling),
        as Keras cuts it; validation_data, if given, wins. callbacks: e.g. [EarlyStopping(...)].

        As in Keras: the last batch may be smaller and its loss is averaged over
        its own size; History's "loss" and the metrics are running means over the
        epoch, weighted by batch size and taken before each update.

        sample_weight (n,): each sample's weight in the loss, sum_i w_i loss_i / B per batch (Keras's
        "sum_over_batch_size": divided by the batch size, not by the weights' sum); class_weight
        {class: weight}: the same, each sample weighted by its class's (1.0 for a class not named).
        validation_data may carry its own weights, (x, y, w). As in Keras, the metrics are not weighted.
        """
        if self.optimizer is None:
            raise ValueError("call compile() before fit()")
        batch_size = _positive_int("batch_size", 32 if batch_size is None else batch_size)
        epochs = _positive_int("epochs", epochs)
        verbose = _verbosity(verbose)
        x, y = self._check_data(x, y)
        weights = self._sample_weights(y, sample_weight, class_weight)
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), got {validation_split}")
        if validation_data is None and validation_split:
            split_at = math.floor(len(x) * (1.0 - validation_split))     # Keras: the last samples
            if split_at == 0 or split_at == len(x):
                raise ValueError(f"validation_split={validation_split} of {len(x)} samples leaves no "
                                 "training or no validation samples")
            validation_data, x, y = (x[split_at:], y[split_at:]), x[:split_at], y[:split_at]
            if weights is not None:                                   # the weights are cut with the samples
                validation_data, weights = validation_data + (weights[split_at:],), weights[:split_at]
        elif validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
                raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, val_sample_weight)")
            checked = self._check_data(*validation_data[:2], what="validation_data")
            extra = validation_data[2:]
            validation_data = checked + ((self._sample_weights(checked[1], extra[0], None, "val_sample_weight"),)
                                         if extra and extra[0] is not None else ())
        n = len(x)
        steps = math.ceil(n / batch_size)
        callbacks = CallbackList(callbacks, self, verbose=verbose, epochs=epochs, steps=steps)
        # With TerminateOnNaN a bad loss stops training, as in Keras; without it fit raises TrainingDiverged
        nan_stops = any(isinstance(callback, TerminateOnNaN) for callback in callbacks.callbacks)
        self.stop_training = False
        history, logs = History(), None
        callbacks.on_train_begin()
        for epoch in range(epochs):
            if verbose and epochs > 1:       # as Keras 3 does: a single epoch gets no "Epoch 1/1" line
                print(f"Epoch {epoch + 1}/{epochs}")
            callbacks.on_epoch_begin(epoch)
            order = self.rng.permutation(n) if shuffle else None
            bar = ProgressBar(steps, interactive=verbose == 1, verbose=verbose) if verbose else None
            total_loss, sums = 0.0, np.zeros(len(self.metrics))
            with np.errstate(over="ignore", invalid="ignore"):   # divergence is caught below
                for step, start in enumerate(range(0, n, batch_size)):
                    stop = min(start + batch_size, n)
                    # Unshuffled, a batch is a slice (a view, no copy). Shuffled, its rows are
                    # gathered right before its step: no permuted copy of all of x per epoch
                    # (188 MB at MNIST size), and measured here a little faster than one.
                    batch = slice(start, stop) if order is None else order[start:stop]
                    if callbacks:
                        callbacks.on_train_batch_begin(step)
                    yb = y[batch]                    # gathered once: the step and the metrics both read it
                    loss, outputs = self.train_step(x[batch], yb, None if weights is None else weights[batch])
                    if not (math.isfinite(loss) or nan_stops):
                        raise TrainingDiverged(epoch + 1, step + 1, loss)
                    total_loss += loss * (stop - start)
                    for index, metric in enumerate(self.metrics):
                        sums[index] += metric.values(yb, outputs).sum()
                    if bar and step + 1 < steps:
                        bar.update(step + 1, self._logs(total_loss / stop, sums / stop))
                    if callbacks:                # the running logs, made once for every callback
                        callbacks.on_train_batch_end(step, self._logs(total_loss / stop, sums / stop))
                    if self.stop_training:
                        break
            logs = self._logs(total_loss / stop, sums / stop)     # stop: the samples trained on (n unless stopped)
            if validation_data is not None:
                validation = self._evaluate(*validation_data, callbacks=callbacks)
                logs.update({f"val_{key}": value for key, value in validation.items()})
            if bar:
                bar.update(steps, logs)      # the epoch's last line, val_ figures included, as Keras's
            callbacks.on_epoch_end(epoch, logs)     # a callback may add to logs ("learning_rate")...
            history.record(epoch, logs)             # ...and History, Keras's last callback, records them
            if self.stop_training:
                break
        callbacks.on_train_end(logs=logs)
        self.history = history
        return history

    def evaluate(self, x, y, batch_size=None, verbose="auto", return_dict=False, callbacks=None,
                 sample_weight=None):
        """Mean loss + penalty over all of x, dropout off, then each metric: Keras's return.

        No metrics: the loss alone (a float); else [loss, metric, ...]; return_dict=True:
        {"loss": ..., "accuracy": ...}. batch_size bounds memory only (with callbacks: the steps
        their on_test_batch_* hooks see, Keras's 32 unless given).
        """
        began, verbose = time.perf_counter(), _verbosity(verbose)
        x, y = self._check_data(x, y)
        weights = self._sample_weights(y, sample_weight, None)
        callbacks = self._hooks(callbacks, verbose, len(x), batch_size)
        if batch_size is None and callbacks:
            batch_size = 32                              # the steps the on_test_batch_* hooks see, Keras's
        logs = self._evaluate(x, y, weights, batch_size=batch_size, callbacks=callbacks)
        if verbose:
            _last_line(len(x), batch_size, began, verbose, logs)
        return self._returned(logs, return_dict)

    def predict(self, x, batch_size=None, verbose=0, callbacks=None):
        """The last layer's outputs, dropout off: softmax probabilities, or logits if it is linear.

        batch_size bounds memory only (with callbacks: the steps their on_predict_batch_* hooks see,
        Keras's 32 unless given). verbose: 0 silent (the default here; Keras's "auto" draws a
        bar), 1 or "auto" a bar and 2 one line, counting steps of batch_size or Keras's 32.
        """
        began, verbose = time.perf_counter(), _verbosity(verbose)
        x = self._check_x(x)
        callbacks = self._hooks(callbacks, verbose, len(x), batch_size)
        rows = _positive_int("batch_size", (32 if callbacks else 1024) if batch_size is None else batch_size)
        outputs = None
        if callbacks:
            callbacks.on_predict_begin()
        for step, start in enumerate(range(0, len(x), rows)):
            if callbacks:
                callbacks.on_predict_batch_begin(step)
            batch_outputs = self.run(x[start:start + rows])
            if outputs is None:
                outputs = np.empty((len(x),) + batch_outputs.shape[1:], self.dtype)
            outputs[start:start + rows] = batch_outputs
            if callbacks:
                callbacks.on_predict_batch_end(step, {"outputs": batch_outputs.copy()})
        if callbacks:
            callbacks.on_predict_end()
        if verbose:
            _last_line(len(x), batch_size, began, verbose, {})
        return outputs

    def __call__(self, x, training=False):
        """Keras's `model(x)`: the outputs for one batch, as a new array; dropout only if training=True."""
        if isinstance(x, Input):
            raise utils.NotSupported(utils.GAPS["functional"])
        x = np.asarray(x)
        if not self.built and x.ndim >= 2:
            self._build_for(x.shape[1:], batch=len(x))
        return self.run(self._check_x(x), training).copy()

    def run(self, x, training=False):
        """Every layer's forward pass in turn, its activation included. (B, features...) -> (B, outputs)"""
        for layer in self.layers:
            x = layer.forward(x, training)
        return x

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

    def save(self, filepath):
        """Keras's `model.save("name.keras")`: layers, weights and compile arguments in one file that
        Keras's `keras.models.load_model` reads (and numpy_impl's)."""
        from .saving import save_model
        save_model(self, filepath)

    def save_weights(self, filepath):
        """Keras's `model.save_weights("name.weights.h5")`: a file Keras's own load_weights reads."""
        from .saving import save_weights
        save_weights(self, filepath)

    def load_weights(self, filepath):
        """Keras's `model.load_weights(...)`: from this twin's save_weights or from Keras's."""
        from .saving import load_weights
        load_weights(self, filepath)

    # ---- the training loop by hand: one batch at a time ----------------------------------------

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """Keras's `train_on_batch`: one update on this batch, all of it; returns the batch's loss (with any
        penalty) and metrics, taken before the update, as fit's first step reports them (the metrics start
        afresh each call, as Keras resets them): a float, [loss, metric, ...], or a dict."""
        if self.optimizer is None:
            raise ValueError("call compile() before train_on_batch()")
        x, y = self._check_data(x, y)
        weights = self._sample_weights(y, sample_weight, class_weight)
        with np.errstate(over="ignore", invalid="ignore"):
            loss, outputs = self.train_step(x, y, weights)
        return self._returned(self._logs(loss, [metric.values(y, outputs).mean() for metric in self.metrics]),
                              return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        """Keras's `test_on_batch`: the loss (with any penalty) and metrics on this batch, dropout off."""
        x, y = self._check_data(x, y)
        logs = self._evaluate(x, y, self._sample_weights(y, sample_weight, None), batch_size=len(x))
        return self._returned(logs, return_dict)

    def predict_on_batch(self, x):
        """Keras's `predict_on_batch`: the outputs for this batch, dropout off."""
        return self.run(self._check_x(x)).copy()

    def _hooks(self, callbacks, verbose, samples, batch_size):
        """evaluate's and predict's callbacks as one CallbackList (None without any): one epoch of steps of
        batch_size, Keras's 32 unless given."""
        if not callbacks:
            return None
        return CallbackList(callbacks, self, verbose=verbose, epochs=1, steps=math.ceil(samples / (batch_size or 32)))

    def _returned(self, logs, return_dict):
        """What evaluate and Keras's *_on_batch return: the logs, or their values in order, a float when only
        the loss."""
        if return_dict:
            return logs
        values = [logs["loss"]] + [logs[metric.name] for metric in self.metrics]
        return values[0] if len(values) == 1 else values

    def __getattr__(self, name):
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def summary(self, print_fn=print):
        """The table Keras's model.summary() prints: layer, output shape, parameter count, totals.
        An unbuilt model is refused by count_params, as it has no weights to count."""
        print_fn(summary_table(self, self.name))

    # ---- helpers ---------------------------------------------------------------

    def _logs(self, loss, metric_values):
        """{"loss": ..., and each metric under its name}, in Keras's order (sorted by name)."""
        logs = {"loss": loss, **{metric.name: float(value) for metric, value in zip(self.metrics, metric_values)}}
        return dict(sorted(logs.items()))

    def _evaluate(self, x, y, weights=None, batch_size=None, callbacks=None):
        """{"loss": ..., metric: ...} over all of x, dropout off (the loss weighted by `weights` (n,) if
        given); `callbacks` get the on_test_* hooks."""
        batch_size = _positive_int("batch_size", 1024 if batch_size is None else batch_size)
        total_loss, sums = 0.0, np.zeros(len(self.metrics))
        if callbacks:
            callbacks.on_test_begin()
        for step, start in enumerate(range(0, len(x), batch_size)):
            if callbacks:
                callbacks.on_test_batch_begin(step)
            xb, yb = x[start:start + batch_size], y[start:start + batch_size]
            wb = None if weights is None else weights[start:start + batch_size]
            loss, outputs, _ = self.loss.head(self.layers[-1].activation, self.forward(xb), yb, gradient=False,
                                              sample_weight=wb)
            total_loss += loss * len(xb)
            for index, metric in enumerate(self.metrics):
                sums[index] += metric.values(yb, outputs).sum()
            if callbacks:
                seen = start + len(xb)
                callbacks.on_test_batch_end(step, self._logs(total_loss / seen + self.penalty(), sums / seen))
        logs = self._logs(total_loss / len(x) + self.penalty(), sums / len(x))
        if callbacks:
            callbacks.on_test_end(logs)
        return logs

    def _check_x(self, x, what="x"):
        x = np.asarray(x)
        if not self.built:
            if x.ndim < 2:
                raise ValueError(f"{what} must have shape (samples, features...), got {x.shape}")
            self._build_for(x.shape[1:])
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
        # A sum is finite only if every entry is (NaN and inf propagate); the exact test, which
        # allocates a mask as large as x, runs only if it is not (large finite x can overflow it).
        with np.errstate(over="ignore"):
            finite_sum = np.isfinite(x.sum())
        if not finite_sum and not np.isfinite(x).all():
            raise ValueError(f"{what} contains NaN or infinite values: clean or drop those samples")
        return x

    def _check_data(self, x, y, what="x"):
        x = self._check_x(x, what)
        y = np.asarray(y)
        classes = self.layers[-1].units
        if len(y) != len(x):
            raise ValueError(f"{what} has {len(x)} samples but its labels have {len(y)}")
        if isinstance(self.loss, losses.Loss):
            return x, self._check_targets(y, classes)
        if self.loss.sparse:
            given = y.shape
            if y.ndim == 2 and y.shape[1] == 1:
                y = y[:, 0]                      # a column of labels, (samples, 1), as Keras takes them too
            if y.ndim != 1 or not np.issubdtype(y.dtype, np.number) or (y != np.round(y)).any() \
                    or y.min() < 0 or y.max() >= classes:
                raise ValueError(f"sparse_categorical_crossentropy takes integer labels 0..{classes - 1} of "
                                 f"shape (samples,) or (samples, 1), got shape {given}: for one-hot rows use "
                                 "loss='categorical_crossentropy'")
            return x, y.astype(np.intp, copy=False)
        if y.ndim != 2 or y.shape[1] != classes:
            raise ValueError(f"labels must be one-hot of shape (samples, {classes}), got {y.shape}: "
                             "encode integer labels with one_hot(labels, num_classes), or use "
                             "loss='sparse_categorical_crossentropy'")
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError("labels must be one-hot: each row all zeros but a single 1")
        return x, y.astype(self.dtype, copy=False)

    def _sample_weights(self, y, sample_weight, class_weight, what="sample_weight"):
        """Each sample's weight (n,) in the model's dtype, from sample_weight or class_weight; None for neither."""
        if sample_weight is not None and class_weight is not None:
            raise ValueError("You cannot `class_weight` and `sample_weight` at the same time: give one of them, "
                             "as in Keras")
        if class_weight is not None:
            if not isinstance(class_weight, dict):
                raise ValueError(f"class_weight must be a dict {{class: weight}}, e.g. {{0: 1.0, 1: 5.0}}, "
                                 f"got {type(class_weight).__name__}")
            labels = y if y.ndim == 1 else (y.argmax(axis=-1) if y.shape[-1] != 1 else y[:, 0])
            labels = np.round(labels).astype(np.int64)
            # Keras's class_weight_to_sample_weights: a class the dict does not name weighs 1.0
            return np.array([class_weight.get(int(label), 1.0) for label in labels], dtype=self.dtype)
        if sample_weight is None:
            return None
        weights = np.asarray(sample_weight)
        if weights.ndim == 2 and weights.shape[1] == 1:
            weights = weights[:, 0]
        if weights.shape != (len(y),) or not np.issubdtype(weights.dtype, np.number):
            raise ValueError(f"{what} must be one number per sample, shape ({len(y)},), got shape {weights.shape}")
        weights = weights.astype(self.dtype)
        if not np.isfinite(weights).all():
            raise ValueError(f"{what} contains NaN or infinite values")
        return weights

    def _check_targets(self, y, outputs):
        """Targets for mse, mae or binary_crossentropy: numbers of shape (samples, outputs), or (samples,)
        for one output (Keras expands it); for binary_crossentropy each in [0, 1]."""
        if y.ndim == 1 and outputs == 1:
            y = y[:, None]
        if y.ndim != 2 or y.shape[1] != outputs or not np.issubdtype(y.dtype, np.number):
            raise ValueError(f"{self.loss.name} takes targets of shape (samples, {outputs}), one number per "
                             f"output, got {y.shape}" + (": encode integer labels with one_hot(labels, "
                                                         f"{outputs})" if y.ndim == 1 else ""))
        y = y.astype(self.dtype, copy=False)
        if not np.isfinite(y).all():
            raise ValueError("the targets contain NaN or infinite values: clean or drop those samples")
        if isinstance(self.loss, losses.BinaryCrossentropy) and ((y < 0) | (y > 1)).any():
            raise ValueError("binary_crossentropy takes targets between 0 and 1 (a yes/no probability per output), "
                             f"got values from {y.min():g} to {y.max():g}")
        return y


def _verbosity(verbose):
    """Keras's verbose: "auto" is 1 (a progress bar), 2 one line per epoch, 0 silent."""
    if verbose == "auto":
        return 1
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto', got {verbose!r}")
    return int(verbose)


def _last_line(samples, batch_size, began, verbose, logs):
    """evaluate's and predict's bar (verbose 1) or line (2), drawn once at the end, as Keras's:
    its steps counted at batch_size, or Keras's 32 when none was given."""
    steps = math.ceil(samples / (batch_size or 32))
    ProgressBar(steps, interactive=False, start=began, verbose=verbose).update(steps, logs)


def _positive_int(name, value):
    try:
        whole = not isinstance(value, bool) and int(value) == value and value > 0
    except (TypeError, ValueError):             # "a", None, [32]: not a number at all
        whole = False
    if not whole:
        raise ValueError(f"{name} must be a positive whole number, got {value!r}")
    return int(value)


# ---- the shared API (same signatures in keras_impl) -------------------------------

def build_model(input_dim=784, hidden=(128, 128), num_classes=10, learning_rate=0.01,
                momentum=0.0, nesterov=False, seed=0, dtype="float32", optimizer="sgd",
                optimizer_options=None, dropout=0.0, l2=0.0, loss="categorical_crossentropy",
                from_logits=False, input_shape=None, l1=0.0, batchnorm=False, layernorm=False,
                kernel_initializer="glorot_uniform", schedule=None, activation="relu", output_activation=None,
                bias_initializer="zeros", residual=False):
    """Dense(activation, relu unless given) for each width in `hidden`, then the output Dense; compiled.

    optimizer: "sgd" (learning_rate, momentum, nesterov), "adam" or "rmsprop" (learning_rate,
        momentum for rmsprop); optimizer_options: more of its Keras arguments, e.g. {"amsgrad": True}.
    dropout: a rate after each hidden layer, or a sequence: the input's rate, then each hidden layer's.
    l2, l1: L2(l2), L1(l1) or L1L2(l1, l2) on every kernel. loss: "categorical_crossentropy" (one-hot labels),
        "sparse_categorical_crossentropy" (integer labels), "binary_crossentropy" (each output a yes/no),
        "mean_squared_error" or "mean_absolute_error" (targets of the outputs' shape); from_logits=True ends
        in a linear layer and hands its logits to the loss.
    output_activation: the last layer's; None: the one that fits the loss (softmax for the cross-entropies,
        sigmoid for binary_crossentropy, linear for mse and mae, linear with from_logits). A pair that does
        not fit (a softmax under binary_crossentropy) is refused in one line.
    input_shape: e.g. (28, 28) to take images, flattened by a Flatten layer; else (input_dim,).
    batchnorm / layernorm: each hidden layer becomes Dense -> BatchNormalization (or LayerNormalization)
        -> Activation("relu"); before BatchNormalization the Dense has no bias (its beta does that work).
    kernel_initializer, bias_initializer: every kernel's and bias's initializer, by Keras's name (e.g.
        "he_normal", "zeros") or a name with its arguments ({"name": "random_normal", "stddev": 1.0}).
    schedule: a learning-rate schedule from learning_rate, stepped every update, e.g.
        {"name": "cosine", "decay_steps": 9380} (see schedules.from_spec).
    activation: the hidden layers' activation by its Keras name: "relu", "sigmoid", "tanh", "leaky_relu",
        "elu", "selu", "softplus", "softsign", "silu", "gelu", "softmax" (over each layer's units) or "linear".
    residual: a graph, not a stack (numpy_impl/functional.py): each hidden layer as wide as the one before
        adds its input to its output, x = Add()([x, Dense(units, activation)(x)]), so x feeds two layers and
        its gradient is the sum of both.
    """
    if batchnorm and layernorm:
        raise ValueError("give batchnorm or layernorm, not both")
    rates = _dropout_rates(dropout, len(hidden))
    regularizer = regularizers.get(l1, l2)
    loss = losses.get(loss, from_logits)
    output_activation = output_activation or default_output_activation(loss)
    dense = dict(kernel_regularizer=regularizer, kernel_initializer=kernel_initializer, bias_initializer=bias_initializer)
    if residual:
        if batchnorm or layernorm or any(rates) or input_shape:
            raise ValueError("residual=True builds plain Dense layers with skips: give it without batchnorm, "
                             "layernorm, dropout or input_shape")
        model = _residual_model(input_dim, hidden, num_classes, activation, output_activation, dense, seed, dtype)
    else:
        model = None
    layers = [Input(shape=input_shape or (input_dim,))] + ([Flatten()] if input_shape else [])
    layers += [Dropout(rates[0])] if rates[0] else []
    for units, rate in zip(hidden, rates[1:]):
        if batchnorm or layernorm:
            layers += [Dense(units, use_bias=not batchnorm, **dense),
                       BatchNormalization() if batchnorm else LayerNormalization(), Activation(activation)]
        else:
            layers.append(Dense(units, activation=activation, **dense))
        layers += [Dropout(rate)] if rate else []
    layers.append(Dense(num_classes, activation=output_activation, **dense))
    model = model or Sequential(layers, seed=seed, dtype=dtype)
    if schedule:
        learning_rate = schedules.from_spec(schedule, learning_rate)
    model.compile(optimizer=optimizers.get(optimizer, learning_rate, momentum, nesterov, **(optimizer_options or {})),
                  loss=loss, metrics=["accuracy"])
    return model


def _residual_model(input_dim, hidden, num_classes, activation, output_activation, dense, seed, dtype):
    """Input -> Dense -> (Add()([x, Dense(x)]) for each hidden layer as wide as the last) -> Dense: a graph."""
    from .functional import Model
    from .layers import Add
    inputs = Input(shape=(input_dim,))
    x, width = inputs, None
    for units in hidden:
        h = Dense(units, activation=activation, **dense)(x)
        x = Add()([x, h]) if units == width else h
        width = units
    return Model(inputs, Dense(num_classes, activation=output_activation, **dense)(x), seed=seed, dtype=dtype)


def default_output_activation(loss):
    """The last layer's activation that fits a loss object: linear under from_logits, else softmax for the
    cross-entropies, sigmoid for the binary one, linear for mse and mae."""
    if loss.from_logits or isinstance(loss, (losses.MeanSquaredError, losses.MeanAbsoluteError)):
        return "linear"
    return "sigmoid" if isinstance(loss, losses.BinaryCrossentropy) else "softmax"


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
    """Mean loss and d loss / d weight for each trainable weight, in get_weights() order (all of
    get_weights() unless a BatchNormalization adds its moving statistics, which are not trained)."""
    x, y = model._check_data(x, y)
    loss, _ = model.compute_gradients(x, y)
    return loss, [g.copy() for g in model.gradients]


def layer_outputs(model, x):
    """[(layer name, its outputs)] for each layer in turn, in evaluation mode (dropout off):
    the network's inside, layer by layer. x (B, features...) -> one (B, units) array per layer
    (the last: softmax probabilities, or logits if it is linear). A graph's layers come in its order,
    each on the tensors it reads (a functional model's InputLayer left out: its output is x)."""
    x = model._check_x(x)
    if hasattr(model, "nodes"):
        return model._values(x, training=False, logits=False, every=True)
    outputs = []
    for layer in model.layers:
        x = layer.forward(x, training=False)
        outputs.append((layer.name, np.array(x)))     # a copy: the layers reuse their buffers next step
    return outputs
