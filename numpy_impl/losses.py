"""Cross-entropy, computed from logits the way Keras on TensorFlow does; one-hot or integer labels.

Keras's softmax output layer hands its logits to the loss, and TensorFlow's
`softmax_cross_entropy_with_logits` computes, per sample,

    loss = log(sum_j exp(z_j)) - z_true = logsumexp(z) - sum_k y_k z_k

with no clipping of probabilities at 1e-7. The batch loss is the mean over the
batch's own size, the last partial batch included ("sum_over_batch_size").

A loss object called alone, `loss(y_true, y_pred)` as in Keras's tutorials,
has no logits to go back to when y_pred holds probabilities: there Keras
clips them at 1e-7, and so does numpy_impl (see the classes below).

For other tasks: MeanSquaredError ("mse"), MeanAbsoluteError ("mae") and
BinaryCrossentropy ("binary_crossentropy"), each with its gradient dL/dy_pred.
Inside `fit` every loss answers `head(activation, logits, y)`: the batch's
mean loss, the model's outputs and dL/dlogits. For softmax and cross-entropy,
and for sigmoid and binary cross-entropy, that is one fused formula from the
logits (as Keras on TensorFlow computes it); for every other pair, the output
activation's forward pass, the loss's own gradient, and the activation's
backward pass.
"""
import numpy as np

from . import activations, config, utils


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
        self.dtype = np.dtype(dtype or config.floatx())

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

    def head(self, activation, logits, y_true, gradient=True, sample_weight=None):
        """(mean loss, outputs, dL/dlogits) from the last layer's logits (B, K): softmax and the loss fused
        (from_logits=True: the same numbers; outputs are then the probabilities, whose argmax is the logits').

        sample_weight w (B,): Keras's "sum_over_batch_size", loss = sum_i w_i loss_i / B, so each sample's
        row of dL/dlogits is multiplied by its w_i."""
        loss, probabilities, grad_logits = self.fused_with_softmax(logits, y_true)
        if sample_weight is None:
            return loss, probabilities, grad_logits
        loss = float(np.add.reduce(self.crossentropy_of_logits(logits, y_true) * sample_weight) / len(logits))
        grad_logits *= sample_weight[:, None]
        return loss, probabilities, grad_logits

    def crossentropy_of_logits(self, logits, y_true):
        """Each sample's loss (B,) from the logits: logsumexp(z) - sum_k y_k z_k."""
        return -(y_true * _log_softmax(logits)).sum(axis=-1)

    def output_problem(self, activation_name):
        """Why this loss cannot follow an output activation of this name (None if it can)."""
        wanted = "linear" if self.from_logits else "softmax"
        if activation_name != wanted:
            return (f"{self.name} with from_logits={self.from_logits} needs the last layer to be "
                    f"Dense(..., activation={wanted!r}), got {activation_name!r}")
        return None


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

    def crossentropy_of_logits(self, logits, labels):
        return -_log_softmax(logits)[np.arange(len(logits)), labels]


# ---- losses for other tasks: regression, and sigmoid outputs ------------------------

class Loss:
    """What MeanSquaredError, MeanAbsoluteError and BinaryCrossentropy share.

    `loss(y_true, y_pred)`: the batch's mean of per_sample (Keras's "sum_over_batch_size").
    per_sample(y_true, y_pred): each sample's loss, a mean over its K outputs, (B, K) -> (B,).
    gradient(y_true, y_pred): d(batch mean)/dy_pred, (B, K), with its 1 / (K B).
    """

    sparse = False
    from_logits = False
    default_name = None

    def __init__(self, reduction="sum_over_batch_size", name=None, dtype=None):
        if reduction != "sum_over_batch_size":
            raise utils.NotSupported(f"{type(self).__name__} in numpy_impl takes reduction='sum_over_batch_size' "
                                     "only, Keras's default: the batch's mean")
        self.name = name or self.default_name
        self.dtype = np.dtype(dtype or config.floatx())

    def __call__(self, y_true, y_pred, sample_weight=None):
        y_pred = np.asarray(y_pred, dtype=self.dtype)
        y_true = np.asarray(y_true, dtype=self.dtype)
        if y_true.ndim == y_pred.ndim - 1:
            y_true = y_true[..., None]                       # (B,) against (B, 1): Keras expands it
        if y_true.shape != y_pred.shape:
            raise ValueError(f"y_true has shape {y_true.shape} but y_pred has {y_pred.shape}: they must match")
        per_sample = self.per_sample(y_true, y_pred)
        if sample_weight is not None:
            per_sample = per_sample * np.asarray(sample_weight, self.dtype).reshape(-1)
        return float(per_sample.sum() / len(per_sample))

    def head(self, activation, logits, y_true, gradient=True, sample_weight=None):
        """(mean loss, outputs, dL/dlogits) through the output activation: outputs = f(z), the loss of
        the outputs, then dL/dz = f'(z) * dL/doutputs by the activation's own backward pass.
        sample_weight w (B,): loss = sum_i w_i loss_i / B, and row i of dL/doutputs times w_i."""
        outputs = activation.forward(logits)
        per_sample = self.per_sample(y_true, outputs)
        if sample_weight is not None:
            per_sample = per_sample * sample_weight
        loss = float(np.add.reduce(per_sample) / len(outputs))
        if not gradient:
            return loss, outputs, None
        grad_outputs = self.gradient(y_true, outputs)
        if sample_weight is not None:
            grad_outputs = grad_outputs * sample_weight[:, None]
        return loss, outputs, activation.backward(grad_outputs)

    def output_problem(self, activation_name):
        if self.from_logits and activation_name != "linear":
            return (f"{self.name} with from_logits=True needs the last layer to be Dense(..., activation=None), "
                    f"got {activation_name!r}")
        return None


class MeanSquaredError(Loss):
    """Keras's `MeanSquaredError()`, "mse": per sample mean_k (y_pred_k - y_true_k)^2, then the batch mean.

    dL/dy_pred = 2 (y_pred - y_true) / (K B)   for K outputs and a batch of B.
    (Nielsen's quadratic cost, (1/2) sum_k (y_k - a_k)^2, has gradient (a - y) / B: K / 2 times smaller.)
    """

    default_name = "mean_squared_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.square(y_true - y_pred), axis=-1)

    def gradient(self, y_true, y_pred):
        return (2.0 / y_pred.size) * (y_pred - y_true)


class MeanAbsoluteError(Loss):
    """Keras's `MeanAbsoluteError()`, "mae": per sample mean_k |y_pred_k - y_true_k|, then the batch mean.

    dL/dy_pred = sign(y_pred - y_true) / (K B), and 0 where they are equal (as the engines' autodiff gives).
    """

    default_name = "mean_absolute_error"

    def per_sample(self, y_true, y_pred):
        return np.mean(np.abs(y_true - y_pred), axis=-1)

    def gradient(self, y_true, y_pred):
        return np.sign(y_pred - y_true) / y_pred.size


class BinaryCrossentropy(Loss):
    """Keras's `BinaryCrossentropy(from_logits)`: each of the K outputs a yes/no probability, y_true in [0, 1].

    From probabilities p (Keras clips them to [1e-7, 1 - 1e-7] first):
        loss_i = mean_k -(y_k log p_k + (1 - y_k) log(1 - p_k))
        dL/dp  = (p - y) / (p (1 - p)) / (K B), and 0 where p was clipped
    From logits z (from_logits=True, or a sigmoid output inside fit, as Keras on TensorFlow does):
        loss_i = mean_k max(z_k, 0) - z_k y_k + log(1 + exp(-|z_k|))     (= the above with p = sigmoid(z), unclipped)
        dL/dz  = (sigmoid(z) - y) / (K B)                                  (the sigmoid's slope cancels)
    """

    default_name = "binary_crossentropy"

    def __init__(self, from_logits=False, label_smoothing=0.0, axis=-1, reduction="sum_over_batch_size",
                 name=None, dtype=None):
        if label_smoothing or axis != -1:
            raise utils.NotSupported("BinaryCrossentropy in numpy_impl takes from_logits only (no label_smoothing "
                                     "or axis)")
        super().__init__(reduction, name, dtype)
        self.from_logits = bool(from_logits)

    def per_sample(self, y_true, y_pred):
        if self.from_logits:
            return np.mean(sigmoid_crossentropy_with_logits(y_pred, y_true), axis=-1)
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return np.mean(-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p)), axis=-1)

    def gradient(self, y_true, y_pred):
        if self.from_logits:
            return (activations.sigmoid(y_pred) - y_true) / y_pred.size
        inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)         # the clip passes no gradient outside
        p = np.clip(y_pred, EPSILON, 1 - EPSILON)
        return np.where(inside, (p - y_true) / (p * (1 - p)), 0.0) / y_pred.size

    def head(self, activation, logits, y_true, gradient=True, sample_weight=None):
        """A sigmoid output hands its logits to the loss (TensorFlow's `_keras_logits`): the fused form."""
        if not (self.from_logits or activation.name == "sigmoid"):
            return super().head(activation, logits, y_true, gradient, sample_weight)
        per_sample = np.mean(sigmoid_crossentropy_with_logits(logits, y_true), axis=-1)
        if sample_weight is not None:
            per_sample = per_sample * sample_weight
        loss = float(np.add.reduce(per_sample) / len(logits))
        grad_logits = (activations.sigmoid(logits) - y_true) / logits.size if gradient else None
        if gradient and sample_weight is not None:
            grad_logits *= sample_weight[:, None]
        return loss, activation.forward(logits), grad_logits

    def output_problem(self, activation_name):
        if not self.from_logits and activation_name == "softmax":
            return ("binary_crossentropy scores each output alone, so it needs a sigmoid output, not softmax: "
                    "use Dense(..., activation='sigmoid'), or categorical_crossentropy for a softmax")
        return super().output_problem(activation_name)


def sigmoid_crossentropy_with_logits(logits, y_true):
    """-(y log sigmoid(z) + (1 - y) log(1 - sigmoid(z))), entry by entry, as TensorFlow computes it:
    max(z, 0) - z y + log(1 + exp(-|z|)), which neither overflows nor loses a small tail."""
    return np.maximum(logits, 0) - logits * y_true + np.log1p(np.exp(-np.abs(logits)))


def mean_squared_error(y_true, y_pred):
    """Keras's function `losses.mean_squared_error`: each sample's loss, (B, K) -> (B,)."""
    return MeanSquaredError().per_sample(*_pair(y_true, y_pred))


def mean_absolute_error(y_true, y_pred):
    """Keras's function `losses.mean_absolute_error`: each sample's loss, (B, K) -> (B,)."""
    return MeanAbsoluteError().per_sample(*_pair(y_true, y_pred))


def binary_crossentropy(y_true, y_pred, from_logits=False):
    """Keras's function `losses.binary_crossentropy`: each sample's loss, (B, K) -> (B,)."""
    return BinaryCrossentropy(from_logits).per_sample(*_pair(y_true, y_pred))


def _pair(y_true, y_pred):
    y_pred = np.asarray(y_pred, dtype=np.result_type(np.asarray(y_pred).dtype, np.float32))
    return np.asarray(y_true, dtype=y_pred.dtype), y_pred


mse, mae = mean_squared_error, mean_absolute_error

NAMES = {"categorical_crossentropy": CategoricalCrossentropy,
         "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
         "binary_crossentropy": BinaryCrossentropy,
         "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
         "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError}


def get(loss, from_logits=False):
    """A loss object from its Keras name, or the object itself."""
    if isinstance(loss, (CategoricalCrossentropy, Loss)):
        return loss
    if not isinstance(loss, str) or loss not in NAMES:
        raise ValueError(f"unknown loss {loss!r}: use one of {', '.join(NAMES)}")
    kind = NAMES[loss]
    if kind in (MeanSquaredError, MeanAbsoluteError):
        if from_logits:
            raise ValueError(f"{loss} takes no from_logits: it compares the outputs themselves")
        return kind()
    return kind(from_logits)


def __getattr__(name):
    """`losses.Huber` and the other Keras losses numpy_impl leaves out: one line saying so."""
    if name.startswith("_"):
        raise AttributeError(name)
    raise utils.missing("losses", name, ("CategoricalCrossentropy", "SparseCategoricalCrossentropy",
                                         "BinaryCrossentropy", "MeanSquaredError", "MeanAbsoluteError"))
