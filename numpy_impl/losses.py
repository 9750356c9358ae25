"""Cross-entropy, computed from logits the way Keras on TensorFlow does; one-hot or integer labels.

Keras's softmax output layer hands its logits to the loss, and TensorFlow's
`softmax_cross_entropy_with_logits` computes, per sample,

    loss = log(sum_j exp(z_j)) - z_true = logsumexp(z) - sum_k y_k z_k

with no clipping of probabilities at 1e-7. The batch loss is the mean over the
batch's own size, the last partial batch included ("sum_over_batch_size").

A loss object called alone, `loss(y_true, y_pred)` as in Keras's tutorials,
has no logits to go back to when y_pred holds probabilities: there Keras
clips them at 1e-7, and so does numpy_impl (see the classes below).
"""
import numpy as np

from . import utils


def categorical_crossentropy_from_logits(logits, y_true):
    """Mean loss, softmax probabilities and d loss / d logits, all in one pass.

    Parameters
    ----------
    logits : ndarray of shape (batch, classes)
    y_true : ndarray of shape (batch, classes), one-hot rows

    Returns
    -------
    loss : float, mean over the batch
    probabilities : ndarray of shape (batch, classes)
    grad_logits : ndarray of shape (batch, classes), (softmax(z) - y) / batch
    """
    batch = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)       # (B, K), z - max z
    exp_shifted = np.exp(shifted)                              # (B, K)
    sum_exp = exp_shifted.sum(axis=1, keepdims=True)           # (B, 1)
    # logsumexp(z) - z_true, with max z cancelling on both sides.
    per_sample = np.log(sum_exp[:, 0]) - np.einsum("bk,bk->b", shifted, y_true)
    loss = float(np.add.reduce(per_sample) / batch)            # the mean (np.mean's own sum and divide, minus its wrapper)

    probabilities = exp_shifted
    probabilities /= sum_exp
    # Fused softmax + cross-entropy gradient: d/dz [logsumexp(z) - z_true] = p - y.
    grad_logits = probabilities - y_true
    grad_logits /= batch
    return loss, probabilities, grad_logits


def sparse_categorical_crossentropy_from_logits(logits, labels):
    """The same loss with integer labels: Keras's sparse_categorical_crossentropy.

    loss_i = logsumexp(z_i) - z_(i, label_i), and d loss / d logits = (softmax(z) - onehot(labels)) / batch.

    Parameters
    ----------
    logits : ndarray of shape (batch, classes)
    labels : integer ndarray of shape (batch,), each in 0..classes-1

    Returns
    -------
    loss, probabilities (batch, classes), grad_logits (batch, classes): as above.
    """
    batch = logits.shape[0]
    rows = np.arange(batch)
    shifted = logits - logits.max(axis=1, keepdims=True)       # (B, K)
    exp_shifted = np.exp(shifted)
    sum_exp = exp_shifted.sum(axis=1, keepdims=True)           # (B, 1)
    per_sample = np.log(sum_exp[:, 0]) - shifted[rows, labels]  # picks z_true: no one-hot needed
    loss = float(np.add.reduce(per_sample) / batch)            # the mean

    probabilities = exp_shifted
    probabilities /= sum_exp
    grad_logits = probabilities.copy()
    grad_logits[rows, labels] -= 1                             # p - y, with y one-hot at the label
    grad_logits /= batch
    return loss, probabilities, grad_logits


# ---- Keras's loss objects ------------------------------------------------------------

EPSILON = 1e-7         # Keras's backend.epsilon(): probabilities are clipped to [1e-7, 1 - 1e-7]


def _log_softmax(z):
    """log softmax over the last axis, (B, K) -> (B, K), as TensorFlow computes it:
    (z - max z) - log(sum_k exp(z_k - max z)). Shifted by max z, exp cannot overflow; and max z
    cancels before it meets z_true, so a logit of 1000 costs no precision (adding the log-sum back
    to max z, then subtracting z_true, rounds at 1000's last place: 1e-13)."""
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


class CategoricalCrossentropy:
    """Keras's `CategoricalCrossentropy(from_logits)`: one-hot labels (batch, classes).

    Called as Keras calls it, `loss(y_true, y_pred)` gives the batch's mean loss (a float):
        from_logits=True:  loss_i = logsumexp(z_i) - sum_k y_ik z_ik
        from_logits=False: p_i = clip(y_pred_i / sum_k y_pred_ik, 1e-7, 1 - 1e-7)   (Keras renormalises, then clips)
                           loss_i = -sum_k y_ik log p_ik
    computed in `dtype` (Keras's floatx, float32, unless given), as Keras does.

    Inside `fit`, the model's last layer hands its logits to `fused_with_softmax`
    instead (as Keras on TensorFlow does for a softmax layer): the loss, the
    probabilities and dL/dlogits in one pass. from_logits=False then only says
    that the model ends in softmax.
    """

    sparse = False
    default_name = "categorical_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None, dtype=None):
        if label_smoothing or axis != -1 or reduction != "sum_over_batch_size":
            raise utils.NotSupported(f"{type(self).__name__} in numpy_impl takes from_logits only (no "
                                     "label_smoothing, axis or reduction): the loss of the network it trains")
        self.from_logits = bool(from_logits)
        self.name = name or self.default_name
        self.dtype = np.dtype(dtype or "float32")

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        if y_pred.ndim != 2:
            raise ValueError(f"y_pred must have shape (batch, classes), got {y_pred.shape}")
        per_sample = self.per_sample(y_true, y_pred)                        # (B,)
        if sample_weight is not None:
            per_sample = per_sample * np.asarray(sample_weight, self.dtype).reshape(-1)
        return float(per_sample.sum() / len(per_sample))                  # Keras: "sum_over_batch_size"

    def per_sample(self, y_true, y_pred):
        y_true = np.asarray(y_true, dtype=self.dtype)
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}: one-hot rows "
                             "go with CategoricalCrossentropy, integer labels with SparseCategoricalCrossentropy")
        return self.crossentropy(y_true, y_pred)

    def crossentropy(self, y_true, y_pred):
        """Per-sample loss (B,) from one-hot y_true (B, K) and y_pred (B, K), logits or probabilities."""
        if self.from_logits:
            return -(y_true * _log_softmax(y_pred)).sum(axis=-1)       # logsumexp(z) - sum_k y_k z_k
        p = np.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)   # renormalise, then clip
        return -(y_true * np.log(p)).sum(axis=-1)

    def fused_with_softmax(self, logits, y_true):
        """(mean loss, softmax probabilities, dL/dlogits) from the last layer's logits: what fit uses."""
        return categorical_crossentropy_from_logits(logits, y_true)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Keras's `SparseCategoricalCrossentropy(from_logits)`: integer labels (batch,).

    `loss(y_true, y_pred)`, the batch's mean loss:
        from_logits=True:  loss_i = logsumexp(z_i) - z_(i, label_i)
        from_logits=False: as TensorFlow computes it, z = log(clip(y_pred, 1e-7, 1 - 1e-7)) and then
                           the same formula (which renormalises the clipped probabilities)
    """

    sparse = True
    default_name = "sparse_categorical_crossentropy"

    def per_sample(self, y_true, y_pred):
        labels = np.asarray(y_true)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]                                          # (B, 1) -> (B,), as Keras squeezes
        classes = y_pred.shape[-1]
        if labels.shape != y_pred.shape[:1] or not np.issubdtype(labels.dtype, np.number) \
                or (labels != np.round(labels)).any() or labels.min() < 0 or labels.max() >= classes:
            raise ValueError(f"y_true must be integer labels 0..{classes - 1} of shape {y_pred.shape[:1]}, got "
                             f"shape {labels.shape}: one-hot rows go with CategoricalCrossentropy")
        return self.crossentropy(labels.astype(np.intp), y_pred)

    def crossentropy(self, labels, y_pred):
        """Per-sample loss (B,) from integer labels (B,) and y_pred (B, K), logits or probabilities."""
        z = y_pred if self.from_logits else np.log(np.clip(y_pred, EPSILON, 1 - EPSILON))
        return -_log_softmax(z)[np.arange(len(z)), labels]               # logsumexp(z) - z_label

    def fused_with_softmax(self, logits, labels):
        return sparse_categorical_crossentropy_from_logits(logits, labels)


def get(loss, from_logits=False):
    """A loss object from its Keras name, or the object itself."""
    if isinstance(loss, CategoricalCrossentropy):
        return loss
    names = {"categorical_crossentropy": CategoricalCrossentropy,
             "sparse_categorical_crossentropy": SparseCategoricalCrossentropy}
    if loss not in names:
        raise ValueError(f"unknown loss {loss!r}: use 'categorical_crossentropy' (one-hot labels) or "
                         "'sparse_categorical_crossentropy' (integer labels)")
    return names[loss](from_logits)


def __getattr__(name):
    """`losses.MeanSquaredError` and the other Keras losses numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("losses", name, ("CategoricalCrossentropy", "SparseCategoricalCrossentropy"))
