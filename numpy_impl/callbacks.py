"""What `fit` reports back, and what may stop it, as Keras's callbacks: History, EarlyStopping.

fit calls each callback in turn: set_model(model), on_train_begin(), then on_epoch_begin(epoch)
at the start of every epoch, on_train_batch_end(batch, logs) after every step (batch: its index
in the epoch; logs: the epoch's running {"loss": ..., "accuracy": ...} so far), on_epoch_end(epoch,
logs) after every epoch (logs: {"loss": ..., "val_loss": ...}), and on_train_end(). A callback
stops training by setting model.stop_training.
"""
import numpy as np

from . import utils


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


class Callback:
    """Keras's `Callback`: every hook does nothing until a subclass says otherwise."""

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass


class EarlyStopping(Callback):
    """Keras's `EarlyStopping` (keras/src/callbacks/early_stopping.py): stop when `monitor` stops improving.

    After each epoch from start_from_epoch on:
        wait = wait + 1
        improved (mode min): current + min_delta < best      (max: current - min_delta > best; first epoch: yes)
        improved: best = current, remember the weights if restore_best_weights, wait = 0
        else, if wait >= patience and epoch > 0: stop
    At the end, restore_best_weights puts back the best epoch's weights (stopped early or not).
    mode "auto": min for a loss, max for an accuracy. As Keras on TensorFlow does, the comparison
    is made in float32.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, abs(min_delta)
        self.patience, self.verbose, self.baseline = patience, verbose, baseline
        self.restore_best_weights, self.start_from_epoch = restore_best_weights, start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best, self.best_weights, self.best_epoch = 0, 0, None, None, 0
        self.lower_is_better = self._direction()

    def _direction(self):
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return True
        if name in [metric.name for metric in getattr(self.model, "metrics", [])]:
            return False                                                 # an accuracy: higher is better
        raise ValueError(f"EarlyStopping cannot tell whether {self.monitor!r} should go up or down: "
                         "pass mode='min' or mode='max'")

    def _is_improvement(self, current, reference):
        if reference is None:
            return True
        if self.lower_is_better:
            return bool(np.float32(current + self.min_delta) < np.float32(reference))
        return bool(np.float32(current - self.min_delta) > np.float32(reference))

    def on_epoch_end(self, epoch, logs=None):
        current = (logs or {}).get(self.monitor)
        if current is None:
            raise ValueError(f"EarlyStopping monitors {self.monitor!r}, which fit does not report; it reports "
                             f"{', '.join(logs or {})} (val_ figures need validation_data or validation_split)")
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights, self.best_epoch = self.model.get_weights(), epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


def __getattr__(name):
    """`callbacks.ModelCheckpoint` and the others numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("callbacks", name, ("Callback", "EarlyStopping", "History"))
