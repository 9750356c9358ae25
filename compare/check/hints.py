"""Where to look: plain-words hints for the first failing stage of `python -m compare check`,
reasoned from which tensors agreed and which did not, with a pointer into numpy_impl."""
import textwrap

import numpy as np

from .guard import float32_trace
from .remote import type_names
from .reference import (BATCH, BOUND_WEIGHTS, DROPOUT_RATE, HIDDEN, IMAGE_SHAPE, LARGE_LOGIT,
                        _max_weight_difference, backprop_order, layer_name)

# Where each piece lives in numpy_impl: the hints point a learner there.
WHERE = {
    "affine": "numpy_impl/layers.py: Dense.affine",
    "backward_affine": "numpy_impl/layers.py: Dense.backward_affine",
    "relu": "numpy_impl/activations.py: ReLU.forward",
    "relu_backward": "numpy_impl/activations.py: ReLU.backward",
    "softmax": "numpy_impl/activations.py: softmax",
    "loss": "numpy_impl/losses.py: categorical_crossentropy_from_logits",
    "sgd": "numpy_impl/optimizers.py: SGD.update",
    "fit": "numpy_impl/model.py: Sequential.fit",
    "adam": "numpy_impl/optimizers.py: Adam.update",
    "rmsprop": "numpy_impl/optimizers.py: RMSprop.update",
    "l2": "numpy_impl/regularizers.py: L2",
    "sparse": "numpy_impl/losses.py: sparse_categorical_crossentropy_from_logits",
    "dropout_forward": "numpy_impl/layers.py: Dropout.forward",
    "dropout_backward": "numpy_impl/layers.py: Dropout.backward",
    "flatten": "numpy_impl/layers.py: Flatten.forward and Flatten.backward",
    "batchnorm": "numpy_impl/layers.py: BatchNormalization.forward, Normalization.normalize and Normalization.backward",
    "layernorm": "numpy_impl/layers.py: LayerNormalization.forward, Normalization.normalize and Normalization.backward",
    "adamw": "numpy_impl/optimizers.py: Optimizer.apply (the decay) and Adam.update",
    "adagrad": "numpy_impl/optimizers.py: Adagrad.update",
    "weight_decay": "numpy_impl/optimizers.py: Optimizer.apply",
    "clipping": "numpy_impl/optimizers.py: Optimizer.clip",
    "l1": "numpy_impl/regularizers.py: L1",
    "initializers": "numpy_impl/initializers.py: glorot_uniform, VarianceScaling.__call__ and truncated_normal, "
                    "and numpy_impl/layers.py: Dense.build",
    "schedules": "numpy_impl/schedules.py: CosineDecay, and the learning_rate property in numpy_impl/optimizers.py",
    "exponential": "numpy_impl/schedules.py: ExponentialDecay",
    "piecewise": "numpy_impl/schedules.py: PiecewiseConstantDecay",
    "softmax_backward": "numpy_impl/activations.py: Softmax.backward",
    "sigmoid": "numpy_impl/activations.py: Sigmoid and sigmoid",
    "tanh": "numpy_impl/activations.py: Tanh",
    "leaky_relu": "numpy_impl/activations.py: LeakyReLU",
    "elu": "numpy_impl/activations.py: ELU",
    "selu": "numpy_impl/activations.py: SELU",
    "softplus": "numpy_impl/activations.py: Softplus",
    "softsign": "numpy_impl/activations.py: Softsign",
    "silu": "numpy_impl/activations.py: SiLU",
    "gelu": "numpy_impl/activations.py: GELU and erf",
    "mse": "numpy_impl/losses.py: Loss.head and MeanSquaredError",
    "mae": "numpy_impl/losses.py: MeanAbsoluteError",
    "bce_fused": "numpy_impl/losses.py: BinaryCrossentropy.head and sigmoid_crossentropy_with_logits",
    "bce": "numpy_impl/losses.py: BinaryCrossentropy.per_sample and BinaryCrossentropy.gradient",
    "graph": "numpy_impl/functional.py: Model.backward",
    "early_stopping": "numpy_impl/callbacks.py: EarlyStopping.on_epoch_end",
    "CategoricalCrossentropy": "numpy_impl/losses.py: CategoricalCrossentropy.crossentropy",
    "SparseCategoricalCrossentropy": "numpy_impl/losses.py: SparseCategoricalCrossentropy.crossentropy",
}

# What Keras's loss objects compute per sample, called alone (keras/src/losses/losses.py and the backend's nn ops)
LOSS_OBJECT_FORMULAS = {
    ("CategoricalCrossentropy", False): "p = y_pred / its row's sum (each row renormalised first), clipped to [1e-7, "
                                        "1 - 1e-7], then loss_i = -sum_k y_ik log p_ik",
    ("CategoricalCrossentropy", True): "loss_i = logsumexp(z_i) - sum_k y_ik z_ik, each row shifted by its own max z",
    ("SparseCategoricalCrossentropy", False): "z = log(clip(y_pred, 1e-7, 1 - 1e-7)) (clipped, not renormalised "
                                              "first), then loss_i = logsumexp(z_i) - z_(i, label_i)",
    ("SparseCategoricalCrossentropy", True): "loss_i = logsumexp(z_i) - z_(i, label_i), each row shifted by its own "
                                             "max z",
}


def wrap(text, width=96):
    return textwrap.wrap(text, width)


def forward_hint(mine, key):
    """Why the probabilities differ: overflow, rows not summing to 1, or the layers before the softmax."""
    if key == "probabilities_large" and not np.isfinite(mine).all():
        if _nan_in_the_small_rows(mine):
            return ("the probabilities turn NaN only in the rows whose logits are small while another row's "
                    f"are near {LARGE_LOGIT:.0f}: the shift before exp must be each row's own largest logit "
                    "(max over axis=1, keepdims=True), not the largest of the whole batch; exp(1 - 1000) "
                    f"underflows to 0 and 0 / 0 is NaN ({WHERE['softmax']}).")
        return (f"the probabilities agree on ordinary inputs but turn NaN or infinite when a logit is "
                f"near {LARGE_LOGIT:.0f}: exp(1000) overflows to inf in float64 (beyond exp(709.78)), and "
                "inf / inf is NaN. Subtract each row's largest logit before exp: softmax(z) = "
                f"exp(z - max z) / sum exp(z - max z), which changes nothing else ({WHERE['softmax']}).")
    sums = mine.sum(axis=1)
    if not np.allclose(sums, 1.0, atol=1e-9):
        return (f"the rows of predict(x) sum to {sums.min():.4g}..{sums.max():.4g}, not 1: softmax divides "
                f"exp(z - max z) by the sum over each row's classes (axis=1) ({WHERE['softmax']}).")
    return ("the probabilities are proper (rows sum to 1) but not the reference's: the error is before "
            f"the softmax. Look at the affine map z = x @ kernel + bias ({WHERE['affine']}) and ReLU "
            f"relu(z) = max(z, 0) ({WHERE['relu']}), layer by layer.")


def loss_hint(loss, expected, key):
    """Why the loss differs: log of an underflowed probability, a sum for a mean, or the formula."""
    if key == "loss_large" and not np.isfinite(loss):
        return ("the loss is right on ordinary inputs but not finite when a logit is near 1000: log(p) of "
                "a probability that underflowed to 0 is -inf. Compute it from the logits: "
                f"loss = logsumexp(z) - z_true, with logsumexp(z) = max z + log sum exp(z - max z) ({WHERE['loss']}).")
    ratio = loss / expected
    if np.isclose(ratio, BATCH, rtol=1e-6):
        return (f"the loss is {BATCH} (the batch size) times the reference's: Keras reports the mean over "
                f"the batch, not the sum ({WHERE['loss']}).")
    return (f"the loss is {loss:.10g}, the reference's {expected:.10g}. Keras's categorical cross-entropy "
            f"is the mean over the batch of -log p_true = logsumexp(z) - z_true ({WHERE['loss']}).")


def gradient_hint(gradients, expected, verdicts):
    """Where the error enters, reasoned from which tensors agree (backprop order: output layer first)."""
    output = len(HIDDEN)
    layer = next(i // 2 for i in backprop_order() if not verdicts[i])
    kernel, bias = 2 * layer, 2 * layer + 1
    kernel_ok, bias_ok = verdicts[kernel], verdicts[bias]
    name = layer_name(layer)
    above = ("" if layer == output else f"Every gradient of the layers above {name} agrees, so dL/dz "
                                        f"of layer {layer + 1} is right. ")
    if not kernel_ok and not bias_ok:
        ratio = _common_ratio(gradients[bias], expected[bias])
        if layer == output and ratio is not None and np.isclose(ratio, BATCH, rtol=1e-6):
            return (f"every gradient of the output layer is {BATCH} times TensorFlow's ({BATCH} is the batch "
                    "size): the loss is a mean over the batch, so its gradient at the logits is "
                    f"(softmax(z) - y) / B. Divide by the batch size ({WHERE['loss']}).")
        if layer == output:
            return ("both gradients of the output layer are wrong, and they are the first computed, so "
                    "dL/dlogits is wrong: for softmax with cross-entropy it is (softmax(z) - y) / B, shape "
                    f"(B, classes) ({WHERE['loss']}).")
        return (f"{above}Both the kernel and the bias gradient of {name} are wrong, so dL/dz of layer {layer} "
                f"is: the error enters between the layers. Look at layer {layer + 1}'s input gradient "
                f"dL/dx = dL/dz @ kernel.T ({WHERE['backward_affine']}) and at layer {layer}'s ReLU backward, "
                "which passes the gradient only where that layer's input z > 0 (the mask comes from the "
                f"forward pass, not from the gradient) ({WHERE['relu_backward']}).")
    if not kernel_ok:
        mine, right = gradients[kernel], expected[kernel]
        if mine.shape[0] == mine.shape[1] and np.allclose(mine, right.T, rtol=1e-9, atol=1e-12):
            return (f"{above}The bias gradient of {name} agrees but its kernel gradient is exactly the "
                    "transpose of the right one: dL/dkernel = x.T @ dL/dz, (in, B) @ (B, out) -> (in, out). "
                    f"dL/dz.T @ x gives (out, in): it only runs because this layer is square "
                    f"({WHERE['backward_affine']}).")
        return (f"{above}The bias gradient of {name} agrees, so dL/dz there is right; its kernel gradient "
                "is wrong, so look at how dL/dkernel is formed from that layer's inputs: dL/dkernel = "
                "x.T @ dL/dz, with x the input this layer saw in the forward pass "
                f"({WHERE['backward_affine']}).")
    ratio = _common_ratio(gradients[bias], expected[bias])
    if ratio is not None and np.isclose(ratio, 1 / BATCH, rtol=1e-6):
        return (f"{above}The kernel gradient of {name} agrees but its bias gradient is 1/{BATCH} of the right "
                "one: the bias gradient is the sum of dL/dz over the batch, not the mean (the 1/B is "
                f"already inside dL/dlogits) ({WHERE['backward_affine']}).")
    return (f"{above}The kernel gradient of {name} agrees but its bias gradient does not: dL/dbias is "
            f"dL/dz summed over the batch axis (axis 0), shape (out,) ({WHERE['backward_affine']}).")


def optimizer_hint(label, mine, ref, results):
    start = ref["weights"]
    expected = ref["TensorFlow"][f"steps_{label}"]
    if label == "plain SGD":
        step_mine = [a - w for a, w in zip(mine, start)]
        step_right = [a - w for a, w in zip(expected, start)]
        along = sum(float(np.sum(a * b)) for a, b in zip(step_mine, step_right))
        size = np.sqrt(sum(float(np.sum(a * a)) for a in step_mine) / sum(float(np.sum(b * b)) for b in step_right))
        if along < 0:           # three steps later the weights moved against the right direction
            return f"the step goes uphill: w = w - learning_rate * g, against the gradient ({WHERE['sgd']})."
        if not np.isclose(size, 1, rtol=0.05):
            return (f"the steps go the right way but are {size:.3g} times as long as Keras's: w = w - "
                    f"learning_rate * g, with the learning rate applied once ({WHERE['sgd']}).")
        return (f"the gradients agree but plain SGD steps do not: w = w - learning_rate * g, in place, for "
                f"every weight ({WHERE['sgd']}).")
    if label.startswith("Nesterov") and _max_weight_difference(mine, ref["TensorFlow"]["steps_momentum 0.9"]) < BOUND_WEIGHTS:
        return ("with nesterov=True your weights are exactly plain momentum's: Keras's Nesterov step is "
                "v = m * v - lr * g, then w = w + m * v - lr * g (a look-ahead along the new velocity), "
                f"not w = w + v ({WHERE['sgd']}).")
    if label.startswith("Nesterov"):
        return ("plain SGD and momentum agree but Nesterov does not: Keras writes it "
                f"v = m * v - lr * g; w = w + (m * v - lr * g) ({WHERE['sgd']}).")
    return ("plain SGD agrees but momentum does not. Keras's form: the velocity v starts at 0 and is "
            "v = m * v - lr * g, then w = w + v (v already holds the minus sign; the textbook "
            f"v = m * v + g, w = w - lr * v is the same only for a constant learning rate) ({WHERE['sgd']}).")


def _common_ratio(mine, right):
    """mine / right if it is the same number everywhere (where right is not ~0), else None."""
    mask = np.abs(right) > 1e-12 * max(np.abs(right).max(), 1e-300)
    if not mask.any() or mine.shape != right.shape:
        return None
    ratios = mine[mask] / right[mask]
    return float(ratios[0]) if np.allclose(ratios, ratios[0], rtol=1e-9) else None


def _nan_in_the_small_rows(mine):
    """True if the rows that broke are the ones with small logits (a shift shared by the whole batch
    underflows them), not the ones near 1000 (no shift at all overflows those)."""
    from .reference import reference
    bad = ~np.isfinite(mine).all(axis=1)
    scale = reference()["row_largest_logit"]
    return bool(bad.any() and not bad.all() and scale[bad].max() < scale[~bad].min())


# ---- float32 in a float64 check ------------------------------------------------------------

def float32_hint(what, trace, where=None):
    shown = ("has dtype float32" if trace.startswith("dtype") else
             "is float64, but every value in it is a float32 number: it was computed in float32 and widened")
    return (f"this check runs in float64, and {what} {shown}. So every figure here would be off by about 1e-7, "
            "float32's rounding, and nothing else would look wrong. Keep the dtype the model was built with: "
            "no astype(np.float32), np.float32(...) or float32 buffers" + (f"; {where}." if where else "."))


def float32_layer(model, x):
    """(what, trace) for the first of model.layers whose forward output shows float32, or None.
    A softmax or an astype back to float64 can hide float32 work in the model's outputs."""
    outputs = np.asarray(x, np.float64)
    try:
        for index, layer in enumerate(model.layers):
            outputs = layer.forward(outputs, training=False)
            trace = float32_trace(outputs)
            if trace:
                return f"the output of model.layers[{index}] ({type_names(layer)[0]}.forward)", trace
    except Exception:                  # a twin without callable layers: nothing more to say
        return None
    return None


# ---- Dropout and Flatten -------------------------------------------------------------------

def dropout_inference_hint(call):
    return (f"with dropout={DROPOUT_RATE} {call} does not give the network's outputs: Dropout is the identity "
            "outside training. predict and evaluate run with training=False, and then Dropout returns x "
            f"unchanged: no mask, no scale ({WHERE['dropout_forward']}).")


def dropout_share_hint(share):
    if abs(share - (1 - DROPOUT_RATE)) < 0.02:
        return (f"it dropped {share:.0%} of the entries at rate {DROPOUT_RATE}: the rate is taken as the "
                "probability to keep. Keras's rate is the fraction dropped: keep = [u >= rate] for "
                f"u ~ U[0, 1), so {1 - DROPOUT_RATE:.0%} are kept ({WHERE['dropout_forward']}).")
    return (f"it dropped {share:.2%} of the entries at rate {DROPOUT_RATE}; over {HIDDEN[0]} x 4096 draws that "
            "is too far from the rate to be chance. Draw one uniform number per entry and keep the entry "
            f"where u >= rate ({WHERE['dropout_forward']}).")


def dropout_scale_hint(factor):
    right = 1 / (1 - DROPOUT_RATE)
    if np.isclose(factor, 1.0):
        reason = "they are not scaled at all"
    elif np.isclose(factor, 1 - DROPOUT_RATE):
        reason = (f"they are multiplied by 1 - rate = {1 - DROPOUT_RATE:g} (that is the old, non-inverted "
                  "dropout's test-time scale)")
    elif np.isclose(factor, 1 / DROPOUT_RATE):
        reason = f"they are divided by the rate ({factor:.4g}), as if the rate were the keep probability"
    else:
        reason = f"they are multiplied by {factor:.6g}"
    return (f"the kept entries must be x * (1 / (1 - rate)) = x * {right:.6g}, but {reason}. Inverted dropout "
            "scales up what it keeps so that the expected output equals x; then predict needs no scale "
            f"({WHERE['dropout_forward']}).")


def dropout_backward_hint(back, upstream, kept, scale):
    if back.shape == upstream.shape:
        if np.allclose(back, upstream):
            return ("Dropout's backward pass returns the gradient unchanged: it ignores the mask. The gradient "
                    "of a dropped entry is 0, and a kept one's is multiplied by 1 / (1 - rate): "
                    f"dL/dx = dL/dout * mask * (1 / (1 - rate)) ({WHERE['dropout_backward']}).")
        if np.allclose(back, np.where(kept, upstream, 0)):
            return ("Dropout's backward pass applies the mask but not the 1 / (1 - rate) scale that the forward "
                    f"pass applied: dL/dx = dL/dout * mask * (1 / (1 - rate)) ({WHERE['dropout_backward']}).")
        if np.allclose(back * (back != 0), upstream * scale * (back != 0)) and not np.array_equal(back != 0, kept):
            return ("Dropout's backward pass uses another mask than the forward pass before it: it must reuse "
                    f"the mask drawn in forward (keep it on the layer), not draw a new one ({WHERE['dropout_backward']}).")
    return ("Dropout's backward pass should be dL/dx = dL/dout * mask * (1 / (1 - rate)), with the mask the "
            f"forward pass drew, shape {tuple(upstream.shape)} ({WHERE['dropout_backward']}).")


def flatten_hint():
    return (f"a batch of {IMAGE_SHAPE[0]}x{IMAGE_SHAPE[1]} images should give exactly what its flattened rows "
            f"give: Flatten reshapes (B, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) to (B, {IMAGE_SHAPE[0] * IMAGE_SHAPE[1]}) "
            "in row-major order (x.reshape(len(x), -1)), and its backward pass reshapes the gradient back to "
            f"the input's shape ({WHERE['flatten']}).")


def initializer_hint(name, problem):
    """Why the initial kernels are not Keras's `name`: the problem found, and the formula."""
    return (f"the initial weights of build_model(kernel_initializer={name!r}) are not drawn as Keras draws "
            f"them: {problem}. Keras's {name} is VarianceScaling: variance = scale / fan (Glorot: 1 / "
            "((fan_in + fan_out) / 2); He: 2 / fan_in; LeCun: 1 / fan_in), a uniform kernel U(-limit, limit) with "
            "limit = sqrt(3 * variance), a normal one N(0, sd) with every draw beyond 2 sd drawn again and "
            f"sd = sqrt(variance) / 0.8796 (the truncation's own shrink undone); biases start at 0 "
            f"({WHERE['initializers']}).")


def loss_object_hint(kind, call, mine, expected):
    """Why a loss object called alone differs: the first call that differs, its two values, and Keras's formula."""
    what, from_logits, _, _, weights = call
    formula = LOSS_OBJECT_FORMULAS[(kind, from_logits)]
    mean = ("; then the batch's mean of w_i * loss_i (divided by the batch size, not by the sum of the weights)"
            if weights is not None else "; then the mean over the batch")
    return (f"{what} gives {mine:.10g}, Keras's {expected:.10g}. Keras computes {formula}{mean} "
            f"({WHERE[kind]}; the mean and the weights in CategoricalCrossentropy.__call__).")
