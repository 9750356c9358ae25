"""Lockstep training: both twins from the same weights, on the same batches, timed apart."""
import math
import time
from dataclasses import asdict, dataclass

import numpy as np

import numpy_impl


@dataclass
class Config:
    """Every hyperparameter of a run; the defaults are the seed model this package reproduces."""
    epochs: int = 5                       # passes over the training set
    batch_size: int = 32                  # samples per SGD step (the last batch may be smaller)
    learning_rate: float = 0.01           # SGD step size (the first epoch's, if a schedule is set)
    momentum: float = 0.0                 # SGD momentum, Keras's formula
    nesterov: bool = False                # Nesterov momentum
    hidden: tuple = (128, 128)            # widths of the ReLU layers
    seed: int = 0                         # initial weights and the shuffling order
    dtype: str = "float32"                # float32, or float64 for exact agreement
    impl: str = "both"                    # both, numpy or keras
    limit: int = None                     # use only the first `limit` training digits
    lr_decay_epochs: tuple = ()           # epochs (1-based) after which the learning rate is divided
    lr_decay_factor: float = 10.0         # ... by this factor
    preset: str = "seed"                  # the named preset these values came from

    def learning_rate_at(self, epoch):
        """Step schedule: the learning rate for 0-based `epoch`."""
        drops = sum(1 for boundary in self.lr_decay_epochs if epoch >= boundary)
        return self.learning_rate / self.lr_decay_factor ** drops

    def as_dict(self):
        values = asdict(self)
        values["hidden"], values["lr_decay_epochs"] = list(self.hidden), list(self.lr_decay_epochs)
        return values


class Diverged(RuntimeError):
    """The loss became NaN or infinite during training."""

    def __init__(self, twin, epoch, batch, learning_rate):
        self.twin, self.epoch, self.batch = twin, epoch, batch
        super().__init__(
            f"training diverged: the {twin} twin's loss became NaN or infinite at epoch {epoch}, "
            f"batch {batch}; try a smaller learning rate, e.g. --learning-rate {learning_rate / 10:g}")


def build_twins(config, input_dim, num_classes):
    """The NumPy twin, and the Keras twin holding a copy of its initial weights."""
    kwargs = dict(input_dim=input_dim, hidden=tuple(config.hidden), num_classes=num_classes,
                  learning_rate=config.learning_rate, momentum=config.momentum,
                  nesterov=config.nesterov, seed=config.seed, dtype=config.dtype)
    numpy_model = numpy_impl.build_model(**kwargs)
    twins = {}
    if config.impl in ("both", "numpy"):
        twins["numpy"] = numpy_model
    if config.impl in ("both", "keras"):
        import keras_impl
        keras_model = keras_impl.build_model(**kwargs)
        keras_model.set_weights(numpy_model.get_weights())    # seeds differ between NumPy and Keras
        twins["keras"] = keras_model
    return twins


def train_one_epoch(name, model, x, y, config, epoch, verbose):
    """One epoch of `model.fit` on already-shuffled data; returns (loss, accuracy, seconds)."""
    learning_rate = config.learning_rate_at(epoch)
    model.optimizer.learning_rate = learning_rate          # the schedule, the same for both twins
    start = time.perf_counter()
    if name == "numpy":
        try:
            history = model.fit(x, y, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=verbose)
        except numpy_impl.TrainingDiverged as error:
            raise Diverged(name, epoch + 1, error.batch, learning_rate) from None
    else:
        history = model.fit(x, y, batch_size=config.batch_size, epochs=1, shuffle=False, verbose=verbose,
                            callbacks=[_keras_divergence_check(epoch, learning_rate)])
    seconds = time.perf_counter() - start
    return history.history["loss"][0], history.history["accuracy"][0], seconds


def _keras_divergence_check(epoch, learning_rate):
    import keras

    class StopOnDivergence(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                raise Diverged("keras", epoch + 1, batch + 1, learning_rate)

    return StopOnDivergence()


def run_lockstep(config, train, test, log=print, verbose=1):
    """Train the twins epoch by epoch in lockstep; returns per-twin records and agreement.

    Each epoch draws one permutation from the run's seed and feeds it to both
    twins with shuffle=False, so both see exactly the same batches.
    """
    x, y = train
    x_test, y_test = test
    twins = build_twins(config, x.shape[1], y.shape[1])
    rng = np.random.default_rng(config.seed)
    records = {name: {"epoch_seconds": [], "history": {"loss": [], "accuracy": [], "test_loss": [],
                                                       "test_accuracy": []}} for name in twins}
    weight_differences = []
    for epoch in range(config.epochs):
        order = rng.permutation(len(x))
        x_epoch, y_epoch = x[order], y[order]
        for name, model in twins.items():
            log(f"Epoch {epoch + 1}/{config.epochs}, {name} twin "
                f"(learning rate {config.learning_rate_at(epoch):g})")
            loss, accuracy, seconds = train_one_epoch(name, model, x_epoch, y_epoch, config, epoch, verbose)
            test_loss, test_accuracy = evaluate(name, model, x_test, y_test)
            record = records[name]
            record["epoch_seconds"].append(seconds)
            for key, value in (("loss", loss), ("accuracy", accuracy), ("test_loss", test_loss),
                               ("test_accuracy", test_accuracy)):
                record["history"][key].append(float(value))
        if len(twins) == 2:
            weight_differences.append(max_weight_difference(twins["numpy"], twins["keras"]))
    for name, model in twins.items():
        records[name].update(_summarise(records[name], len(x)))
        records[name]["probabilities"] = predict(name, model, x_test)
    return twins, records, weight_differences


def evaluate(name, model, x, y):
    if name == "keras":
        return model.evaluate(x, y, batch_size=1024, verbose=0)
    return model.evaluate(x, y)


def predict(name, model, x):
    if name == "keras":
        return model.predict(x, batch_size=1024, verbose=0)
    return model.predict(x)


def max_weight_difference(model_a, model_b):
    return float(max(np.abs(a - b).max() for a, b in zip(model_a.get_weights(), model_b.get_weights())))


def _summarise(record, n_train):
    """Seconds per epoch in steady state: the first epoch (Keras builds its graph there) apart."""
    seconds = record["epoch_seconds"]
    steady = seconds[1:] or seconds
    history = record["history"]
    return {
        "first_epoch_seconds": seconds[0],
        "seconds_per_epoch": float(np.mean(steady)),
        "samples_per_second": n_train / float(np.mean(steady)),
        "test_loss": history["test_loss"][-1],
        "test_accuracy": history["test_accuracy"][-1],
    }


def time_to_accuracy(record, targets=(0.97, 0.98)):
    """Training seconds until the test accuracy first reached each target (None if never)."""
    reached, elapsed = {}, 0.0
    for seconds, accuracy in zip(record["epoch_seconds"], record["history"]["test_accuracy"]):
        elapsed += seconds
        for target in targets:
            if accuracy >= target and f"{target:.2f}" not in reached:
                reached[f"{target:.2f}"] = elapsed
    return {f"{t:.2f}": reached.get(f"{t:.2f}") for t in targets}
