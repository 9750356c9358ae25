"""The references `python -m compare check` measures a twin against, computed once per process.

One small float64 network (24-16-16-10: the 16 -> 16 layer is square on
purpose), its weights (biases non-zero, so a forgotten bias shows), the
batches, and what numpy_impl and the Keras twin (TensorFlow's autodiff) answer
on them; the bounds a twin must meet; and how differences are measured.
"""
import functools
import math

import numpy as np

import numpy_impl

from ..twins import quiet

# The network and batches every check uses (float64 throughout).
INPUT_DIM, HIDDEN, CLASSES, BATCH = 24, (16, 16), 10, 32
LARGE_LOGIT = 1000.0           # exp(1000) overflows float64 (its largest exp is exp(709.78))
STEP_LEARNING_RATE, STEP_MOMENTUM, STEPS = 0.1, 0.9, 3
FIT_SAMPLES, FIT_BATCH, FIT_EPOCHS = 70, 16, 2        # 70 = 4 * 16 + 6: a partial last batch
FD_ENTRIES = 30                                       # finite differences per tensor (sampled)
# Dropout after each hidden layer. Not 0.5, so that a rate taken as the keep probability shows.
DROPOUT_RATE = 0.3
DROPOUT_SAMPLES = 4096                               # rows of the (4096, 16) array a Dropout layer is fed alone
IMAGE_SHAPE = (4, 6)                                 # Flatten: (B, 4, 6) images of the same 24 features

# Bounds: float64 rounding is ~1e-16; these leave room for a different but correct order of sums.
BOUND_PROBABILITIES = 1e-12    # largest |p - p_ref|
BOUND_LOSS = 1e-12             # |L - L_ref| / |L_ref|
BOUND_GRADIENT = 1e-9          # largest |g - g_ref|, relative to the largest |g_ref|
BOUND_FINITE_DIFFERENCES = 1e-6
BOUND_WEIGHTS = 1e-12          # largest |w - w_ref| after the optimizer steps
BOUND_FIT = 1e-11              # largest difference of weights and History after the lockstep fit
BOUND_SCALE = 1e-15            # kept entries: largest |out / (x / (1 - rate)) - 1|; x * (1 / (1 - rate)) is within 1 ulp
BINOMIAL_SIGMAS = 5            # dropped share within 5 standard deviations of the rate (a false alarm: 6e-7)
BOUND_INITIAL_LOSS = 0.5       # |initial loss - ln(10)|: numpy_impl's Glorot start is 0.03..0.19 off on seeds 0..4
OVERFIT_LEARNING_RATE = 0.1    # SGD, momentum 0.9, from the reference weights: numpy_impl memorises the batch by step 75
OVERFIT_STEPS, OVERFIT_CHUNK = 300, 25   # at most 300 steps, accuracy read every 25 (one fit call each)

# The initial kernels: Keras's VarianceScaling family (keras/src/initializers/random_initializers.py),
# name -> (scale, fan, distribution). Each kernel (fan_in, fan_out) has variance scale / fan, drawn
# uniform on +-sqrt(3 * variance), or normal with sd sqrt(variance) / 0.8796... and every draw beyond
# 2 sd drawn again (the truncation takes the variance back to scale / fan). Glorot uniform first: the default.
INITIALIZERS = {"glorot_uniform": (1.0, "fan_avg", "uniform"), "he_uniform": (2.0, "fan_in", "uniform"),
                "glorot_normal": (1.0, "fan_avg", "truncated_normal"),
                "he_normal": (2.0, "fan_in", "truncated_normal"),
                "lecun_normal": (1.0, "fan_in", "truncated_normal")}
# A wide network for them: kernels 500 x 250 and 250 x 100, where fan_in, fan_out and their mean all differ.
INITIALIZER_NETWORK = dict(input_dim=500, hidden=(250,), num_classes=100)
TRUNCATED_SD = 0.87962566103423978     # the sd of N(0, 1) with every draw beyond +-2 drawn again
KURTOSIS = {"uniform": 1.8, "truncated_normal": 2.3655}     # E[w^4] / E[w^2]^2; a plain normal's is 3
BOUND_INITIAL_VARIANCE = 0.05  # |variance / (scale / fan) - 1| per kernel: 6.8 sd of the estimate at 25,000 entries
BOUND_INITIAL_MEAN = 0.05      # |mean| / sd per kernel: 7.9 sd of the estimate at 25,000 entries
BOUND_KURTOSIS = 0.2           # of both kernels pooled, each in units of its sd: about 40 sd of the estimate

# The rest of the vocabulary, checked where the twin's build_model takes it (skipped where not):
# name -> (build_model arguments, where to look, what it computes)
VOCABULARY = {
    "Adam": (dict(optimizer="adam", learning_rate=0.01), "adam",
             "alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t); m += (g - m) * (1 - beta_1); "
             "v += (g*g - v) * (1 - beta_2); w -= m * alpha / (sqrt(v) + epsilon), epsilon 1e-7 outside the root"),
    "Adam, amsgrad": (dict(optimizer="adam", learning_rate=0.01, optimizer_options={"amsgrad": True}), "adam",
                      "as Adam, with v_hat = max(v_hat, v) in place of v in the step"),
    "RMSprop": (dict(optimizer="rmsprop", learning_rate=0.01), "rmsprop",
                "v = rho*v + (1-rho)*g*g; w -= lr*g / sqrt(v + epsilon), epsilon 1e-7 inside the root"),
    "RMSprop, centered, momentum 0.5": (
        dict(optimizer="rmsprop", learning_rate=0.01, momentum=0.5, optimizer_options={"centered": True}), "rmsprop",
        "v = rho*v + (1-rho)*g*g; a = rho*a + (1-rho)*g; increment = lr*g / sqrt(v - a*a + epsilon) "
        "(epsilon inside the root); buffer = momentum*buffer + increment; w -= buffer"),
    "SGD with L2 0.01": (dict(learning_rate=0.1, l2=0.01), "l2",
                         "the loss gains l2 * sum(kernel**2) per kernel (not the biases, not divided by the batch "
                         "size), and each kernel's gradient 2 * l2 * kernel"),
    "integer labels, from_logits": (
        dict(learning_rate=0.1, loss="sparse_categorical_crossentropy", from_logits=True), "sparse",
        "a linear last layer; loss = mean of logsumexp(z) - z[label]; dL/dz = (softmax(z) - onehot(label)) / B"),
    "BatchNormalization, SGD momentum 0.9": (
        dict(batchnorm=True, learning_rate=0.05, momentum=0.9), "batchnorm",
        "Dense (no bias) -> BatchNormalization -> ReLU; training: x_hat = (x - mean) / sqrt(var + 1e-3) with the "
        "batch's mean and BIASED variance per feature, out = gamma * x_hat + beta; moving = moving * 0.99 + "
        "batch * (1 - 0.99) for the mean and the variance; dL/dx = (g_hat - mean(g_hat) - x_hat * "
        "mean(g_hat * x_hat)) / sqrt(var + 1e-3), g_hat = dL/dout * gamma, means over the batch"),
    "LayerNormalization": (
        dict(layernorm=True, learning_rate=0.05), "layernorm",
        "Dense -> LayerNormalization -> ReLU; as BatchNormalization but the moments of each sample over its "
        "own features (axis 1), and no moving statistics"),
    "AdamW": (dict(optimizer="adamw", learning_rate=0.01), "adamw",
              "w = w - w * weight_decay * lr (0.004 by default) before Adam's own step, with the gradient "
              "taken before the decay"),
    "Adagrad": (dict(optimizer="adagrad", learning_rate=0.05), "adagrad",
                "accumulator = accumulator + g*g (starting at 0.1); w -= lr * g / sqrt(accumulator + 1e-7), "
                "epsilon inside the root"),
    "SGD, weight_decay 0.01": (dict(learning_rate=0.1, optimizer_options={"weight_decay": 0.01}), "weight_decay",
                               "w = w - w * 0.01 * lr on every weight, biases too, then the SGD step"),
    "SGD, clipnorm 0.1": (dict(learning_rate=0.1, optimizer_options={"clipnorm": 0.1}), "clipping",
                          "each gradient tensor g = g * 0.1 / max(||g||, 0.1) before the step"),
    "SGD with L1 0.001": (dict(learning_rate=0.1, l1=0.001), "l1",
                          "the loss gains l1 * sum(|kernel|) per kernel, each kernel's gradient l1 * sign(kernel)"),
    "SGD, cosine schedule": (dict(learning_rate=0.1, schedule=dict(name="cosine", decay_steps=STEPS)), "schedules",
                             "update k (from 0) uses lr * 0.5 * (1 + cos(pi * k / decay_steps)): the rate "
                             "is the schedule's value at the updates made so far"),
    "SGD, exponential schedule": (
        dict(learning_rate=0.1, schedule=dict(name="exponential", decay_steps=2, decay_rate=0.5)), "exponential",
        "update k (from 0) uses lr * decay_rate ** (k / decay_steps), a smooth decay (not stepped: staircase=False)"),
    "SGD, piecewise schedule": (
        dict(learning_rate=0.1, schedule=dict(name="piecewise", boundaries=[1], factors=[1.0, 0.3])), "piecewise",
        "update k (from 0) uses values[0] while k <= boundaries[0], then values[1]: a boundary still takes the "
        "value before it"),
    "hidden layers' softmax": (
        dict(learning_rate=0.1, activation="softmax"), "softmax_backward",
        "p = softmax(z) over each hidden layer's units, and back through it dL/dz = p * (g - sum_k g_k p_k), "
        "g = dL/dp (B, units), the sum over each row's units (axis=1, keepdims=True): the softmax's Jacobian "
        "times g, never formed"),
    # the textbooks' activations in the hidden layers (issue 45), each with its classic slip named
    "sigmoid hidden layers": (
        dict(learning_rate=0.1, activation="sigmoid"), "sigmoid",
        "s = sigmoid(z) = 1 / (1 + exp(-z)), and back through it dL/dz = g * s * (1 - s): the slope is "
        "s (1 - s), at most 1/4, not s itself"),
    "tanh hidden layers": (
        dict(learning_rate=0.1, activation="tanh"), "tanh",
        "t = tanh(z), and back through it dL/dz = g * (1 - t**2): one minus the SQUARE of tanh, not 1 - tanh"),
    "leaky_relu hidden layers": (
        dict(learning_rate=0.1, activation="leaky_relu"), "leaky_relu",
        "leaky_relu(z) = z where z > 0, else 0.2 z, and its slope 1 or 0.2: keras.activations.leaky_relu (and "
        "Dense(activation='leaky_relu')) takes the FUNCTION's slope 0.2; 0.3 is the layer LeakyReLU's default"),
    "elu hidden layers": (
        dict(learning_rate=0.1, activation="elu"), "elu",
        "elu(z) = z where z > 0, else alpha (exp(z) - 1) with alpha 1, and its slope 1, else alpha exp(z) "
        "(= elu(z) + alpha)"),
    "selu hidden layers": (
        dict(learning_rate=0.1, activation="selu"), "selu",
        "selu(z) = scale * elu(z, alpha) with Keras's alpha 1.6732632423543772 and scale 1.0507009873554805; "
        "its slope scale, else scale alpha exp(z)"),
    "softplus hidden layers": (
        dict(learning_rate=0.1, activation="softplus"), "softplus",
        "softplus(z) = log(1 + exp(z)) (max(z, 0) + log1p(exp(-|z|)) does not overflow), and its slope "
        "sigmoid(z)"),
    "softsign hidden layers": (
        dict(learning_rate=0.1, activation="softsign"), "softsign",
        "softsign(z) = z / (1 + |z|), and its slope 1 / (1 + |z|)**2"),
    "silu hidden layers": (
        dict(learning_rate=0.1, activation="silu"), "silu",
        "silu(z) = z sigmoid(z), and its slope s (1 + z (1 - s)) with s = sigmoid(z): the product rule, "
        "not s (1 - s)"),
    "gelu hidden layers": (
        dict(learning_rate=0.1, activation="gelu"), "gelu",
        "gelu(z) = 0.5 z (1 + erf(z / sqrt 2)), the EXACT form (Keras's default, approximate=False; not the "
        "tanh approximation), and its slope Phi(z) + z phi(z) = 0.5 (1 + erf(z / sqrt 2)) + z exp(-z**2 / 2) "
        "/ sqrt(2 pi)"),
    # the textbooks' losses (issue 45), with the output each one meets
    "mean_squared_error, sigmoid output": (
        dict(learning_rate=0.5, loss="mean_squared_error", output_activation="sigmoid"), "mse",
        "loss = mean over the batch of mean_k (p_k - y_k)**2, p = sigmoid(z); dL/dp = 2 (p - y) / (K B), K the "
        "outputs and B the batch: keep the 2 (Keras's MSE has no 1/2) and divide by BOTH K and B, then back "
        "through the sigmoid, dL/dz = dL/dp * p (1 - p)"),
    "mean_absolute_error, linear output": (
        dict(learning_rate=0.5, loss="mean_absolute_error"), "mae",
        "loss = mean over the batch of mean_k |p_k - y_k|; dL/dp = sign(p - y) / (K B), 0 where p = y"),
    "binary_crossentropy, sigmoid output": (
        dict(learning_rate=0.5, loss="binary_crossentropy"), "bce_fused",
        "from the sigmoid's logits z, as Keras on TensorFlow computes it: loss = mean over the batch of "
        "mean_k max(z, 0) - z y + log(1 + exp(-|z|)), and dL/dz = (sigmoid(z) - y) / (K B): divided by the "
        "outputs K AND the batch B (the sigmoid's slope cancels)"),
    "binary_crossentropy, from_logits": (
        dict(learning_rate=0.5, loss="binary_crossentropy", from_logits=True), "bce_fused",
        "a linear last layer; the same loss from its logits, dL/dz = (sigmoid(z) - y) / (K B)"),
    "binary_crossentropy, clipped": (
        dict(learning_rate=0.05, loss="binary_crossentropy", output_activation="linear"), "bce",
        "from outputs p that are not probabilities (a linear layer): p clipped to [1e-7, 1 - 1e-7] FIRST, then "
        "loss = mean of mean_k -(y log p + (1 - y) log(1 - p)); dL/dp = (p - y) / (p (1 - p)) / (K B), and 0 "
        "where the clip moved p (without the clip, log of a negative p is NaN)"),
    # a graph of layers (issue 46): the gradient sum at a fan-out
    "residual network (Add)": (
        dict(learning_rate=0.1, residual=True), "graph",
        "x = Add()([x, Dense(x)]): x is read by two layers, the Dense and the Add, so dL/dx is the SUM of the "
        "gradients both send back (the multivariable chain rule): add each reader's gradient into it, never "
        "overwrite it with the last one"),
}


def _options(learning_rate=0.01, momentum=0.0, nesterov=False):
    return dict(input_dim=INPUT_DIM, hidden=HIDDEN, num_classes=CLASSES, learning_rate=learning_rate,
                momentum=momentum, nesterov=nesterov, seed=0, dtype="float64")


# ---- the answers: computed here, or installed from the cache (cache.py) ----------------------

_installed = None      # a bundle of every answer below, once cache.prepare() has loaded or computed it


def install(bundle):
    """Answer from `bundle` (compute_bundle()'s form) from now on, without computing anything."""
    global _installed
    _installed = bundle


def compute_bundle():
    """Every answer check compares a twin with, in one plain-data dict (what the cache keeps)."""
    return {"reference": _reference(), "dropout": _dropout_reference(),
            "vocabulary": {label: _vocabulary_reference(label) for label in VOCABULARY},
            "vocabulary_weights": {label: _vocabulary_weights(label) for label in VOCABULARY},
            "loss_objects": _loss_objects_reference(), "early_stopping": _early_stopping_reference()}


def reference():
    """Weights, batches and both references' answers: they do not depend on the twin checked."""
    return _installed["reference"] if _installed else _reference()


def dropout_reference():
    return _installed["dropout"] if _installed else _dropout_reference()


def vocabulary_reference(label):
    return _installed["vocabulary"][label] if _installed else _vocabulary_reference(label)


def vocabulary_weights(label):
    return _installed["vocabulary_weights"][label] if _installed else _vocabulary_weights(label)


def loss_objects_reference():
    return _installed["loss_objects"] if _installed else _loss_objects_reference()


def catalogue():
    """The name ("stage: what") of every row a complete twin shows (cache.prepare() makes it)."""
    return _installed["catalogue"] if _installed else []


@functools.lru_cache(maxsize=1)
def _reference():
    import keras_impl

    rng = np.random.default_rng(2024)
    model = numpy_impl.build_model(**_options())
    weights = model.get_weights()
    for index in range(1, len(weights), 2):       # non-zero biases, so a forgotten bias shows
        weights[index] = rng.uniform(-0.2, 0.2, weights[index].shape)
    model.set_weights(weights)
    x = rng.random((BATCH, INPUT_DIM))
    y = numpy_impl.one_hot(rng.integers(0, CLASSES, BATCH), CLASSES, "float64")
    # The same digits scaled until the largest logit is about 1000: exp(z) overflows there.
    x_large = x
    for _ in range(3):                            # biases and ReLU make it not quite linear in the scale
        # each row scaled until its own largest logit is about 1000
        x_large = x_large * (LARGE_LOGIT / np.abs(model.forward(x_large)).max(axis=1, keepdims=True))
    # Rows at very different scales: their largest logits run from about 1 to about 1000, so a
    # softmax that subtracts the batch's largest logit (not each row's own) underflows to 0 / 0.
    x_large = x_large * np.geomspace(1e-3, 1, BATCH)[np.random.default_rng(7).permutation(BATCH), None]
    x_steps = rng.random((STEPS * BATCH, INPUT_DIM))
    y_steps = numpy_impl.one_hot(rng.integers(0, CLASSES, STEPS * BATCH), CLASSES, "float64")
    x_fit = rng.random((FIT_SAMPLES, INPUT_DIM))
    y_fit = numpy_impl.one_hot(rng.integers(0, CLASSES, FIT_SAMPLES), CLASSES, "float64")
    ref = dict(weights=weights, x=x, y=y, x_large=x_large, largest_logit=float(np.abs(model.forward(x_large)).max()),
               row_largest_logit=model.forward(x_large).max(axis=1).copy(),
               smallest_row_logit=float(np.abs(model.forward(x_large)).max(axis=1).min()),
               x_steps=x_steps, y_steps=y_steps, x_fit=x_fit, y_fit=y_fit)

    keras_model = keras_impl.build_model(**_options())
    keras_model.set_weights(weights)
    for name, twin_module, net in (("numpy_impl", numpy_impl, model), ("TensorFlow", keras_impl, keras_model)):
        answers = ref[name] = {}
        answers["probabilities"] = _predict(net, x)
        answers["probabilities_large"] = _predict(net, x_large)
        answers["loss"], answers["gradients"] = twin_module.loss_and_gradients(net, x, y)
        answers["loss_large"] = twin_module.loss_and_gradients(net, x_large, y)[0]
        for label, momentum, nesterov in STEP_KINDS:
            stepper = _eager(twin_module.build_model(**_options(STEP_LEARNING_RATE, momentum, nesterov)))
            stepper.set_weights(weights)
            stepper.fit(x_steps, y_steps, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            answers[f"steps_{label}"] = stepper.get_weights()
        fitter = _eager(twin_module.build_model(**_options(0.05, 0.9, False)))
        fitter.set_weights(weights)
        history = fitter.fit(x_fit, y_fit, batch_size=FIT_BATCH, epochs=FIT_EPOCHS, shuffle=False, verbose=0)
        answers["fit_weights"] = fitter.get_weights()
        answers["fit_history"] = {key: list(map(float, history.history[key])) for key in ("loss", "accuracy")}
        answers["evaluate"] = [float(v) for v in _evaluate(fitter, x, y)]
    return ref


def _eager(model):
    """A Keras model fits these few steps eagerly: tracing a graph (about 1 s a model) would
    cost more than the steps themselves. The arithmetic is the same ops in the same order."""
    if hasattr(model, "run_eagerly"):
        model.run_eagerly = True
    return model


def _predict(model, x):
    return np.asarray(model.predict(x, **quiet(model.predict)))


def _evaluate(model, x, y):
    return model.evaluate(x, y, **quiet(model.evaluate))


STEP_KINDS = (("plain SGD", 0.0, False), ("momentum 0.9", STEP_MOMENTUM, False),
              ("Nesterov 0.9", STEP_MOMENTUM, True))


def layer_name(layer):
    return f"layer {layer} ({'output' if layer == len(HIDDEN) else 'hidden'})"


def tensor_label(index):
    layer, kind = divmod(index, 2)
    return f"{('kernel', 'bias')[kind]}_{layer} (layer {layer}, {'output' if layer == len(HIDDEN) else 'hidden'})"


def backprop_order():
    """Weight indices in the order backprop computes them: output layer first, kernel before bias."""
    return [2 * layer + kind for layer in range(len(HIDDEN), -1, -1) for kind in (0, 1)]


@functools.lru_cache(maxsize=None)
def _vocabulary_weights(label):
    """The starting weights of one VOCABULARY setting: the check's own where the network is the same;
    with a normalization layer (other weights: no bias before BatchNormalization, gamma and beta),
    numpy_impl's initial ones for that network, gamma and beta moved off 1 and 0 so every path counts."""
    options = VOCABULARY[label][0]
    if not (options.get("batchnorm") or options.get("layernorm")):
        return reference()["weights"]
    model = numpy_impl.build_model(**{**_options(), **options})
    rng = np.random.default_rng(7)
    for layer in model.layers:
        if isinstance(layer, numpy_impl.layers.Normalization):
            layer.gamma[...] = rng.uniform(0.5, 2.0, layer.gamma.shape)
            layer.beta[...] = rng.normal(0.0, 0.5, layer.beta.shape)
    return model.get_weights()


@functools.lru_cache(maxsize=None)
def _vocabulary_reference(label):
    """numpy_impl's and the Keras twin's weights after STEPS steps of one VOCABULARY setting."""
    import keras_impl
    ref = reference()
    options = VOCABULARY[label][0]
    sparse = options.get("loss") == "sparse_categorical_crossentropy"
    y_steps = ref["y_steps"].argmax(axis=1) if sparse else ref["y_steps"]
    answers = {}
    for name, twin_module in (("numpy_impl", numpy_impl), ("TensorFlow", keras_impl)):
        model = _eager(twin_module.build_model(**{**_options(), **options}))
        model.set_weights(vocabulary_weights(label))
        history = model.fit(ref["x_steps"], y_steps, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        answers[name] = {"weights": model.get_weights(), "loss": [float(history.history["loss"][0])]}
    return answers


@functools.lru_cache(maxsize=1)
def _dropout_reference():
    """Keras's own Dropout masks for one training step of the check's batch, and the loss and
    gradients that Keras (TensorFlow's autodiff) and numpy_impl compute on those masks.

    Keras's Dropout draws from a seed generator whose state is [seed, step]: feeding ones through
    a layer shows the mask its next training call will draw, and rewinding the state makes that
    call draw it again.
    """
    import keras_impl
    ref = reference()
    options = {**_options(), "dropout": DROPOUT_RATE}
    keras_model = keras_impl.build_model(**options)
    keras_model.set_weights(ref["weights"])
    masks = []
    for layer in keras_model.layers:
        if type(layer).__name__ == "Dropout":
            state = layer.seed_generator.state.numpy().copy()
            masks.append(np.asarray(layer(np.ones((BATCH, layer.input.shape[-1])), training=True)) != 0)
            layer.seed_generator.state.assign(state)
    answers = {"masks": masks}
    answers["TensorFlow"] = dict(zip(("loss", "gradients"), keras_impl.loss_and_gradients(keras_model, ref["x"], ref["y"])))
    model = numpy_impl.build_model(**options)
    model.set_weights(ref["weights"])
    for layer, mask in zip([each for each in model.layers if isinstance(each, numpy_impl.Dropout)], masks):
        layer.draw_mask = lambda shape, mask=mask: mask
    answers["numpy_impl"] = dict(zip(("loss", "gradients"), numpy_impl.loss_and_gradients(model, ref["x"], ref["y"])))
    return answers


# ---- loss objects called alone ------------------------------------------------------------

# Keras's loss objects called as its tutorials call them, loss(y_true, y_pred[, sample_weight]):
# probabilities (rows that do not sum to 1, a 0 and a 1 that Keras clips at 1e-7) and logits (rows
# at scales 0.1 to 1000, which only a shift by each row's own max survives). Each case from
# probabilities and from logits, without and with sample weights: 20 calls per loss object.
LOSS_OBJECTS = ("CategoricalCrossentropy", "SparseCategoricalCrossentropy")
LOSS_CASES = {
    "a plain row": ([[0.0, 1, 0]], [[0.1, 0.8, 0.1]]),
    "rows not summing to 1": ([[0.0, 1, 0], [1, 0, 0]], [[0.2, 0.5, 0.1], [0.3, 0.3, 0.9]]),
    "a zero probability": ([[0.0, 1, 0], [0, 0, 1]], [[0.5, 0.0, 0.5], [0.2, 0.3, 0.5]]),
    "certain and right": ([[0.0, 1, 0], [1, 0, 0]], [[0.0, 1, 0], [1, 0, 0]]),
    # each row's own max must shift it: a shift by the batch's max would underflow the small rows
    "rows at scales 0.1 to 1000": ([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]],
                                   [[0.1, 0.3, 0.2], [990.0, 1000, 10], [3, 1, 2]]),
}


def loss_object_calls(kind):
    """[(what, from_logits, y_true, y_pred, sample_weight or None)] of one loss object: every case,
    from probabilities and from logits, without and with sample weights; integer labels if sparse."""
    calls = []
    for from_logits in (False, True):
        for case, (y_true, y_pred) in LOSS_CASES.items():
            y_true, y_pred = np.array(y_true), np.array(y_pred)
            if kind.startswith("Sparse"):
                y_true = y_true.argmax(axis=1)
            for weights in (None, np.linspace(0.5, 1.5, len(y_pred))):
                what = f"{kind}(from_logits={from_logits}) on {case}" + ("" if weights is None else ", sample_weight")
                calls.append((what, from_logits, y_true, y_pred, weights))
    return calls


@functools.lru_cache(maxsize=1)
def _early_stopping_reference():
    """{case: the epoch (from 0) at which numpy_impl's and Keras's EarlyStopping set stop_training, or None}."""
    import keras_impl  # noqa: F401
    import keras
    answers = {}
    for name, package in (("numpy_impl", numpy_impl), ("TensorFlow", keras)):
        answers[name] = [_stop_epoch(package.callbacks.EarlyStopping(**options), _Holder(), values)
                         for options, values in EARLY_STOPPING_CASES]
    return answers


class _Holder:
    """What EarlyStopping reads through callback.model when the reference runs it: stop_training, metrics."""

    def __init__(self):
        self.stop_training, self.metrics = False, []

    def get_weights(self):
        return []


def _stop_epoch(callback, model, values, call=lambda what, function, *args: function(*args),
                stopped=lambda model: model.stop_training):
    """Run `callback` over the val_loss `values`, epoch by epoch: the epoch at which it stops training, or None."""
    call("set_model(model)", callback.set_model, model)
    call("on_train_begin()", callback.on_train_begin)
    for epoch, value in enumerate(values):
        call(f"on_epoch_end({epoch}, logs)", callback.on_epoch_end, epoch, {"val_loss": value})
        if stopped(model):
            return epoch
    return None


# EarlyStopping's cases: (its arguments, the val_loss of each epoch); repeated values, gains under min_delta
EARLY_STOPPING_CASES = [
    (dict(monitor="val_loss", patience=1), [1.0, 0.9, 0.9, 0.95, 0.88, 0.8]),
    (dict(monitor="val_loss", patience=2), [1.0, 0.9, 0.95, 0.97, 0.85, 0.8]),
    (dict(monitor="val_loss", patience=2, min_delta=0.05), [1.0, 0.9, 0.88, 0.87, 0.86, 0.7, 0.69]),
    (dict(monitor="val_loss", patience=0), [1.0, 0.99, 1.2, 0.5]),
]


def early_stopping_reference():
    return _installed["early_stopping"] if _installed else _early_stopping_reference()


@functools.lru_cache(maxsize=1)
def _loss_objects_reference():
    """{kind: {"numpy_impl": [loss per call], "TensorFlow": [...]}}: numpy_impl's loss objects and
    Keras's own, in float64, over loss_object_calls(kind)."""
    import keras_impl  # noqa: F401  (Keras loaded through the twin's package, as the other references load it)
    import keras
    answers = {}
    for kind in LOSS_OBJECTS:
        answers[kind] = {}
        for name, package in (("numpy_impl", numpy_impl.losses), ("TensorFlow", keras.losses)):
            values = []
            for _, from_logits, y_true, y_pred, weights in loss_object_calls(kind):
                loss = getattr(package, kind)(from_logits=from_logits, dtype="float64")
                args = (y_true, y_pred) if weights is None else (y_true, y_pred, weights)
                values.append(float(loss(*args)))
            answers[kind][name] = values
    return answers


# ---- measuring -----------------------------------------------------------------------

def _errors(mine, ref, key, measure, index=None):
    errors = {}
    for name in ("numpy_impl", "TensorFlow"):
        expected = ref[name][key] if index is None else ref[name][key][index]
        errors[name] = measure(mine, expected)
    return errors


def _within(errors, bound):
    return all(np.isfinite(e) and e <= bound for e in errors.values())


def _max_abs(mine, expected):
    if np.shape(mine) != np.shape(expected):
        return float("inf")
    return float(np.max(np.abs(np.asarray(mine, np.float64) - expected))) if np.isfinite(mine).all() else float("inf")


def _relative_to_largest(mine, expected):
    if not np.isfinite(mine).all():
        return float("inf")
    return float(np.abs(mine - expected).max() / max(np.abs(expected).max(), 1e-300))


def _max_weight_difference(mine, expected):
    if len(mine) != len(expected) or any(np.shape(a) != np.shape(b) for a, b in zip(mine, expected)):
        return float("inf")
    return max(_max_abs(a, b) for a, b in zip(mine, expected))


def _history_difference(mine, expected):
    if isinstance(mine, dict):
        return max(_history_difference(mine[key], expected[key]) for key in expected)
    if len(mine) != len(expected):
        return float("inf")
    return _max_abs(np.asarray(mine, np.float64), np.asarray(expected, np.float64))


# ---- the initial kernels ----------------------------------------------------------------

def expected_kernel(name, fan_in, fan_out):
    """(variance, largest |w| allowed) of Keras's `name` initializer for a (fan_in, fan_out) kernel."""
    scale, mode, distribution = INITIALIZERS[name]
    fan = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    variance = scale / fan
    largest = math.sqrt(3 * variance) if distribution == "uniform" else 2 * math.sqrt(variance) / TRUNCATED_SD
    return variance, largest


def initial_kernels(weights, name):
    """What a twin's initial weights of INITIALIZER_NETWORK say about its `name` initializer.

    {"variance": [each kernel's variance / Keras's], "mean": largest |mean| / sd, "largest": largest
    |w| / Keras's limit, "kurtosis": E[z^4] / E[z^2]^2 over both kernels, z = w / sd, "biases": largest
    |bias|, "problem": the first thing that is not Keras's, or None}. The moments are about 0 (the
    mean is known), so a U(0, limit) kernel shows in the mean, not in the variance.
    """
    dims = [INITIALIZER_NETWORK["input_dim"], *INITIALIZER_NETWORK["hidden"], INITIALIZER_NETWORK["num_classes"]]
    shapes = list(zip(dims[:-1], dims[1:]))
    kernels = [w for w in weights if np.ndim(w) == 2]
    biases = [w for w in weights if np.ndim(w) == 1]
    report = {"variance": [], "mean": 0.0, "largest": 0.0, "kurtosis": float("nan"), "biases": 0.0, "problem": None}
    if [np.shape(k) for k in kernels] != shapes:
        report["problem"] = (f"its kernels have shapes {[np.shape(k) for k in kernels]}, not {shapes} "
                             "(build_model's input_dim, hidden and num_classes)")
        return report
    if not all(np.isfinite(w).all() for w in weights):
        report["problem"] = "its initial weights hold NaN or infinite entries"
        return report
    report["biases"] = max((float(np.abs(b).max()) for b in biases), default=0.0)
    standardized = []
    for kernel, (fan_in, fan_out) in zip(kernels, shapes):
        variance, largest = expected_kernel(name, fan_in, fan_out)
        report["variance"].append(float(np.mean(kernel ** 2)) / variance)
        report["mean"] = max(report["mean"], abs(float(kernel.mean())) / math.sqrt(variance))
        report["largest"] = max(report["largest"], float(np.abs(kernel).max()) / largest)
        standardized.append((kernel / math.sqrt(variance)).ravel())
    z = np.concatenate(standardized)
    report["kurtosis"] = float(np.mean(z ** 4) / np.mean(z ** 2) ** 2)
    report["problem"] = _initial_problem(report, name, shapes)
    return report


def _initial_problem(report, name, shapes):
    """The first way the kernels differ from Keras's `name`, in words, or None."""
    scale, mode, distribution = INITIALIZERS[name]
    if report["biases"] != 0:
        return f"its biases start at up to {report['biases']:.3g}, not 0 (Keras's default bias initializer is zeros)"
    if report["largest"] > 1 + 1e-9:
        limit = "sqrt(3 * variance)" if distribution == "uniform" else "2 sd"
        return f"a kernel entry is {report['largest']:.3g} times the largest |w| Keras's {name} can draw ({limit})"
    if report["mean"] > BOUND_INITIAL_MEAN:
        return (f"a kernel's mean is {report['mean']:.3g} sd away from 0: Keras draws around 0, on both sides "
                "(U(-limit, limit), not U(0, limit))")
    for index, (ratio, (fan_in, fan_out)) in enumerate(zip(report["variance"], shapes)):
        if abs(ratio - 1) > BOUND_INITIAL_VARIANCE:
            return (f"kernel {index} ({fan_in} x {fan_out}) has {ratio:.3g} times the variance of Keras's "
                    f"{name}, {scale:g} / {mode} = {expected_kernel(name, fan_in, fan_out)[0]:.3g}"
                    + _variance_guess(report["variance"], name, shapes))
    if abs(report["kurtosis"] - KURTOSIS[distribution]) > BOUND_KURTOSIS:
        return (f"the kernels have the right variance but the wrong shape of distribution: E[w^4] / E[w^2]^2 "
                f"is {report['kurtosis']:.3g}, where Keras's {distribution.replace('_', ' ')} gives "
                f"{KURTOSIS[distribution]:g} (uniform 1.8, normal truncated at 2 sd 2.37, plain normal 3)")
    return None


def _variance_guess(ratios, name, shapes):
    """'; it matches ...' when every kernel's variance matches one common slip (the closest), else ''."""
    scale, mode, distribution = INITIALIZERS[name]
    slips = {}                       # slip -> its variance over Keras's, kernel by kernel
    for fan_name in ("fan_in", "fan_out", "fan_avg"):
        if fan_name != mode:
            slips[f"{scale:g} / {fan_name}"] = [
                scale / {"fan_in": i, "fan_out": o, "fan_avg": (i + o) / 2}[fan_name] / expected_kernel(name, i, o)[0]
                for i, o in shapes]
    if distribution == "truncated_normal":
        slips["an sd not divided by 0.8796 (truncating at 2 sd keeps 0.774 of the variance)"] = \
            [TRUNCATED_SD ** 2] * len(shapes)
    else:
        slips["a limit of sqrt(variance) instead of sqrt(3 * variance)"] = [1 / 3] * len(shapes)
    misses = {slip: max(abs(ratio / slip_ratio - 1) for ratio, slip_ratio in zip(ratios, slip_ratios))
              for slip, slip_ratios in slips.items()}
    slip = min(misses, key=misses.get)
    return f"; it matches {slip}" if misses[slip] <= BOUND_INITIAL_VARIANCE else ""
