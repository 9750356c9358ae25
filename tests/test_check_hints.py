"""Every hint of `python -m compare check` is seen to fire.

Each message a stage can end with (a `raise StageFailed("...")` in stages.py, a
hint returned in hints.py) has a planted bug here that makes it appear. The
bug is patched into a fresh copy of numpy_impl, and only the stage that the
message belongs to is run, so each plant costs a second or less.
(tests/test_check.py runs whole checks: that the first failing stage is
named, that the stages before it pass.)

`test_every_message_has_a_plant` reads both files: a new hint without a
plant here fails it.
"""
import ast
from pathlib import Path

import numpy as np
import pytest

import numpy_impl
from .sampling import every
from compare import check
from compare.check.reference import BATCH, DROPOUT_RATE
from compare.check.stages import STAGE_METHODS, STAGES, Checker, StageFailed, _short
from compare.quiet import import_keras_quietly

CHECK = Path(check.__file__).parent

# phrase the hint must contain -> (the stage method that must end with it, the function that plants the bug)
PLANTS = {}
# more words some of those hints must hold: the part of the message that their variants share
ALSO = {
    "they are not scaled at all": ["Inverted dropout scales up what it keeps", "= x * 1.42857, but"],
    "the rate is taken as the probability to keep": ["so 70% are kept"],
    "uses another mask than the forward pass before it": ["Dropout's backward pass uses another mask"],
    "do not come from the same computation": ["disagree with them at kernel_2 (layer 2, output)"],    # the first
    "your weights are exactly plain momentum's": [("Keras's Nesterov step is v = m * v - lr * g, then "
                                                   "w = w + m * v - lr * g (a look-ahead along the new velocity), "
                                                   "not w = w + v")],
    "Dropout is the identity outside training": ["with dropout=0.3 predict does not give the network's outputs"],
    "the bias gradient is the sum of dL/dz over the batch, not the mean": [
        "The kernel gradient of layer 2 (output) agrees"],
    "times TensorFlow's": ["the loss is a mean over the batch, so its gradient at the logits is (softmax(z) - y) / B"],
    "this check runs in float64": ["is float64, but every value in it is a float32 number"],
    "only in the rows whose logits are small": ["(max over axis=1, keepdims=True), not the largest of the whole"],
    "times the largest |w| Keras's glorot_uniform can draw (sqrt(3 * variance))": [
        "are not drawn as Keras draws them", "U(-limit, limit) with limit = sqrt(3 * variance), a normal one N(0, sd)",
        "beyond 2 sd drawn again and sd = sqrt(variance) / 0.8796"],
    "the wrong shape of distribution: E[w^4] / E[w^2]^2 is": ["where Keras's truncated normal gives 2.3655 (uniform"],
    "an untrained network should guess": [("Keras's default kernel is Glorot uniform, U(-limit, limit) with "
                                           "limit = sqrt(6 / (fan_in + fan_out)), and its biases start at 0")],
    "the error enters between the layers": [
        "Every gradient of the layers above layer 1 (hidden) agrees, so dL/dz of layer 2 is right. Both",
        "Look at layer 2's input gradient", "Both the kernel and the bias gradient of layer 1 (hidden) are wrong",
        "which passes the gradient only where that layer's input z > 0"],
    "after 3 plain SGD steps": ["the update rounds to float32"],
    "should return [mean loss, accuracy]": ["over all of x at the current weights, without changing them."],
    "dL/dW always has W's shape": [("(for a kernel: x.T @ dL/dz, (in, B) @ (B, out)); grad.T @ x gives the "
                                    "transposed shape.")],
    "the gradient of kernel_2 (layer 2, output) has shape (10, 16)": ["grad.T @ x gives the transposed shape."],
    "the backward pass rounds to float32 at or before this tensor": ["the gradient of kernel_2 (layer 2, output)"],
    "plain SGD agrees but momentum does not": [("plain SGD agrees but momentum does not. Keras's form: the "
                                                "velocity v starts at 0 and is v = m * v - lr * g, then w = w + v")],
    ", Keras computes": ["fit(x, y) raised TrainingDiverged", "With Adam, Keras computes alpha = lr * sqrt"],
    "stops one epoch late": ["EarlyStopping(monitor='val_loss', patience=1) on val_loss [1.0, 0.9, 0.9, 0.95, 0.88, 0.8] "
                             "stops after epoch 4, but Keras's stops after epoch 3"],
    "the mean and the weights in CategoricalCrossentropy.__call__": [
        "CategoricalCrossentropy(from_logits=False) on a plain row, sample_weight gives 0.2231435513, Keras's 0.1115717757",
        "then the batch's mean of w_i * loss_i (divided by the batch size, not by the sum of the weights)"],
    "fit should return a History": [("fit should return a History whose .history holds 'loss' and 'accuracy', one "
                                     "value per epoch, as Keras's does.")]}


@pytest.fixture(scope="module", autouse=True)
def keras_loaded():
    import_keras_quietly()


def plant(stage, phrase):
    def register(planter):
        assert phrase not in PLANTS, phrase
        PLANTS[phrase] = (stage, planter)
        return planter
    return register


def fresh_twin():
    twin = check.load_twin(str(Path(numpy_impl.__file__).parent))
    assert twin.layers.Dense is not numpy_impl.layers.Dense
    return twin


def stage_hint(twin, stage):
    """Run one stage of the check on `twin`; the hint it failed with (None if it passed)."""
    checker = Checker(twin, emit=lambda line: None)
    try:
        with np.errstate(all="ignore"):
            getattr(checker, stage)()
    except StageFailed as failure:
        # the table shows where: the stage wrote a failed row under its own name, or (a call that raised)
        # run() writes one naming the call
        own = _short(STAGES[STAGE_METHODS.index(stage)])
        assert failure.what != "(could not run)" or any(not row.passed for row in checker.rows), checker.rows
        assert all(row.stage == own for row in checker.rows if not row.passed), checker.rows
        return failure.hint
    return None


def wrap_method(cls, name, after):
    """cls.name becomes: the real method's result, passed through after(self, result)."""
    right = getattr(cls, name)
    setattr(cls, name, lambda self, *args, **kwargs: after(self, right(self, *args, **kwargs)))


def wrap_loss(twin, after):
    """The twin's loss (value, probabilities, dL/dlogits) passed through after(...)."""
    right = twin.losses.categorical_crossentropy_from_logits
    twin.losses.categorical_crossentropy_from_logits = lambda logits, y: after(logits, y, *right(logits, y))


def sgd_update(twin, step_factor=1.0, velocity_sign=-1.0, nesterov="keras"):
    """SGD.update with a knob for each classic slip; the defaults are Keras's rule."""
    def update(self, grads, variables):
        if self.velocities is None:
            self.velocities = [np.zeros_like(w) for w in variables]
        for g, w, v in zip(grads, variables, self.velocities):
            step = step_factor * self.learning_rate * g
            if not self.momentum:
                w -= step
                continue
            v *= self.momentum
            v += velocity_sign * step
            if self.nesterov and nesterov == "keras":
                w += self.momentum * v - step
            elif self.nesterov and nesterov == "wrong look-ahead":
                w += v - step
            else:
                w += v
    twin.optimizers.SGD.update = update


# ---- API ---------------------------------------------------------------------------------------

@plant("stage_api", "a twin's model answers fit, evaluate, predict")
def model_without_predict(twin):
    twin.model.Sequential.predict = None


@plant("stage_api", "Keras's order, [kernel_0 (in, out)")
def get_weights_transposed(twin):
    wrap_method(twin.model.Sequential, "get_weights", lambda self, weights: [w.T for w in weights])


@plant("stage_api", "every weight and computation must take the dtype asked for")
def build_model_ignores_dtype(twin):
    right = twin.build_model
    twin.build_model = lambda **options: right(**{**options, "dtype": "float32"})


@plant("stage_api", "set_weights must copy each array")
def set_weights_does_nothing(twin):
    twin.model.Sequential.set_weights = lambda self, weights: None


@plant("stage_api", "should hold the learning_rate given to build_model")
def learning_rate_not_kept(twin):
    right = twin.build_model
    twin.build_model = lambda **options: right(**{**options, "learning_rate": 2 * options["learning_rate"]})


# ---- forward -------------------------------------------------------------------------------------

@plant("stage_forward", "one row of class probabilities per sample")
def predict_transposed(twin):
    wrap_method(twin.model.Sequential, "predict", lambda self, outputs: outputs.T)


@plant("stage_forward", "only in the rows whose logits are small")
def softmax_shifted_by_the_batch_max(twin):
    def softmax(logits):
        exp = np.exp(logits - logits.max())                  # one shift for the whole batch
        return exp / exp.sum(axis=1, keepdims=True)
    twin.activations.softmax = softmax


@plant("stage_forward", "Subtract each row's largest logit before exp")
def softmax_without_shift(twin):
    twin.activations.softmax = lambda logits: np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)


@plant("stage_forward", "softmax divides")
def softmax_over_the_whole_batch(twin):
    def softmax(logits):
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum()                               # every entry of the batch, not each row
    twin.activations.softmax = softmax


@plant("stage_forward", "the error is before the softmax")
def affine_without_bias(twin):
    def affine(self, x):
        self.inputs = x
        return x @ self.kernel
    twin.layers.Dense.affine = affine


@plant("stage_forward", "this check runs in float64")
def affine_in_float32(twin):
    def affine(self, x):
        self.inputs = x
        return (x.astype(np.float32) @ self.kernel.astype(np.float32) + self.bias.astype(np.float32)).astype(x.dtype)
    twin.layers.Dense.affine = affine


# ---- loss ------------------------------------------------------------------------------------------

@plant("stage_loss", "log(p) of a probability that underflowed")
def loss_from_the_probabilities(twin):
    def after(logits, y, value, probabilities, grad_logits):
        return float(np.mean(-np.log(np.sum(probabilities * y, axis=1)))), probabilities, grad_logits
    wrap_loss(twin, after)


@plant("stage_loss", "(the batch size) times the reference's")
def loss_summed(twin):
    wrap_loss(twin, lambda logits, y, value, p, grad: (value * len(logits), p, grad))


@plant("stage_loss", "Keras's categorical cross-entropy is the mean over the batch")
def loss_off_by_a_factor(twin):
    wrap_loss(twin, lambda logits, y, value, p, grad: (value * 1.5, p, grad))


# ---- gradients ---------------------------------------------------------------------------------------

@plant("stage_gradients", "loss_and_gradients does not")
def loss_and_gradients_loss_doubled(twin):
    right = twin.loss_and_gradients

    def loss_and_gradients(model, x, y):
        loss, gradients = right(model, x, y)
        return 2 * loss, gradients
    twin.loss_and_gradients = loss_and_gradients


@plant("stage_gradients", "one per array of get_weights(), same order")
def one_gradient_missing(twin):
    right = twin.loss_and_gradients
    twin.loss_and_gradients = lambda model, x, y: (lambda loss, grads: (loss, grads[:-1]))(*right(model, x, y))


def change_one_gradient(twin, index, change):
    """The twin's loss_and_gradients, with gradient `index` (Keras's weight order) handed back as change(it)."""
    right = twin.loss_and_gradients

    def loss_and_gradients(model, x, y):
        loss, gradients = right(model, x, y)
        return loss, [change(g) if i == index else g for i, g in enumerate(gradients)]
    twin.loss_and_gradients = loss_and_gradients


@plant("stage_gradients", "dL/dW always has W's shape")
def first_kernel_gradient_transposed(twin):
    change_one_gradient(twin, 0, np.transpose)


@plant("stage_gradients", "the gradient of kernel_2 (layer 2, output) has shape (10, 16)")
def output_kernel_gradient_transposed(twin):
    change_one_gradient(twin, 4, np.transpose)


@plant("stage_gradients", "the backward pass rounds to float32 at or before this tensor")
def output_kernel_gradient_rounded_to_float32(twin):
    change_one_gradient(twin, 4, lambda g: g.astype(np.float32).astype(np.float64))


def test_a_bias_gradient_of_the_wrong_shape_is_not_called_transposed():
    twin = fresh_twin()
    change_one_gradient(twin, 5, lambda g: g[None, :])             # bias_2 as (1, 10): a sum with keepdims=True
    hint = stage_hint(twin, "stage_gradients")
    assert hint.startswith("the gradient of bias_2 (layer 2, output) has shape (1, 10), its weight (10,)")
    assert hint.endswith("dL/dW always has W's shape.") and "transposed" not in hint


def failed_rows(twin, stage):
    """Run one stage (it must fail); its failed rows and its hint."""
    checker = Checker(twin, emit=lambda line: None)
    with np.errstate(all="ignore"), pytest.raises(StageFailed) as failure:
        getattr(checker, stage)()
    return [row for row in checker.rows if not row.passed], failure.value.hint


def test_probabilities_that_are_nan_fail_with_an_infinite_difference():
    twin = fresh_twin()
    wrap_method(twin.model.Sequential, "predict", lambda self, outputs: np.full_like(outputs, np.nan))
    rows, hint = failed_rows(twin, "stage_forward")
    assert [row.what for row in rows] == ["probabilities"]
    assert rows[0].errors == {"TensorFlow": np.inf, "numpy_impl": np.inf}      # NaN is never within a bound
    assert hint


def test_a_float32_loss_from_loss_and_gradients_is_named_under_gradients():
    twin = fresh_twin()
    right = twin.loss_and_gradients
    twin.loss_and_gradients = lambda model, x, y: (lambda loss, grads: (np.float32(loss), grads))(*right(model, x, y))
    rows, hint = failed_rows(twin, "stage_gradients")
    assert [(row.stage, row.what) for row in rows] == [("gradients", "loss_and_gradients' loss: float64")]
    assert "loss_and_gradients' loss" in hint and "float32" in hint


def test_finite_differences_watch_the_x_they_hand_over():
    twin = fresh_twin()
    right, calls = twin.loss_and_gradients, []

    def loss_and_gradients(model, x, y):
        calls.append(1)
        if len(calls) > 1:                 # the stage's own call is left alone; finite differences' are not
            x *= 1.0001
        return right(model, x, y)
    twin.loss_and_gradients = loss_and_gradients
    rows, hint = failed_rows(twin, "stage_gradients")
    assert hint.startswith("loss_and_gradients(model, x, y) changed the x given to loss_and_gradients in place (")
    assert len(calls) == 2


@plant("stage_gradients", "do not come from the same computation")
def loss_cached_from_the_first_call(twin):
    right, first = twin.loss_and_gradients, []

    def loss_and_gradients(model, x, y):
        loss, gradients = right(model, x, y)
        first.append(loss)
        return first[0], gradients                             # a stale loss: finite differences see no change
    twin.loss_and_gradients = loss_and_gradients


@plant("stage_gradients", "times TensorFlow's")
def loss_gradient_not_divided_by_the_batch(twin):
    wrap_loss(twin, lambda logits, y, value, p, grad: (value, p, grad * len(logits)))


@plant("stage_gradients", "both gradients of the output layer are wrong")
def loss_gradient_doubled(twin):
    wrap_loss(twin, lambda logits, y, value, p, grad: (value, p, 2 * grad))


@plant("stage_gradients", "the error enters between the layers")
def relu_mask_on_the_wrong_side(twin):
    twin.activations.ReLU.backward = lambda self, grad_outputs: grad_outputs * (self.outputs <= 0)


def backward_affine_then(twin, after):
    right = twin.layers.Dense.backward_affine

    def backward_affine(self, grad_z, need_grad_inputs=True):
        grad_inputs = right(self, grad_z, need_grad_inputs)
        after(self, grad_z)
        return grad_inputs
    twin.layers.Dense.backward_affine = backward_affine


@plant("stage_gradients", "exactly the transpose of the right one")
def square_kernel_gradient_transposed(twin):
    def after(self, grad_z):
        if self.kernel.shape[0] == self.kernel.shape[1]:
            self.grad_kernel = grad_z.T @ self.inputs
    backward_affine_then(twin, after)


def test_a_square_kernel_gradient_a_little_off_is_not_called_transposed():
    def after(self, grad_z):
        if self.kernel.shape[0] == self.kernel.shape[1]:
            self.grad_kernel *= 1.5
    twin = fresh_twin()
    backward_affine_then(twin, after)
    hint = stage_hint(twin, "stage_gradients")
    assert "look at how dL/dkernel is formed" in hint and "transpose" not in hint, hint


@plant("stage_gradients", "look at how dL/dkernel is formed")
def kernel_gradient_scaled(twin):
    def after(self, grad_z):
        self.grad_kernel *= 1.5
    backward_affine_then(twin, after)


@plant("stage_gradients", "the bias gradient is the sum of dL/dz over the batch, not the mean")
def bias_gradient_averaged(twin):
    def after(self, grad_z):
        self.grad_bias = grad_z.mean(axis=0)
    backward_affine_then(twin, after)


@plant("stage_gradients", "summed over the batch axis (axis 0)")
def bias_gradient_doubled(twin):
    def after(self, grad_z):
        self.grad_bias *= 2
    backward_affine_then(twin, after)


# ---- optimizer -----------------------------------------------------------------------------------------

@plant("stage_optimizer", "the step goes uphill")
def sgd_uphill(twin):
    sgd_update(twin, step_factor=-1.0)


@plant("stage_optimizer", "times as long as Keras's")
def sgd_without_the_learning_rate(twin):
    sgd_update(twin, step_factor=1 / 0.05)                # g instead of lr * g, at the check's lr 0.05


@plant("stage_optimizer", "plain SGD steps do not")
def sgd_one_percent_long(twin):
    sgd_update(twin, step_factor=1.01)                    # the right way, nearly the right length


@plant("stage_optimizer", "your weights are exactly plain momentum's")
def nesterov_as_momentum(twin):
    sgd_update(twin, nesterov="plain")


@plant("stage_optimizer", "plain SGD and momentum agree but Nesterov does not")
def nesterov_wrong_look_ahead(twin):
    sgd_update(twin, nesterov="wrong look-ahead")


@plant("stage_optimizer", "plain SGD agrees but momentum does not")
def momentum_with_the_wrong_sign(twin):
    sgd_update(twin, velocity_sign=1.0)


# ---- fit -------------------------------------------------------------------------------------------------

@plant("stage_fit", "look at how fit cuts batches")
def fit_drops_the_partial_batch(twin):
    right = twin.model.Sequential.fit

    def fit(self, x, y, batch_size=32, **kwargs):
        whole = len(x) - len(x) % batch_size
        return right(self, x[:whole], y[:whole], batch_size=batch_size, **kwargs)
    twin.model.Sequential.fit = fit


@plant("stage_fit", "fit should return a History")
def fit_returns_nothing(twin):
    wrap_method(twin.model.Sequential, "fit", lambda self, history: None)


@plant("stage_fit", "the weights agree but History does not")
def history_of_the_last_batch(twin):
    def after(self, history):
        history.history["loss"] = [1.01 * value for value in history.history["loss"]]
        return history
    wrap_method(twin.model.Sequential, "fit", after)


def test_the_stage_methods_are_the_stages_in_order():
    checker = Checker(numpy_impl, emit=lambda line: None)
    methods = [getattr(checker, name) for name in STAGE_METHODS]
    runs = []
    for method in methods:
        setattr(checker, method.__name__, lambda name=method.__name__: runs.append(name))
    assert checker.run() and runs == list(STAGE_METHODS) and len(STAGES) == len(STAGE_METHODS)


@plant("stage_optimizer", "after 3 plain SGD steps")
def sgd_rounds_to_float32(twin):
    right = twin.optimizers.SGD.update

    def update(self, grads, variables):
        right(self, grads, variables)
        for w in variables:
            w[...] = w.astype(np.float32)                         # every weight rounded to a float32 number
    twin.optimizers.SGD.update = update


@plant("stage_fit", "should return [mean loss, accuracy]")
def evaluate_accuracy_halved(twin):
    wrap_method(twin.model.Sequential, "evaluate", lambda self, result: [result[0], result[1] / 2])


# ---- sanity ----------------------------------------------------------------------------------------------

@plant("stage_sanity", "times the largest |w| Keras's glorot_uniform can draw (sqrt(3 * variance))")
def kernels_ten_times_too_large(twin):
    right = twin.initializers.glorot_uniform
    twin.initializers.glorot_uniform = lambda *args, **kwargs: 10 * right(*args, **kwargs)


@plant("stage_sanity", "an untrained network should guess")
def kernels_too_large_in_small_networks_only(twin):
    # the initializer rows build a 500-wide network; this twin's draws go wrong below 100 inputs
    right = twin.initializers.glorot_uniform
    twin.initializers.glorot_uniform = lambda fan_in, *args, **kwargs: (10 if fan_in < 100 else 1) * right(
        fan_in, *args, **kwargs)


@plant("stage_sanity", "times the variance of Keras's glorot_uniform, 1 / fan_avg = 0.00267; it matches 1 / fan_in.")
def glorot_from_fan_in(twin):
    twin.initializers.glorot_uniform = lambda fan_in, fan_out, rng, dtype="float32": rng.uniform(
        -np.sqrt(3 / fan_in), np.sqrt(3 / fan_in), size=(fan_in, fan_out)).astype(dtype)


@plant("stage_sanity", "Keras draws around 0, on both sides")
def glorot_on_one_side(twin):
    right = twin.initializers.glorot_uniform
    twin.initializers.glorot_uniform = lambda *args, **kwargs: np.abs(right(*args, **kwargs))


@plant("stage_sanity", "its biases start at up to 0.1, not 0")
def biases_start_at_a_tenth(twin):
    twin.initializers.zeros = lambda shape, dtype="float32": np.full(shape, 0.1, dtype=dtype)


@plant("stage_sanity", "of Keras's he_uniform, 2 / fan_in = 0.004; it matches a limit of sqrt(variance) instead")
def he_uniform_limit_without_the_3(twin):
    right = twin.initializers.VarianceScaling.__call__

    def draw(self, fan_in, fan_out, rng, dtype="float32"):
        return right(self, fan_in, fan_out, rng, dtype) / np.sqrt(3) if self.distribution == "uniform" else right(
            self, fan_in, fan_out, rng, dtype)
    twin.initializers.VarianceScaling.__call__ = draw


@plant("stage_sanity", "it matches an sd not divided by 0.8796 (truncating at 2 sd keeps 0.774")
def truncated_normal_not_rescaled(twin):
    twin.initializers.TRUNCATION_RESCALE = 1.0


@plant("stage_sanity", "times the largest |w| Keras's glorot_normal can draw (2 sd)")
def normal_not_truncated(twin):
    twin.initializers.truncated_normal = lambda shape, stddev, rng: rng.normal(0.0, stddev * 0.8796, size=shape)


@plant("stage_sanity", "the wrong shape of distribution: E[w^4] / E[w^2]^2 is")
def uniform_where_keras_truncates(twin):
    twin.initializers.truncated_normal = lambda shape, stddev, rng: rng.uniform(
        -np.sqrt(3) * 0.8796 * stddev, np.sqrt(3) * 0.8796 * stddev, size=shape)


@plant("stage_sanity", "each one must take a step from where the last ended")
def fit_restarts_every_epoch(twin):
    right = twin.model.Sequential.fit

    def fit(self, x, y, epochs=1, **kwargs):
        start = self.get_weights()
        history = right(self, x, y, epochs=epochs, **kwargs)
        if epochs > 1:
            self.set_weights(start)
            history = right(self, x, y, epochs=1, **kwargs)            # only the first epoch's step counts
        return history
    twin.model.Sequential.fit = fit


@plant("stage_sanity", "Each step should lower the loss on this batch")
def gradients_of_the_wrong_sign(twin):
    wrap_loss(twin, lambda logits, y, value, p, grad: (value, p, -grad))


def test_a_twin_whose_gradients_have_the_wrong_sign_cannot_memorise_a_batch():
    twin = fresh_twin()
    wrap_loss(twin, lambda logits, y, value, p, grad: (value, p, -grad))
    hint = stage_hint(twin, "stage_sanity")
    assert hint and "memorising one batch of 32 samples (SGD 0.1, momentum 0.9)" in hint and "diverged" in hint, hint


def test_the_memorising_run_uses_the_settings_its_hints_name():
    # the sanity stage's hints say "SGD 0.1, momentum 0.9": those are what build_model is given
    from compare.check.reference import OVERFIT_LEARNING_RATE
    twin, given = fresh_twin(), []
    right = twin.build_model
    twin.build_model = lambda **options: given.append(options) or right(**options)
    assert stage_hint(twin, "stage_sanity") is None
    assert (given[-1]["learning_rate"], given[-1]["momentum"]) == (OVERFIT_LEARNING_RATE, 0.9)

# ---- dropout -----------------------------------------------------------------------------------------------

@plant("stage_dropout", "Dropout is the identity outside training")
def dropout_in_predict(twin):
    right = twin.layers.Dropout.forward
    twin.layers.Dropout.forward = lambda self, x, training=False: right(self, x, training=True)


def test_the_evaluate_half_of_the_inference_hint_fires():
    """predict right, evaluate wrong: a model whose own forward (used by evaluate) trains."""
    twin = fresh_twin()
    right = twin.model.Sequential.forward
    twin.model.Sequential.forward = lambda self, x, training=False: right(self, x, training=True)
    hint = stage_hint(twin, "stage_dropout")
    assert hint and "evaluate does not give the network's outputs" in hint, hint


@plant("stage_dropout", "dropout keeps the shape")
def dropout_drops_a_column(twin):
    right = twin.layers.Dropout.forward
    twin.layers.Dropout.forward = lambda self, x, training=False: right(self, x, training)[:, 1:] if training else x


@plant("stage_dropout", "the rate is taken as the probability to keep")
def dropout_rate_as_keep_probability(twin):
    twin.layers.Dropout.draw_mask = lambda self, shape: self.rng.random(shape) >= 1 - self.rate


@plant("stage_dropout", "too far from the rate to be chance")
def dropout_at_half_the_rate(twin):
    twin.layers.Dropout.draw_mask = lambda self, shape: self.rng.random(shape) >= self.rate / 2


def dropout_scale(twin, scale):
    right = twin.layers.Dropout.build

    def build(self, input_shape, rng, dtype):
        shape = right(self, input_shape, rng, dtype)
        self.scale = scale(self.rate)
        return shape
    twin.layers.Dropout.build = build


@plant("stage_dropout", "they are not scaled at all")
def dropout_not_scaled(twin):
    dropout_scale(twin, lambda rate: 1.0)


@plant("stage_dropout", "the old, non-inverted dropout's test-time scale")
def dropout_scaled_by_one_minus_rate(twin):
    dropout_scale(twin, lambda rate: 1 - rate)


@plant("stage_dropout", "as if the rate were the keep probability")
def dropout_divided_by_the_rate(twin):
    dropout_scale(twin, lambda rate: 1 / rate)


@plant("stage_dropout", "they are multiplied by")
def dropout_scaled_by_two(twin):
    dropout_scale(twin, lambda rate: 2.0)


@plant("stage_dropout", "returns the gradient unchanged")
def dropout_backward_identity(twin):
    twin.layers.Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs


@plant("stage_dropout", "applies the mask but not the 1 / (1 - rate) scale")
def dropout_backward_without_scale(twin):
    twin.layers.Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs * self.mask


@plant("stage_dropout", "uses another mask than the forward pass before it")
def dropout_backward_draws_again(twin):
    twin.layers.Dropout.backward = (lambda self, grad_outputs, need_grad_inputs=True:
                                    grad_outputs * self.draw_mask(grad_outputs.shape) * self.scale)


class Dropout:
    """An exercise's blank, as `compare exercise` writes one (its qualified name is what check reads)."""

    def forward(self, x, training=False):
        raise NotImplementedError("Dropout.forward: the mask, and x * mask * (1 / (1 - rate))")

    def bare_forward(self, x, training=False):
        raise NotImplementedError                         # a learner's own blank, saying nothing


@pytest.mark.parametrize("blank, task", [(Dropout.forward, " It computes: the mask, and x * mask * (1 / (1 - rate))"),
                                         (Dropout.bare_forward, "")])
def test_a_blank_function_is_named_with_its_line_and_its_task(blank, task):
    # tests/test_exercise.py runs this on real exercises; this one runs under mutmut too
    twin = fresh_twin()
    twin.layers.Dropout.forward = blank
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed) as failure:
        checker.stage_dropout()
    line = blank.__code__.co_firstlineno + 1
    name = blank.__qualname__
    assert failure.value.hint == (f"{name} (test_check_hints.py:{line}) is not written yet, and this stage "
                                  f"needs it: write it next.{task}")
    assert failure.value.what == f"needs {name}: not written yet"


def test_a_backward_a_little_off_is_not_said_to_use_another_mask():
    # the right mask and scale, every value 1e-7 too large: near enough for allclose, not for the bound
    twin = fresh_twin()
    twin.layers.Dropout.backward = (lambda self, grad_outputs, need_grad_inputs=True:
                                    grad_outputs * self.mask * self.scale * (1 + 1e-7))
    hint = stage_hint(twin, "stage_dropout")
    assert hint.startswith("Dropout's backward pass should be dL/dx = dL/dout * mask * (1 / (1 - rate))"), hint


def test_a_common_ratio_is_one_number_everywhere():
    from compare.check.hints import _common_ratio
    right = np.array([1.0, -2.0, 0.0, 4.0])
    assert _common_ratio(2 * right, right) == 2.0
    assert _common_ratio(right * [2, 2, 5, 3], right) is None        # 2, 2 and 3 where right is not 0
    assert _common_ratio(right[:2], right) is None
    assert _common_ratio(right * [2, 2 * (1 + 1e-6), 5, 2], right) is None      # one a millionth off: not common


@plant("stage_dropout", "with the mask the forward pass drew")
def dropout_backward_doubled(twin):
    twin.layers.Dropout.backward = (lambda self, grad_outputs, need_grad_inputs=True:
                                    2 * grad_outputs * self.mask * self.scale)


@plant("stage_dropout", "two training steps dropped the same entries")
def dropout_mask_from_a_fixed_seed(twin):
    twin.layers.Dropout.draw_mask = lambda self, shape: np.random.default_rng(0).random(shape) >= self.rate


@plant("stage_dropout", "one after each hidden layer")
def dropout_on_the_input_too(twin):
    right = twin.build_model
    twin.build_model = lambda dropout=0.0, **options: right(
        dropout=(dropout, dropout, dropout) if dropout else 0.0, **options)


@plant("stage_dropout", "on Keras's own masks the training loss differs")
def dropout_ignores_draw_mask(twin):
    def forward(self, x, training=False):
        if not training:
            self.mask = None
            return x
        self.mask = self.rng.random(x.shape) >= self.rate          # its own draw, not draw_mask's
        return x * self.mask * self.scale
    twin.layers.Dropout.forward = forward
    twin.layers.Dropout.backward = (lambda self, grad_outputs, need_grad_inputs=True:
                                    grad_outputs * self.mask * self.scale)


@plant("stage_dropout", "the loss agrees but the gradients do not")
def backward_skips_dropout(twin):
    def backward(self, grad_logits):
        grad = self.layers[-1].backward_affine(grad_logits)
        for layer in reversed(self.layers[:-1]):
            if not isinstance(layer, twin.layers.Dropout):             # the mask never reaches dL/dz
                grad = layer.backward(grad)
    twin.model.Sequential.backward = backward


def test_a_build_model_without_kernel_initializer_skips_the_other_initializers():
    twin = fresh_twin()
    right = twin.build_model

    def build_model(input_dim=784, hidden=(128, 128), num_classes=10, learning_rate=0.01, momentum=0.0,
                    nesterov=False, seed=0, dtype="float32"):
        return right(input_dim=input_dim, hidden=hidden, num_classes=num_classes, learning_rate=learning_rate,
                     momentum=momentum, nesterov=nesterov, seed=seed, dtype=dtype)
    twin.build_model = build_model
    checker = Checker(twin, emit=lambda line: None)
    checker.stage_sanity()
    rows = [(row.stage, row.what, row.passed, row.skipped) for row in checker.rows]
    assert rows[0][:3] == ("sanity", rows[0][1], True) and rows[0][1].startswith("glorot_uniform kernels: variance")
    assert rows[1:5] == [("sanity", f"{name} kernels: skipped (build_model does not take it)", True, True)
                         for name in ("he_uniform", "glorot_normal", "he_normal", "lecun_normal")]
    assert [row.what.split()[0] for row in checker.rows[5:]] == ["initial", "memorise"]


@pytest.mark.parametrize("missing, row", [("backward", "alone: skipped (no Dropout with forward, backward)"),
                                          ("draw_mask", "on Keras's masks: skipped (its Dropout has no draw_mask)")])
def test_a_dropout_the_check_cannot_drive_is_a_skipped_row(missing, row):
    twin = fresh_twin()
    if missing == "draw_mask":
        twin.layers.Dropout._draw = twin.layers.Dropout.draw_mask     # a mask of its own, under another name
        twin.layers.Dropout.draw_mask = None

        def forward(self, x, training=False):
            if not training:
                self.mask = None
                return x
            self.mask = self._draw(x.shape)
            return x * self.mask * self.scale
        twin.layers.Dropout.forward = forward
        twin.layers.Dropout.backward = (lambda self, grad_outputs, need_grad_inputs=True:
                                        grad_outputs * self.mask * self.scale)
    else:
        twin.layers.Dropout.backward = None
    checker = Checker(twin, emit=lambda line: None)
    checker.stage_dropout()
    skipped = [r for r in checker.rows if r.skipped]
    assert [r.what for r in skipped] == [row], checker.rows
    assert all(r.passed for r in checker.rows)


# ---- flatten and more -----------------------------------------------------------------------------------------

@plant("stage_flatten", "in row-major order")
def flatten_column_major(twin):
    twin.layers.Flatten.forward = lambda self, x, training=False: x.transpose(0, 2, 1).reshape(len(x), -1)


@plant("stage_vocabulary", "plain SGD agrees but")
def l2_gradient_doubled(twin):
    right = twin.regularizers.L2.gradient
    twin.regularizers.L2.gradient = lambda self, kernel: 2 * right(self, kernel)


@plant("stage_vocabulary", ", Keras computes")
def adam_that_diverges(twin):
    # fit itself fails (a NaN loss): the row names the setting and the hint its formula
    def update(self, grads, variables):
        for w in variables:
            w[...] = np.nan
    twin.optimizers.Adam.update = update


@plant("stage_vocabulary", "stops one epoch late")
def early_stopping_one_epoch_late(twin):
    right = twin.callbacks.EarlyStopping.on_epoch_end

    def late(self, epoch, logs=None):                # wait > patience, where Keras stops at wait >= patience
        self.patience += 1
        try:
            right(self, epoch, logs)
        finally:
            self.patience -= 1
    twin.callbacks.EarlyStopping.on_epoch_end = late


@plant("stage_vocabulary", "the mean and the weights in CategoricalCrossentropy.__call__")
def loss_object_weights_over_their_sum(twin):
    # the mean of w_i * loss_i divided by the sum of the weights: Keras divides by the batch size
    def call(self, y_true, y_pred, sample_weight=None):
        per_sample = self.per_sample(y_true, np.asarray(y_pred, dtype=self.dtype))
        if sample_weight is None:
            return float(per_sample.mean())
        weights = np.asarray(sample_weight, self.dtype).reshape(-1)
        return float((per_sample * weights).sum() / weights.sum())
    twin.losses.CategoricalCrossentropy.__call__ = call


# ---- the tests -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("phrase", every(3, list(PLANTS)))
def test_each_hint_fires_on_its_planted_bug(phrase):
    stage, planter = PLANTS[phrase]
    twin = fresh_twin()
    assert stage_hint(twin, stage) is None, f"{stage} fails on the unplanted twin"
    planter(twin)
    hint = stage_hint(twin, stage)
    assert hint is not None, f"{planter.__name__}: {stage} passed"
    for words in [phrase] + ALSO.get(phrase, []):
        assert words in hint, (planter.__name__, words, hint)
    assert hint.endswith((".", ".)")), hint                                 # whole sentences, nothing after


def literal_text(node):
    """Every string constant under `node`, joined: the fixed words of a message."""
    return "".join(n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str))


def messages():
    """(file:line, fixed words) of each message a stage can fail with."""
    found = []
    for node in ast.walk(ast.parse((CHECK / "stages.py").read_text())):
        if (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)
                and getattr(node.exc.func, "id", None) == "StageFailed" and node.exc.args
                and not isinstance(node.exc.args[0], (ast.Call, ast.Name, ast.Attribute))):
            if literal_text(node.exc.args[0]):       # not a message made wholly by a hints.py function
                found.append((f"stages.py:{node.lineno}", literal_text(node.exc.args[0])))
    for function in ast.parse((CHECK / "hints.py").read_text()).body:
        if isinstance(function, ast.FunctionDef) and function.name.endswith("_hint"):
            for node in ast.walk(function):
                if isinstance(node, ast.Return) or (isinstance(node, ast.Assign) and
                                                    getattr(node.targets[0], "id", None) in ("reason", "shown")):
                    found.append((f"hints.py:{node.lineno}", literal_text(node.value)))
    return found


def test_every_message_has_a_plant():
    found = messages()
    assert len(found) > 40                            # the reader finds the messages it should
    phrases = list(PLANTS) + [words for more in ALSO.values() for words in more]
    orphans = [(where, text[:70]) for where, text in found if not any(p in text for p in phrases)]
    # float32_hint's other wording, for an array whose dtype is float32, is fired by tests/test_check_distrust.py
    orphans = [o for o in orphans if not o[1].startswith("has dtype float32")]
    assert not orphans, orphans


def test_the_plants_leave_numpy_impl_alone():
    for _stage, planter in PLANTS.values():
        planter(fresh_twin())
    assert numpy_impl.layers.Dropout.backward.__module__ == "numpy_impl.layers"
    assert numpy_impl.loss_and_gradients.__module__ == "numpy_impl.model"
    assert BATCH == 32 and DROPOUT_RATE == 0.3          # the plants' arithmetic assumes the check's own sizes
