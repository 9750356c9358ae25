"""Categorical cross-entropy, computed from logits the way Keras on TensorFlow does.

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
