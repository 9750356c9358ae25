"""Cross-entropy, computed from logits the way Keras on TensorFlow does; one-hot or integer labels.

Keras's softmax output layer hands its logits to the loss, and TensorFlow's
`softmax_cross_entropy_with_logits` computes, per sample,

    loss = log(sum_j exp(z_j)) - z_true = logsumexp(z) - sum_k y_k z_k

with no clipping of probabilities at 1e-7. The batch loss is the mean over the
batch's own size, the last partial batch included ("sum_over_batch_size").
"""
import numpy as np


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
    loss = float(per_sample.mean())

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
    loss = float(per_sample.mean())

    probabilities = exp_shifted
    probabilities /= sum_exp
    grad_logits = probabilities.copy()
    grad_logits[rows, labels] -= 1                             # p - y, with y one-hot at the label
    grad_logits /= batch
    return loss, probabilities, grad_logits


class CategoricalCrossentropy:
    """Keras's `CategoricalCrossentropy(from_logits)`: one-hot labels (batch, classes).

    from_logits=False: the model ends in softmax, and (as Keras on TensorFlow does)
    the loss is computed from the logits behind it. from_logits=True: the model
    ends in a linear layer whose outputs are the logits.
    """

    sparse = False
    name = "categorical_crossentropy"

    def __init__(self, from_logits=False):
        self.from_logits = bool(from_logits)

    def __call__(self, logits, y_true):
        return categorical_crossentropy_from_logits(logits, y_true)


class SparseCategoricalCrossentropy(CategoricalCrossentropy):
    """Keras's `SparseCategoricalCrossentropy(from_logits)`: integer labels (batch,)."""

    sparse = True
    name = "sparse_categorical_crossentropy"

    def __call__(self, logits, labels):
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
