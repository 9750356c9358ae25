"""Keras's accuracy metrics: the share of samples whose most probable class is the true one.

    predicted_i = argmax_k y_pred_ik
    accuracy    = (1/n) * sum_i [predicted_i == true class_i]

Only the form of the labels differs: CategoricalAccuracy reads the true class
from one-hot rows (argmax), SparseCategoricalAccuracy takes integer labels.
`compile(metrics=["accuracy"])` picks the one that fits the loss, as Keras
does, and History records each metric under the name it was given.
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

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred)
        hits = (y_pred.argmax(axis=-1) == self.true_classes(y_true)).astype(np.float64)   # (n,)
        weights = np.ones_like(hits) if sample_weight is None else np.asarray(sample_weight, np.float64).reshape(-1)
        self.correct += float((hits * weights).sum())
        self.count += float(weights.sum())

    def result(self):
        return self.correct / self.count if self.count else 0.0


class SparseCategoricalAccuracy(CategoricalAccuracy):
    """Keras's `SparseCategoricalAccuracy()`: y_true integer labels (n,) or (n, 1), y_pred (n, classes)."""

    sparse = True
    default_name = "sparse_categorical_accuracy"

    def true_classes(self, y_true):
        return np.asarray(y_true).reshape(-1)


def get(metric, sparse):
    """A metric object from a name or an object; `sparse` says whether the loss takes integer labels.

    "accuracy" and "acc" become the accuracy that fits the labels, named as given (Keras's rule).
    """
    if isinstance(metric, CategoricalAccuracy):
        chosen = metric
    elif metric in ("accuracy", "acc"):
        chosen = (SparseCategoricalAccuracy if sparse else CategoricalAccuracy)(name=metric)
    elif metric in ("categorical_accuracy", "sparse_categorical_accuracy"):
        chosen = (SparseCategoricalAccuracy if metric.startswith("sparse") else CategoricalAccuracy)()
    else:
        raise utils.NotSupported(f"numpy_impl has no metric {metric!r}: it offers 'accuracy', "
                                 "'categorical_accuracy', 'sparse_categorical_accuracy' and their classes")
    if chosen.sparse != sparse:
        labels = "integer labels" if chosen.sparse else "one-hot rows"
        raise ValueError(f"metric {chosen.name!r} takes {labels}, which the loss does not: "
                         "use metrics=['accuracy'], which fits the loss")
    return chosen


def __getattr__(name):
    """`metrics.AUC` and the other Keras metrics numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("metrics", name, ("CategoricalAccuracy", "SparseCategoricalAccuracy"))
