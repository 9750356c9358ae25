"""What `fit` reports back, and what may act on it, as Keras's callbacks: History, EarlyStopping,
ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger, TerminateOnNaN, LambdaCallback.

fit calls each callback in turn, as Keras 3 does: set_model(model), set_params({"verbose", "epochs",
"steps"}), on_train_begin(), then for every epoch on_epoch_begin(epoch), for every step
on_train_batch_begin(batch) and on_train_batch_end(batch, logs) (batch: the step's index in the
epoch; logs: the epoch's running {"loss": ..., "accuracy": ...} so far), the validation's
on_test_begin/on_test_batch_*/on_test_end, on_epoch_end(epoch, logs) (logs: {"loss": ...,
"val_loss": ...}, which a callback may add to, as ReduceLROnPlateau adds "learning_rate"; History
records them after every callback), and on_train_end(logs) with the last epoch's logs. evaluate
and predict call the on_test_* and on_predict_* hooks. A callback stops training by setting
model.stop_training.
"""
import csv
import math
import os

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
    """Keras's `Callback`: every hook does nothing until a subclass says otherwise.

    As in Keras, on_train_batch_begin and on_train_batch_end hand on to on_batch_begin and
    on_batch_end, the older names: a subclass that defines on_batch_end is called after every step.
    """

    def __init__(self):
        self.model, self.params = None, {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_batch_begin(self, batch, logs=None):
        pass

    def on_batch_end(self, batch, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_batch_begin(self, batch, logs=None):
        pass

    def on_test_batch_end(self, batch, logs=None):
        pass

    def on_predict_batch_begin(self, batch, logs=None):
        pass

    def on_predict_batch_end(self, batch, logs=None):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_test_begin(self, logs=None):
        pass

    def on_test_end(self, logs=None):
        pass

    def on_predict_begin(self, logs=None):
        pass

    def on_predict_end(self, logs=None):
        pass


class CallbackList:
    """The callbacks of one fit, evaluate or predict, each hook called on every one of them in turn."""

    def __init__(self, callbacks, model, **params):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback) and not all(hasattr(callback, hook) for hook in HOOKS):
                raise ValueError(f"callbacks must be Callback objects (numpy_impl.callbacks.Callback or a subclass), "
                                 f"got {type(callback).__name__}")
            callback.set_model(model)
            if params and hasattr(callback, "set_params"):
                callback.set_params(params)

    def __bool__(self):
        return bool(self.callbacks)

    def __getattr__(self, hook):
        if hook not in HOOKS:
            raise AttributeError(hook)

        def call(*args, **kwargs):
            for callback in self.callbacks:
                getattr(callback, hook)(*args, **kwargs)
        return call


HOOKS = tuple(name for name in vars(Callback) if name.startswith("on_"))


class MonitorCallback(Callback):
    """What ModelCheckpoint and ReduceLROnPlateau share with Keras's MonitorCallback: `monitor`, `mode` and
    `min_delta`, and the rule for an improvement, compared in float32 as Keras's ops compare Python floats:
        min: current + min_delta < best          max: current - min_delta > best      (no best yet: yes)
    mode "auto": max for an accuracy the model reports, min for a loss."""

    def __init__(self, monitor="val_loss", mode="auto", baseline=None, min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
        self.monitor, self.mode, self.best, self.min_delta = monitor, mode, baseline, abs(min_delta)
        self.lower_is_better = None

    def _direction(self):
        if self.mode != "auto":
            return self.mode == "min"
        name = self.monitor.removeprefix("val_")
        if name == "loss":
            return True
        for metric in getattr(self.model, "metrics", []):
            if metric.name == name:
                return "accuracy" not in type(metric).__name__.lower() and "acc" not in name
        raise ValueError(f"{type(self).__name__} cannot tell whether {self.monitor!r} should go up or down: "
                         "pass mode='min' or mode='max'")

    def _is_improvement(self, current, best):
        if self.lower_is_better is None:
            self.lower_is_better = self._direction()
        if best is None:
            return True
        if self.lower_is_better:
            return bool(np.float32(current + self.min_delta) < np.float32(best))
        return bool(np.float32(current - self.min_delta) > np.float32(best))


class ModelCheckpoint(MonitorCallback):
    """Keras's `ModelCheckpoint`: save the model (`.keras`) or its weights (`.weights.h5`) after every epoch,
    or every `save_freq` steps, or only when `monitor` improved (save_best_only). The path may name the epoch
    and any figure of the logs: "ckpt/{epoch:02d}-{val_loss:.2f}.keras" (epoch counted from 1)."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode, initial_value_threshold)
        self.filepath, self.verbose = os.fspath(filepath), verbose
        self.save_best_only, self.save_weights_only, self.save_freq = save_best_only, save_weights_only, save_freq
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int) or save_freq < 1):
            raise ValueError(f"save_freq must be 'epoch' or a number of steps, got {save_freq!r}")
        wanted = (".weights.h5",) if save_weights_only else (".keras",)
        if not self.filepath.endswith(wanted):
            raise ValueError(f"ModelCheckpoint's filepath must end in {wanted[0]}"
                             f"{' with save_weights_only=True' if save_weights_only else ''}, got {self.filepath!r}")
        self._epoch, self._steps_since_saving = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._steps_since_saving += 1
        if self._steps_since_saving >= self.save_freq:
            self._steps_since_saving = 0
            self._save(self._epoch, logs, batch)

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, logs)

    def _save(self, epoch, logs, batch=None):
        logs = dict(logs or {})
        try:
            path = (self.filepath.format(epoch=epoch + 1, **logs) if batch is None
                    else self.filepath.format(epoch=epoch + 1, batch=batch + 1, **logs))
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint's filepath {self.filepath!r} names {error}, which the logs do not "
                           f"hold: they hold {', '.join(logs)}") from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                pass                                                  # Keras warns, and saves
            elif self._is_improvement(current, self.best):
                if self.verbose > 0:
                    best = "None" if self.best is None else f"{self.best:.5f}"
                    print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                          f"saving model to {path}")
                self.best = current
            else:
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        (self.model.save_weights if self.save_weights_only else self.model.save)(path)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: finished saving model to {path}")


class ReduceLROnPlateau(MonitorCallback):
    """Keras's `ReduceLROnPlateau`: when `monitor` has not improved for `patience` epochs, lr = max(lr * factor,
    min_lr); then `cooldown` epochs before counting again. Each epoch's logs gain "learning_rate"."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta=min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got {factor}")
        self.factor, self.patience, self.verbose, self.cooldown, self.min_lr = factor, patience, verbose, cooldown, min_lr
        self.wait = self.cooldown_counter = 0

    def on_train_begin(self, logs=None):
        self.best, self.wait, self.cooldown_counter = None, 0, 0

    def on_epoch_end(self, epoch, logs=None):
        optimizer = self.model.optimizer
        logs = logs if logs is not None else {}
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            return                                                    # Keras warns, and does nothing
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > np.float32(self.min_lr):
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to "
                              f"{optimizer.learning_rate}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class LearningRateScheduler(Callback):
    """Keras's `LearningRateScheduler(schedule)`: at each epoch's start, lr = schedule(epoch, lr) (or
    schedule(epoch)); each epoch's logs gain "learning_rate"."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        optimizer = self.model.optimizer
        try:
            rate = self.schedule(epoch, float(optimizer.learning_rate))
        except TypeError:                                             # the older one-argument form
            rate = self.schedule(epoch)
        if not isinstance(rate, (float, np.floating)) or not math.isfinite(rate):
            raise ValueError(f"the schedule of LearningRateScheduler must return a float, got {rate!r}")
        optimizer.learning_rate = float(rate)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class CSVLogger(Callback):
    """Keras's `CSVLogger(filename, separator=",", append=False)`: one row per epoch, "epoch" (from 0) and
    the logs' keys, sorted (with their val_ columns when the first epoch had none)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self.file = self.writer = self.keys = None

    def on_train_begin(self, logs=None):
        header = not (self.append and os.path.exists(self.filename) and os.path.getsize(self.filename))
        self.file = open(self.filename, "a" if self.append else "w", newline="")
        self.header, self.writer, self.keys = header, None, None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.keys is None:
            self.keys = sorted(logs)
            if self.keys and not any(key.startswith("val_") for key in self.keys):
                self.keys += [f"val_{key}" for key in self.keys]
        if self.writer is None:
            dialect = type("Dialect", (csv.excel,), {"delimiter": self.separator})
            self.writer = csv.DictWriter(self.file, fieldnames=["epoch"] + self.keys, dialect=dialect)
            if self.header:
                self.writer.writeheader()
        self.writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self.keys}})
        self.file.flush()

    def on_train_end(self, logs=None):
        if self.file is not None and not self.file.closed:
            self.file.close()
        self.writer = None


class TerminateOnNaN(Callback):
    """Keras's `TerminateOnNaN()`: after a step whose loss is NaN or infinite, stop training (raise_error=True:
    raise RuntimeError). With it, fit stops where the loss went bad instead of raising TrainingDiverged."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: {loss}. "
                                   "Terminating training immediately.")
            print(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class LambdaCallback(Callback):
    """Keras's `LambdaCallback(on_epoch_end=lambda epoch, logs: ..., ...)`: a callback from functions."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None, **kwargs):
        super().__init__()
        self.__dict__.update(kwargs)
        for name, function in (("on_epoch_begin", on_epoch_begin), ("on_epoch_end", on_epoch_end),
                               ("on_train_begin", on_train_begin), ("on_train_end", on_train_end),
                               ("on_train_batch_begin", on_train_batch_begin),
                               ("on_train_batch_end", on_train_batch_end)):
            if function is not None:
                setattr(self, name, function)


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
        super().__init__()
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
    raise utils.missing("callbacks", name, ("Callback", "CSVLogger", "EarlyStopping", "History", "LambdaCallback",
                                            "LearningRateScheduler", "ModelCheckpoint", "ReduceLROnPlateau",
                                            "TerminateOnNaN"))
