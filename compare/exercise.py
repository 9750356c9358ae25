"""python -m compare exercise DIR [--topic TOPIC]: numpy_impl with the math of one topic left for a
learner to write (the plain network, the optimizers, regularization, normalization, the initializers,
or all of it).

The exercise is generated from numpy_impl's own source every time, so it can
never drift from the package: `ast` finds each function below, and its body
(after the docstring) is replaced by `raise NotImplementedError(...)` naming
what to compute. The body's comments (the shapes, the equations) stay, as
hints above the raise; every other line of every file is copied unchanged.
"""
import ast
import io
import os
import shutil
import tempfile
import textwrap
import tokenize
from pathlib import Path

import numpy_impl

# (file, function, what to compute), by topic, each in the order `check` needs them.
NETWORK = [
    ("layers.py", "Dense.affine",
     "z = x @ kernel + bias, (B, in) @ (in, out) + (out,) -> (B, out); no bias if self.use_bias is False "
     "(a Dense before BatchNormalization). Keep x in self.inputs: the backward pass needs it."),
    ("activations.py", "ReLU.forward",
     "relu(z) = max(z, 0) elementwise, shape (B, units). Keep the result in self.outputs (backward "
     "needs it) and return it."),
    ("activations.py", "softmax",
     "softmax(z)_k = exp(z_k - max z) / sum_j exp(z_j - max z) for each row of the (B, K) logits. "
     "Subtract each row's own max first (axis=1, keepdims=True), or exp overflows for logits above ~709."),
    ("losses.py", "categorical_crossentropy_from_logits",
     "return (loss, probabilities, grad_logits): loss = mean over the batch of logsumexp(z) - "
     "sum_k y_k z_k (a float), probabilities = softmax(z) (B, K), grad_logits = (probabilities - y) / B (B, K)."),
    ("layers.py", "Dense.backward_affine",
     "from grad_z = dL/dz (B, out): store dL/dkernel = x.T @ grad_z (in, out) in self.grad_kernel and "
     "dL/dbias = grad_z summed over the batch (out,) in self.grad_bias (if self.use_bias); return "
     "dL/dx = grad_z @ kernel.T "
     "(B, in), or None if need_grad_inputs is False. With a kernel_regularizer, add its gradient "
     "to dL/dkernel."),
    ("activations.py", "ReLU.backward",
     "dL/dz = dL/doutputs * [z > 0], shape (B, units): the gradient passes where the forward input was "
     "positive (where self.outputs > 0) and is 0 elsewhere."),
    ("optimizers.py", "SGD.update",
     "for each (g, w): plain w = w - lr * g; with momentum m, v = m * v - lr * g (v starts at 0, one per "
     "weight) then w = w + v; Nesterov: w = w + (m * v - lr * g) after the same v update (Keras adds the "
     "bracket as one term). Update each w in "
     "place (w -= ..., w += ...)."),
]
DROPOUT = [
    ("layers.py", "Dropout.forward",
     "outside training (or at rate 0) return x unchanged and set self.mask = None: predict and evaluate "
     "never drop. In training: self.mask = self.draw_mask(x.shape), True where an entry is kept (u >= rate, "
     "so a share `rate` is DROPPED: the rate is not the keep probability), and return x * mask * "
     "(1 / (1 - rate)) (self.scale) in x's dtype. The kept entries are scaled UP so that the expected "
     "output equals x (inverted dropout); then predict needs no scale."),
    ("layers.py", "Dropout.backward",
     "dL/dx = dL/doutputs * mask * (1 / (1 - rate)), with the SAME mask the forward pass drew "
     "(self.mask) and the same scale: a dropped entry's gradient is 0. If self.mask is None (nothing "
     "was dropped), return grad_outputs unchanged."),
]
OPTIMIZERS = [
    ("optimizers.py", "Adam.update",
     "t = self.iterations + 1; alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t): Keras folds the bias "
     "correction into the step size. For each (g, w): m += (g - m) * (1 - beta_1); v += (g*g - v) * "
     "(1 - beta_2); with amsgrad, v_hat = max(v_hat, v), used in place of v below; w -= m * alpha / "
     "(sqrt(v) + epsilon): epsilon OUTSIDE the root, Keras's 1e-7, not the paper's 1e-8. Make m, v "
     "(and v_hat) at the first call, zeros like each weight; update them and w in place "
     "(Optimizer.apply counts the step afterwards)."),
    ("optimizers.py", "RMSprop.update",
     "for each (g, w): v = rho * v + (1 - rho) * g * g; centered: a = rho * a + (1 - rho) * g and "
     "d = v - a * a + epsilon, else d = v + epsilon: epsilon INSIDE the square root, unlike Adam. "
     "increment = lr * g / sqrt(d); with momentum > 0: buffer = momentum * buffer + increment and "
     "w -= buffer, else w -= increment. Make the state at the first call (zeros like each weight): "
     "self.velocities, self.average_gradients if centered, self.momentums if momentum > 0; update in place."),
    ("optimizers.py", "Optimizer.decay_weights",
     "decoupled weight decay (AdamW, and weight_decay= on any optimizer): for each w, in place, "
     "w -= w * self.weight_decay * self.learning_rate. Not added to the gradient: apply calls this "
     "before update, which uses the gradients taken before the decay."),
    ("optimizers.py", "Adagrad.update",
     "for each (g, w): accumulator += g * g (make the accumulators at the first call, each filled with "
     "self.initial_accumulator_value, Keras's 0.1); w -= lr * g / sqrt(accumulator + epsilon): epsilon "
     "INSIDE the root. In place."),
    ("optimizers.py", "Optimizer.clip",
     "return new gradients: clipnorm c: each g times c / max(||g||, c), ||g|| the tensor's own "
     "Euclidean norm; global_clipnorm c: every g times c * min(1 / G, 1 / c), G = sqrt(sum of ||g||^2 "
     "over all tensors); clipvalue v: np.clip(g, -v, v)."),
]
NORMALIZATION = [
    ("layers.py", "BatchNormalization.forward",
     "not training: return self.normalize(x, self.moving_mean, self.moving_variance). Training: mean and "
     "variance of x over the batch (axis 0), (features,) each, the variance BIASED (divide by B, not B - 1); "
     "update the moving statistics in place: moving = moving * momentum + batch * (1.0 - momentum); "
     "return self.normalize(x, mean, variance)."),
    ("layers.py", "Normalization.normalize",
     "inv_std = 1 / sqrt(variance + epsilon); keep self.inv_std and self.x_hat = (x - mean) * inv_std "
     "for backward; return gamma * x_hat + beta, computed as Keras does: inv = inv_std * gamma, "
     "x * inv + (beta - mean * inv)."),
    ("layers.py", "Normalization.backward",
     "g = grad_outputs (B, features): self.grad_gamma = sum over the batch of g * x_hat, self.grad_beta = "
     "sum of g (both (features,), in place); then g_hat = g * gamma and dL/dx = (g_hat - mean(g_hat) - "
     "x_hat * mean(g_hat * x_hat)) * inv_std, both means over self.axis (keepdims=True): the batch for BN, "
     "the features for LN. Return None if need_grad_inputs is False."),
    ("layers.py", "LayerNormalization.forward",
     "mean and BIASED variance of each sample over its features (axis 1, keepdims=True: (B, 1) each), "
     "the same in training and evaluation; return self.normalize(x, mean, variance)."),
]
EARLY_STOPPING = [
    ("callbacks.py", "EarlyStopping.on_epoch_end",
     "after each epoch (from start_from_epoch on): wait += 1; the first epoch, or current + min_delta < best "
     "(max mode: current - min_delta > best), compared in float32 (self._is_improvement), is an improvement: "
     "best = current, and wait = 0 unless a baseline is not beaten; otherwise, once wait >= patience and "
     "epoch > 0, set self.stopped_epoch = epoch and self.model.stop_training = True. (wait > patience stops "
     "one epoch late.) restore_best_weights: keep self.model.get_weights() of the best epoch."),
]
GRAPHS = [
    ("functional.py", "Model.backward",
     "from dL/dlogits (grad_logits) back through self.nodes in reverse: each node's output gradient "
     "(grads.pop(id(node.output))), then its layer's backward pass (the last node's backward_affine), with "
     "need_grad_inputs=self.weights_below[index]; then for each input tensor t of the node (a merge layer gives "
     "a list) whose self._needs_gradient[id(t)] is True, ADD the gradient into grads[id(t)] (t may feed several "
     "layers: its gradient is the sum of theirs; overwriting keeps only the last)."),
]
L2_PENALTY = [
    ("regularizers.py", "L2.gradient",
     "d penalty / dkernel = 2 * l2 * kernel, shape (in, out): the 2 comes from d(W**2)/dW, since "
     "Keras's penalty has no 1/2 in front."),
    ("regularizers.py", "L2.__call__",
     "penalty = l2 * sum(kernel ** 2) over every entry, as a float: no 1/2, and not divided by the "
     "batch size (Keras adds it once per batch to the batch's mean loss)."),
]
L1_PENALTY = [
    ("regularizers.py", "L1.gradient",
     "d penalty / dkernel = l1 * sign(kernel), shape (in, out): 0 where an entry is exactly 0, as "
     "TensorFlow's gradient of |x| is (np.sign gives that 0)."),
    ("regularizers.py", "L1.__call__",
     "penalty = l1 * sum(|kernel|) over every entry, as a float, not divided by the batch size."),
]
SCHEDULE = [
    ("schedules.py", "CosineDecay._cosine",
     "the learning rate `step` updates into the cosine (step <= decay_steps, the caller clips it): "
     "decay_from * ((1 - alpha) * 0.5 * (1 + cos(pi * step / decay_steps)) + alpha), a float: half a "
     "cosine from decay_from down to alpha * decay_from, reached at step = decay_steps."),
    ("schedules.py", "ExponentialDecay.__call__",
     "the learning rate after `step` updates: initial_learning_rate * decay_rate ** (step / decay_steps), "
     "a float; with staircase, the exponent rounded down to a whole number (math.floor)."),
    ("schedules.py", "PiecewiseConstantDecay.__call__",
     "values[0] while step <= boundaries[0], values[i] while boundaries[i-1] < step <= boundaries[i], "
     "values[-1] after the last boundary: a step equal to a boundary still takes the value before it."),
]
INITIALIZERS = [
    ("initializers.py", "glorot_uniform",
     "Keras's default kernel: U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)), shape (fan_in, fan_out), "
     "drawn with rng.uniform and cast to dtype: variance limit**2 / 3 = 1 / ((fan_in + fan_out) / 2), so a "
     "layer's outputs keep about the variance of its inputs, forward and backward."),
    ("initializers.py", "VarianceScaling.__call__",
     "variance = scale / max(1, fan), fan = fan_in, fan_out or (fan_in + fan_out) / 2 (self.mode); uniform: "
     "U(-limit, limit), limit = sqrt(3 * variance); truncated_normal: truncated_normal(shape, sqrt(variance) "
     "/ TRUNCATION_RESCALE, rng), the sd divided by 0.8796 so the truncated draws have the variance asked for; "
     "untruncated_normal: N(0, sqrt(variance)). Shape (fan_in, fan_out), cast to dtype."),
    ("initializers.py", "truncated_normal",
     "draws of N(0, stddev) of `shape` (rng.normal), each draw beyond 2 * stddev in absolute value drawn "
     "again (and again) until none is left: TensorFlow's truncated_normal. Float64; the caller casts."),
]
REST = [
    ("layers.py", "Flatten.forward",
     "(B, d1, d2, ...) -> (B, d1 * d2 * ...) in row-major order: x.reshape(len(x), -1). (Its backward "
     "is left written: Flatten comes first, and no layer needs dL/dx of the data.)"),
]
SPARSE = [
    ("losses.py", "sparse_categorical_crossentropy_from_logits",
     "return (loss, probabilities, grad_logits) for integer labels (B,): loss = mean over the batch of "
     "logsumexp(z_i) - z_(i, label_i) (a float); probabilities = softmax(z) (B, K); grad_logits = "
     "(probabilities - onehot(labels)) / B. Pick each row's z at its label with z[np.arange(B), labels] "
     "rather than building the one-hot."),
]

SOFTMAX_JVP = [
    ("activations.py", "Softmax.backward",
     "a softmax inside the network (not the output's: the loss differentiates that one with the "
     "cross-entropy): from g = dL/dp (B, units) and p = self.outputs, dL/dz = p * (g - sum_k g_k p_k), the "
     "sum over each row's units (axis=1, keepdims=True), shape (B, units). It is the Jacobian dp_k/dz_j = "
     "p_k (delta_kj - p_j) times g, without forming the (units, units) Jacobian."),
]

LOSS_OBJECTS = [
    ("losses.py", "CategoricalCrossentropy.crossentropy",
     "the loss object called alone, loss(y_true, y_pred), per sample (B,), one-hot y_true (B, K): from logits "
     "(self.from_logits), logsumexp(z) - sum_k y_k z_k with each row shifted by its own max (_log_softmax(z) "
     "gives z - logsumexp(z)); from probabilities, p = y_pred / its row's sum, clipped to [EPSILON, 1 - EPSILON] "
     "(Keras's 1e-7: a 0 would give log 0), then -sum_k y_k log p_k. __call__ takes the mean."),
    ("losses.py", "SparseCategoricalCrossentropy.crossentropy",
     "the same with integer labels (B,): z = y_pred from logits, else log(clip(y_pred, EPSILON, 1 - EPSILON)), "
     "clipped but not renormalised first (the log-softmax renormalises); then logsumexp(z_i) - z_(i, label_i), "
     "per sample (B,): e.g. -_log_softmax(z)[np.arange(B), labels]."),
]

ACTIVATIONS = [
    ("activations.py", "Sigmoid.forward",
     "s = sigmoid(z) (use the module's sigmoid function), shape (B, units); keep it in self.outputs and return it."),
    ("activations.py", "sigmoid",
     "1 / (1 + exp(-z)) entry by entry, without overflow: with e = exp(-|z|) (never above 1), 1 / (1 + e) where "
     "z >= 0 and e / (1 + e) where z < 0 (np.where)."),
    ("activations.py", "Sigmoid.backward",
     "dL/dz = dL/doutputs * s * (1 - s), s = self.outputs: the sigmoid's slope, at most 1/4 (at z = 0)."),
    ("activations.py", "Tanh.forward", "t = tanh(z) (np.tanh); keep it in self.outputs and return it."),
    ("activations.py", "Tanh.backward", "dL/dz = dL/doutputs * (1 - t**2), t = self.outputs."),
    ("activations.py", "LeakyReLU.forward",
     "z where z > 0, else self.negative_slope * z (0.2: keras.activations.leaky_relu's default); keep the mask "
     "z > 0 in self.positive and the result in self.outputs."),
    ("activations.py", "LeakyReLU.backward",
     "dL/dz = dL/doutputs * (1 where self.positive, else self.negative_slope), in the gradient's dtype."),
    ("activations.py", "ELU.forward",
     "z where z > 0, else alpha * (exp(z) - 1) (np.expm1 of min(z, 0), so no exp overflows); keep z > 0 in "
     "self.positive and the result in self.outputs."),
    ("activations.py", "ELU.backward",
     "dL/dz = dL/doutputs * (1 where self.positive, else alpha * exp(z) = self.outputs + alpha)."),
    ("activations.py", "SELU.forward",
     "self.SCALE * elu(z) with alpha = self.ALPHA (ELU's forward: super().forward(z)); keep it in self.outputs."),
    ("activations.py", "SELU.backward",
     "dL/dz = dL/doutputs * (SCALE where self.positive, else SCALE * ALPHA * exp(z) = self.outputs + SCALE * alpha)."),
    ("activations.py", "Softplus.forward",
     "log(1 + exp(z)) computed as max(z, 0) + log1p(exp(-|z|)); keep a copy of z in self.logits (the backward "
     "pass needs it) and the result in self.outputs."),
    ("activations.py", "Softplus.backward", "dL/dz = dL/doutputs * sigmoid(z), z = self.logits."),
    ("activations.py", "Softsign.forward",
     "z / (1 + |z|); keep the denominator 1 + |z| in self.denominator and the result in self.outputs."),
    ("activations.py", "Softsign.backward", "dL/dz = dL/doutputs / (1 + |z|)**2 (self.denominator squared)."),
    ("activations.py", "SiLU.forward",
     "z * sigmoid(z); keep a copy of z in self.logits, sigmoid(z) in self.s, and the result in self.outputs."),
    ("activations.py", "SiLU.backward", "dL/dz = dL/doutputs * s * (1 + z * (1 - s)), s = self.s, z = self.logits."),
    ("activations.py", "GELU.forward",
     "exact (self.approximate False, Keras's default): keep a copy of z in self.logits, Phi(z) = 0.5 * (1 + "
     "erf(z / sqrt 2)) in self.cdf, and return z * Phi(z) in self.outputs; approximate: t = tanh(sqrt(2/pi) "
     "(z + 0.044715 z**3)) in self.t, outputs 0.5 z (1 + t)."),
    ("activations.py", "erf",
     "the error function entry by entry, in x's dtype: NumPy has none, so apply the standard library's math.erf "
     "to every entry (np.frompyfunc(math.erf, 1, 1) makes it an array function; cast with .astype(x.dtype))."),
    ("activations.py", "GELU.backward",
     "dL/dz = dL/doutputs * (Phi(z) + z * phi(z)), phi(z) = exp(-z**2 / 2) / sqrt(2 pi) (exact form); "
     "approximate: 0.5 (1 + t) + 0.5 z (1 - t**2) sqrt(2/pi) (1 + 3 * 0.044715 z**2)."),
]

LOSSES = [
    ("losses.py", "Loss.head",
     "return (loss, outputs, grad_logits) through the output activation: outputs = activation.forward(logits); "
     "loss = the batch's mean of self.per_sample(y_true, outputs), a float; grad_logits = "
     "activation.backward(self.gradient(y_true, outputs)) (None if gradient is False)."),
    ("losses.py", "MeanSquaredError.per_sample", "mean over the last axis of (y_true - y_pred)**2: (B, K) -> (B,)."),
    ("losses.py", "MeanSquaredError.gradient",
     "d(batch mean)/dy_pred = 2 * (y_pred - y_true) / (K * B), shape (B, K): y_pred.size is K * B. Keep the 2 "
     "(no 1/2 in Keras's MSE) and divide by the outputs as well as the batch."),
    ("losses.py", "MeanAbsoluteError.per_sample", "mean over the last axis of |y_true - y_pred|: (B, K) -> (B,)."),
    ("losses.py", "MeanAbsoluteError.gradient", "sign(y_pred - y_true) / (K * B), 0 where they are equal (np.sign)."),
    ("losses.py", "BinaryCrossentropy.head",
     "a sigmoid output (or from_logits=True): from the logits z, loss = the batch's mean of mean_k "
     "sigmoid_crossentropy_with_logits(z, y), grad_logits = (sigmoid(z) - y) / (K * B), outputs = "
     "activation.forward(z); any other output: Loss.head (super().head(...))."),
    ("losses.py", "sigmoid_crossentropy_with_logits",
     "entry by entry, max(z, 0) - z * y + log(1 + exp(-|z|)) (np.log1p): -(y log s + (1 - y) log(1 - s)) for "
     "s = sigmoid(z), without overflow."),
    ("losses.py", "BinaryCrossentropy.per_sample",
     "from_logits: mean_k sigmoid_crossentropy_with_logits(y_pred, y_true); else p = clip(y_pred, EPSILON, "
     "1 - EPSILON) FIRST, then mean_k -(y log p + (1 - y) log(1 - p)): (B, K) -> (B,)."),
    ("losses.py", "BinaryCrossentropy.gradient",
     "from_logits: (sigmoid(y_pred) - y_true) / (K * B); else, with p clipped as above, (p - y) / (p (1 - p)) "
     "/ (K * B) where y_pred was inside [EPSILON, 1 - EPSILON], and 0 where the clip moved it."),
]

TOPICS = {
    "network": NETWORK + SOFTMAX_JVP,
    "optimizers": OPTIMIZERS + SCHEDULE,
    "regularization": DROPOUT + L2_PENALTY + L1_PENALTY + EARLY_STOPPING,
    "normalization": NORMALIZATION,
    "initializers": INITIALIZERS,
    "activations": ACTIVATIONS,
    "losses": LOSSES,
    "graphs": GRAPHS,
    # in check's order: the default initializer at the first build_model, the others in the sanity stage;
    # its "more of Keras" rows run Adam, RMSprop, L2, integer labels, the normalizations,
    # then AdamW, Adagrad, weight decay, clipping, L1, the three schedules and a hidden softmax; then the
    # loss objects called alone
    "all": INITIALIZERS[:1] + NETWORK + INITIALIZERS[1:] + DROPOUT + REST + OPTIMIZERS[:2] + L2_PENALTY + SPARSE
           + NORMALIZATION + OPTIMIZERS[2:] + L1_PENALTY + SCHEDULE + SOFTMAX_JVP + ACTIVATIONS + LOSSES + GRAPHS
           + EARLY_STOPPING + LOSS_OBJECTS,
}
TOPIC_HELP = {
    "network": "the plain network: Dense forward and backward, ReLU, softmax, the cross-entropy and its "
               "gradient, the SGD step (with momentum and Nesterov), and the backward pass of a softmax "
               "inside the network",
    "optimizers": "Adam (with its bias correction and amsgrad), RMSprop (centered, with momentum), decoupled "
                  "weight decay (AdamW), Adagrad, gradient clipping, and the learning-rate schedules (cosine, "
                  "exponential, piecewise): where Keras puts epsilon, and why",
    "normalization": "BatchNormalization (batch moments in training, moving statistics in evaluation) and "
                     "LayerNormalization, forward and backward",
    "regularization": "Dropout forward and backward (the mask, and the 1 / (1 - rate) scale), the L2 "
                      "and L1 penalties with their gradients, and EarlyStopping's rule",
    "initializers": "the initial kernels: Glorot uniform (Keras's default), the VarianceScaling family (He, "
                    "LeCun, Glorot normal) and the normal truncated at 2 standard deviations",
    "activations": "the textbooks' activations, forward and backward: sigmoid, tanh, leaky ReLU, ELU, SELU, "
                   "softplus, softsign, SiLU (swish) and the exact GELU",
    "losses": "the losses of other tasks and their gradients: mean squared and mean absolute error, and binary "
              "cross-entropy (from a sigmoid's logits, and from probabilities with Keras's clip)",
    "graphs": "backpropagation through a graph of layers (the functional API): the nodes in reverse, and the "
              "gradient of a tensor that feeds several layers summed, not overwritten",
    "all": "every function that carries the math, the integer-label loss, Flatten and the loss objects called "
           "alone included",
}
class ExerciseError(ValueError):
    """DIR cannot take the exercise."""


def functions_to_write(topic="network"):
    """[(file, qualified name, what to compute)] of a topic, in the order the check needs them."""
    if topic not in TOPICS:
        raise ExerciseError(f"unknown topic {topic!r}: use one of {', '.join(TOPICS)}")
    return list(TOPICS[topic])


def blank_functions(source, functions):
    """`source` with each named function's body replaced by a NotImplementedError.

    functions: {qualified name ("Dense.affine" or "softmax"): what to compute}.
    """
    tree = ast.parse(source)
    nodes = dict(_functions(tree))
    missing = [name for name in functions if name not in nodes]
    if missing:
        raise ExerciseError(f"numpy_impl has no {', '.join(missing)}: update compare/exercise.py's list")
    comments = _comments(source)
    lines = source.splitlines(keepends=True)
    # Replace from the bottom up so earlier line numbers stay valid.
    for name in sorted(functions, key=lambda n: nodes[n].lineno, reverse=True):
        node = nodes[name]
        body = node.body[1:] if _has_docstring(node) else node.body
        if not body:
            raise ExerciseError(f"{name} has no body to blank")
        first, last = body[0].lineno, node.end_lineno
        indent = " " * body[0].col_offset
        hints = [f"{indent}# {text}\n" for line, text in comments if first <= line <= last]
        replacement = hints + _raise(f"{name}: {functions[name]}", indent)
        lines[first - 1:last] = replacement
    return "".join(lines)


def _raise(message, indent, width=88):
    """raise NotImplementedError("..." "...") over several short lines."""
    chunks = textwrap.wrap(message, width - len(indent) - 6, drop_whitespace=False, break_on_hyphens=False)
    assert "".join(chunks) == message
    lines = [f"{indent}raise NotImplementedError(\n"]
    lines += [f"{indent}    {chunk!r}\n" for chunk in chunks[:-1]] + [f"{indent}    {chunks[-1]!r})\n"]
    return lines


def _functions(tree, prefix=""):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")


def _has_docstring(node):
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _comments(source):
    """[(line, comment text without '#')] for every comment in `source`."""
    return [(token.start[0], token.string.lstrip("#").strip())
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT]


HEADER = ("# Exercise: generated from numpy_impl/{file} by `python -m compare exercise`.\n"
          "# Write the functions that raise NotImplementedError, then run: python -m compare check {dir}\n")


def write_exercise(directory, topic="network"):
    """Write the exercise package for `topic` into `directory` (new or empty); returns its path."""
    functions = functions_to_write(topic)
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "is a file" if not target.is_dir() else "exists and is not empty"
        raise ExerciseError(f"{directory} {what}: give a new folder for the exercise (nothing was written)")
    source_dir = Path(numpy_impl.__file__).parent
    parent = target.resolve().parent
    if not parent.is_dir():
        raise ExerciseError(f"{parent} does not exist: create it first, or give another folder")
    by_file = {}
    for file, name, what in functions:
        by_file.setdefault(file, {})[name] = what
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=parent))
    try:
        for path in sorted(source_dir.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path.name in by_file:
                text = HEADER.format(file=path.name, dir=directory) + blank_functions(text, by_file[path.name])
            (staging / path.name).write_text(text, encoding="utf-8")
        (staging / "README.md").write_text(_readme(directory, topic), encoding="utf-8")
        os.chmod(staging, 0o755)
        if target.exists():
            target.rmdir()                   # empty, checked above
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _readme(directory, topic):
    functions = functions_to_write(topic)
    rows = "\n".join(f"{number}. `{file}`: `{name}`: {what}"
                     for number, (file, name, what) in enumerate(functions, 1))
    return f"""# Your twin: numpy_impl with the math left out (topic: {topic})

The topic: {TOPIC_HELP[topic]}.

This folder is a copy of `numpy_impl` in which {len(functions)} functions raise
`NotImplementedError`. Their docstrings and the comments that were beside the
code (shapes, equations) are kept as hints. Write them, in this order (the
order in which the check needs them):

{rows}

After each one, run

    python -m compare check {directory}

It checks your twin against numpy_impl and against Keras with TensorFlow's
autodiff, stage by stage (API, forward, loss, gradients, optimizer steps,
fit, Dropout, Flatten, more of Keras), and at the first failure names the function to write or says where
the error enters. When every stage passes, your network is Keras's, to
float64 rounding. The derivation is in the project's `docs/backprop.md`.
"""


def describe(directory, topic):
    functions = functions_to_write(topic)
    lines = [f"Wrote the exercise to {directory}/ (topic '{topic}': {TOPIC_HELP[topic]}).",
             f"numpy_impl with {len(functions)} functions to write:"]
    lines += [f"  {number}. {file}: {name}" for number, (file, name, _) in enumerate(functions, 1)]
    lines += ["", f"Write them in that order (see {directory}/README.md), checking as you go:",
              f"  python -m compare check {directory}"]
    return "\n".join(lines)
