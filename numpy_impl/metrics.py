"""Keras's metrics: a mean, over every sample seen, of one value per sample.

    CategoricalAccuracy        value_i = [argmax_k y_pred_ik == true class_i]
    BinaryAccuracy             value_i = mean_k [(y_pred_ik > 0.5) == y_true_ik]
    MeanSquaredError ("mse")   value_i = mean_k (y_pred_ik - y_true_ik)^2
    MeanAbsoluteError ("mae")  value_i = mean_k |y_pred_ik - y_true_ik|
    result = (1/n) * sum_i value_i

For the accuracy only the form of the labels differs: CategoricalAccuracy
reads the true class from one-hot rows (argmax), SparseCategoricalAccuracy
takes integer labels. `compile(metrics=["accuracy"])` picks the one that fits
the shapes, as Keras 3 does (one output: BinaryAccuracy), and History records
each metric under the name it was given.
"""
import numpy as np

from . import utils


class CategoricalAccuracy:
    """Keras's `CategoricalAccuracy()`: y_true one-hot (n, classes), y_pred (n, classes).

    update_state adds a batch, result() is the accuracy so far, reset_state() starts again.
    """

    sparse = False
    default_name = "categorical_accuracy"

    def __init__(self, name=None, dtype=None):
        self.name = name or self.default_name
        self.reset_state()

    def reset_state(self):
        self.correct, self.count = 0.0, 0.0

    def true_classes(self, y_true):
        return np.asarray(y_true).argmax(axis=-1)                  # (n, classes) -> (n,)

    def values(self, y_true, y_pred):
        """One value per sample, (n,): 1.0 where the most probable class is the true one, else 0.0."""
        return (np.asarray(y_pred).argmax(axis=-1) == self.true_classes(y_true)).astype(np.float64)

    def update_state(self, y_true, y_pred, sample_weight=None):
        values = self.values(y_true, y_pred)                                        # (n,)
        weights = np.ones_like(values) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1)
        self.correct += float((values * weights).sum())
        self.count += float(weights.sum())

    def result(self):
        return self.correct / self.count if self.count else 0.0


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """Keras's `SparseCategoricalAccuracy()`: y_true integer labels (n,) or (n, 1), y_pred (n, classes)."""

    sparse = True
    default_name = "sparse_categorical_accuracy"

    def true_classes(self, y_true):
        return np.asarray(y_true).reshape(-1)


class BinaryAccuracy(CategoricalAccuracy):
    """Keras's `BinaryAccuracy(threshold=0.5)`: each output a yes (y_pred > threshold) or no, against 0/1 labels."""

    default_name = "binary_accuracy"

    def __init__(self, name=None, dtype=None, threshold=0.5):
        super().__init__(name, dtype)
        self.threshold = float(threshold)

    def values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        y_true = np.asarray(y_true).reshape(y_pred.shape)
        return ((y_pred > self.threshold) == y_true).mean(axis=-1, dtype=np.float64)


class MeanSquaredError(CategoricalAccuracy):
    """Keras's metric `MeanSquaredError()` ("mse"): the mean of mean_k (y_pred - y_true)^2 over the samples."""

    default_name = "mean_squared_error"

    def values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return np.square(y_pred - np.asarray(y_true).reshape(y_pred.shape)).mean(axis=-1)


class MeanAbsoluteError(CategoricalAccuracy):
    """Keras's metric `MeanAbsoluteError()` ("mae"): the mean of mean_k |y_pred - y_true| over the samples."""

    default_name = "mean_absolute_error"

    def values(self, y_true, y_pred):
        y_pred = np.asarray(y_pred)
        return np.abs(y_pred - np.asarray(y_true).reshape(y_pred.shape)).mean(axis=-1)


NAMES = {"categorical_accuracy": CategoricalAccuracy, "sparse_categorical_accuracy": SparseCategoricalAccuracy,
         "binary_accuracy": BinaryAccuracy, "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
         "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError}


def get(metric, sparse, outputs=None):
    """A metric object from a name or an object; `sparse` says whether the loss takes integer labels,
    `outputs` how many units the last layer has.

    "accuracy" and "acc" become the accuracy that fits the shapes, named as given (Keras 3's rule:
    one output, BinaryAccuracy; integer labels, SparseCategoricalAccuracy; else CategoricalAccuracy).
    """
    if isinstance(metric, CategoricalAccuracy):
        chosen = metric
    elif metric in ("accuracy", "acc"):
        kind = BinaryAccuracy if outputs == 1 and not sparse else \
            SparseCategoricalAccuracy if sparse else CategoricalAccuracy
        chosen = kind(name=metric)
    elif isinstance(metric, str) and metric in NAMES:
        chosen = NAMES[metric](name=metric if metric in ("mse", "mae") else None)
    else:
        raise utils.NotSupported(f"numpy_impl has no metric {metric!r}: it offers 'accuracy', "
                                 f"{', '.join(repr(name) for name in NAMES)} and their classes")
    if isinstance(chosen, (MeanSquaredError, MeanAbsoluteError, BinaryAccuracy)):
        if sparse:
            raise ValueError(f"metric {chosen.name!r} compares outputs with targets of their shape, and the "
                             "loss takes integer labels: use metrics=['accuracy']")
        return chosen
    if chosen.sparse != sparse:
        labels = "integer labels" if chosen.sparse else "one-hot rows"
        raise ValueError(f"metric {chosen.name!r} takes {labels}, which the loss does not: "
                         "use metrics=['accuracy'], which fits the loss")
    return chosen


def __getattr__(name):
    """`metrics.AUC` and the other Keras metrics numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("metrics", name, ("CategoricalAccuracy", "SparseCategoricalAccuracy", "BinaryAccuracy",
                                          "MeanSquaredError", "MeanAbsoluteError"))
