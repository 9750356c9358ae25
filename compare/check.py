"""python -m compare check TWIN: is a learner's twin the same network as Keras's?

TWIN is a module name, a package folder or a .py file exporting the shared API
(`build_model`, `loss_and_gradients`; a model with fit, evaluate, predict,
get_weights, set_weights, optimizer.learning_rate). Everything runs in float64
on one small network (24-16-16-10: the 16 -> 16 layer is square on purpose)
with the same weights and the same batches as two references: numpy_impl, and
the Keras twin with TensorFlow's autodiff. Stage by stage, each needing the
ones before it:

    API and shapes -> forward (probabilities) -> loss -> each gradient
    (output layer first, the order backprop computes them) -> optimizer steps
    (plain, momentum, Nesterov) -> a short lockstep fit (weights, History, evaluate)

The first stage that fails ends the check with a plain-words hint of where to
look, reasoned from what agreed and what did not.
"""
import functools
import importlib
import importlib.util
import itertools
import sys
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import numpy_impl

from .gradcheck import entry_error

# The network and batches every check uses (float64 throughout).
INPUT_DIM, HIDDEN, CLASSES, BATCH = 24, (16, 16), 10, 32
LARGE_LOGIT = 1000.0           # exp(1000) overflows float64 (its largest exp is exp(709.78))
STEP_LEARNING_RATE, STEP_MOMENTUM, STEPS = 0.1, 0.9, 3
FIT_SAMPLES, FIT_BATCH, FIT_EPOCHS = 70, 16, 2        # 70 = 4 * 16 + 6: a partial last batch
FD_ENTRIES = 30                                       # finite differences per tensor (sampled)

# Bounds: float64 rounding is ~1e-16; these leave room for a different but correct order of sums.
BOUND_PROBABILITIES = 1e-12    # largest |p - p_ref|
BOUND_LOSS = 1e-12             # |L - L_ref| / |L_ref|
BOUND_GRADIENT = 1e-9          # largest |g - g_ref|, relative to the largest |g_ref|
BOUND_FINITE_DIFFERENCES = 1e-6
BOUND_WEIGHTS = 1e-12          # largest |w - w_ref| after the optimizer steps
BOUND_FIT = 1e-11              # largest difference of weights and History after the lockstep fit

# Where each piece lives in numpy_impl: the hints point a learner there.
WHERE = {
    "affine": "numpy_impl/layers.py: Dense.affine",
    "backward_affine": "numpy_impl/layers.py: Dense.backward_affine",
    "relu": "numpy_impl/activations.py: ReLU.forward",
    "relu_backward": "numpy_impl/activations.py: ReLU.backward",
    "softmax": "numpy_impl/activations.py: softmax",
    "loss": "numpy_impl/losses.py: categorical_crossentropy_from_logits",
    "sgd": "numpy_impl/optimizers.py: SGD.apply",
    "fit": "numpy_impl/model.py: Sequential.fit",
    "adam": "numpy_impl/optimizers.py: Adam.apply",
    "rmsprop": "numpy_impl/optimizers.py: RMSprop.apply",
    "l2": "numpy_impl/regularizers.py: L2",
    "sparse": "numpy_impl/losses.py: sparse_categorical_crossentropy_from_logits",
}

# The rest of the vocabulary, checked where the twin's build_model takes it (skipped where not):
# name -> (build_model arguments, where to look, what it computes)
VOCABULARY = {
    "Adam": (dict(optimizer="adam", learning_rate=0.01), "adam",
             "alpha = lr * sqrt(1 - beta_2**t) / (1 - beta_1**t); m += (g - m) * (1 - beta_1); "
             "v += (g*g - v) * (1 - beta_2); w -= m * alpha / (sqrt(v) + epsilon), epsilon 1e-7 outside the root"),
    "Adam, amsgrad": (dict(optimizer="adam", learning_rate=0.01, optimizer_options={"amsgrad": True}), "adam",
                      "as Adam, with v_hat = max(v_hat, v) in place of v in the step"),
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
}


class CheckError(Exception):
    """The twin cannot be checked at all (no such module, no build_model, ...): a usage error."""


class StageFailed(Exception):
    """A stage failed; `hint` says where to look."""

    def __init__(self, hint, what="(could not run)"):
        super().__init__(hint)
        self.hint, self.what = hint, what


@dataclass
class Row:
    stage: str
    what: str
    passed: bool
    errors: dict = field(default_factory=dict)     # reference name -> measured error
    bound: str = ""


# ---- loading a twin ------------------------------------------------------------------

_loaded = itertools.count(1)


def load_twin(spec):
    """Import TWIN: a .py file, a package folder, or an importable module name."""
    path = Path(spec)
    if spec.endswith(".py") or "/" in spec or path.exists():
        if not path.exists():
            raise CheckError(f"no such file or folder: {spec}: give a .py file, a package folder or a module name")
        module_name = f"learner_twin_{next(_loaded)}"
        if path.is_dir():
            init = path / "__init__.py"
            if not init.is_file():
                raise CheckError(f"{spec} has no __init__.py: give a package folder, a .py file or a module name")
            spec_ = importlib.util.spec_from_file_location(module_name, init,
                                                           submodule_search_locations=[str(path)])
        else:
            spec_ = importlib.util.spec_from_file_location(module_name, path)
        if spec_ is None:
            raise CheckError(f"{spec} is not a Python file: give a .py file, a package folder or a module name")
        module = importlib.util.module_from_spec(spec_)
        sys.modules[module_name] = module
        try:
            spec_.loader.exec_module(module)
        except Exception as error:       # the learner's code: any error, said in one line
            for name in [n for n in sys.modules if n == module_name or n.startswith(module_name + ".")]:
                del sys.modules[name]
            raise CheckError(f"could not import {spec}: {describe_error(error)}") from None
    else:
        try:
            module = importlib.import_module(spec)
        except ModuleNotFoundError as error:
            if error.name and spec.split(".")[0] == error.name.split(".")[0]:
                raise CheckError(f"no module named {spec!r}: give an importable module name, "
                                 "a package folder or a .py file") from None
            raise CheckError(f"could not import {spec}: {describe_error(error)}") from None
        except Exception as error:
            raise CheckError(f"could not import {spec}: {describe_error(error)}") from None
    missing = [name for name in ("build_model", "loss_and_gradients") if not callable(getattr(module, name, None))]
    if missing:
        raise CheckError(f"{spec} does not export {' and '.join(missing)}: a twin exports "
                         "build_model(...) and loss_and_gradients(model, x, y) at its top level")
    return module


def describe_error(error):
    """'ValueError: message (layers.py:57, in Dense.affine)': the error and where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    if isinstance(error, SyntaxError) and error.filename:
        return f"{text} ({Path(error.filename).name}:{error.lineno})"
    if frames:
        frame = frames[-1]
        return f"{text} ({Path(frame.filename).name}:{frame.lineno}, in {_qualname(error) or frame.name})"
    return text


def _qualname(error):
    """The qualified name (Dense.affine) of the function that raised, where Python knows it."""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return getattr(tb.tb_frame.f_code, "co_qualname", None) if tb is not None else None


# ---- the references: numpy_impl and the Keras twin, computed once per process ------------------

def _options(learning_rate=0.01, momentum=0.0, nesterov=False):
    return dict(input_dim=INPUT_DIM, hidden=HIDDEN, num_classes=CLASSES, learning_rate=learning_rate,
                momentum=momentum, nesterov=nesterov, seed=0, dtype="float64")


@functools.lru_cache(maxsize=1)
def reference():
    """Weights, batches and both references' answers: they do not depend on the twin checked."""
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
        x_large = x_large * (LARGE_LOGIT / np.abs(model.forward(x_large)).max())
    x_steps = rng.random((STEPS * BATCH, INPUT_DIM))
    y_steps = numpy_impl.one_hot(rng.integers(0, CLASSES, STEPS * BATCH), CLASSES, "float64")
    x_fit = rng.random((FIT_SAMPLES, INPUT_DIM))
    y_fit = numpy_impl.one_hot(rng.integers(0, CLASSES, FIT_SAMPLES), CLASSES, "float64")
    ref = dict(weights=weights, x=x, y=y, x_large=x_large, largest_logit=float(np.abs(model.forward(x_large)).max()),
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
            stepper = twin_module.build_model(**_options(STEP_LEARNING_RATE, momentum, nesterov))
            stepper.set_weights(weights)
            stepper.fit(x_steps, y_steps, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            answers[f"steps_{label}"] = stepper.get_weights()
        fitter = twin_module.build_model(**_options(0.05, 0.9, False))
        fitter.set_weights(weights)
        history = fitter.fit(x_fit, y_fit, batch_size=FIT_BATCH, epochs=FIT_EPOCHS, shuffle=False, verbose=0)
        answers["fit_weights"] = fitter.get_weights()
        answers["fit_history"] = {key: list(map(float, history.history[key])) for key in ("loss", "accuracy")}
        answers["evaluate"] = [float(v) for v in _evaluate(fitter, x, y)]
    return ref


def _predict(model, x):
    try:
        return np.asarray(model.predict(x, verbose=0))
    except TypeError:                    # a learner's predict need not take verbose
        return np.asarray(model.predict(x))


def _evaluate(model, x, y):
    try:
        return model.evaluate(x, y, verbose=0)
    except TypeError:
        return model.evaluate(x, y)


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


# ---- the stages ------------------------------------------------------------------------

class Checker:
    """Runs the stages on one twin module; collects rows; `run()` returns True if all passed."""

    def __init__(self, module, emit=print):
        self.module = module
        self.emit = emit
        self.rows = []
        self.hint = None
        self.failed_stage = None

    def row(self, stage, what, passed, errors=None, bound=""):
        row = Row(stage, what, bool(passed), errors or {}, bound)
        self.rows.append(row)
        self.emit(format_row(row))
        return row

    def build(self, **overrides):
        options = {**_options(), **overrides}
        try:
            model = self.module.build_model(**options)
        except NotImplementedError as error:
            raise self._not_written(error) from None
        except Exception as error:
            raise StageFailed(f"build_model({_call(options)}) raised {describe_error(error)}.",
                              "build_model raised an error") from None
        model.set_weights([w.copy() for w in reference()["weights"]])
        return model

    def call(self, what, function, *args):
        """Call the twin; an error it raises fails the stage with a hint naming where."""
        try:
            return function(*args)
        except NotImplementedError as error:
            raise self._not_written(error) from None
        except Exception as error:
            raise StageFailed(f"{what} raised {describe_error(error)}.", f"{what} raised {type(error).__name__}") from None

    @staticmethod
    def _not_written(error):
        """StageFailed naming the exercise function that raised NotImplementedError, and what it computes."""
        name = _qualname(error) or "a function"
        frame = traceback.extract_tb(error.__traceback__)[-1]
        task = str(error)
        task = task[len(name) + 2:] if task.startswith(name + ": ") else task
        hint = (f"{name} ({Path(frame.filename).name}:{frame.lineno}) is not written yet, and this stage "
                f"needs it: write it next.{' It computes: ' + task if task else ''}")
        return StageFailed(hint, f"needs {name}: not written yet")

    def run(self):
        stages = [("API", self.stage_api), ("forward", self.stage_forward), ("loss", self.stage_loss),
                  ("gradients", self.stage_gradients), ("optimizer", self.stage_optimizer),
                  ("fit", self.stage_fit), ("more of Keras", self.stage_vocabulary)]
        for index, (name, stage) in enumerate(stages):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # overflow in a twin shows as a failed row, not a warning
                    stage()
            except StageFailed as failure:
                self.failed_stage, self.hint = name, failure.hint
                if not any(row.stage == name and not row.passed for row in self.rows):
                    self.row(name, failure.what, False)
                self.emit("")
                self.emit(f"The first failing stage is '{name}'. Where to look:")
                for line in _wrap(failure.hint):
                    self.emit(f"  {line}")
                rest = [n for n, _ in stages[index + 1:]]
                if rest:
                    self.emit(f"  (not run until this passes: {', '.join(rest)})")
                return False
        return True

    # -- API and shapes ---------------------------------------------------------

    def stage_api(self):
        model = self.build()
        missing = [name for name in ("fit", "evaluate", "predict", "get_weights", "set_weights")
                   if not callable(getattr(model, name, None))]
        if missing:
            self.row("API", "model methods", False)
            raise StageFailed(f"the model build_model returns has no {', '.join(missing)}: a twin's model "
                              "answers fit, evaluate, predict, get_weights and set_weights, as a Keras model does.")
        weights = self.call("get_weights()", model.get_weights)
        expected = [w.shape for w in reference()["weights"]]
        shapes = [np.shape(w) for w in weights]
        if shapes != expected:
            self.row("API", "get_weights() shapes", False)
            raise StageFailed(f"get_weights() gives shapes {shapes}, expected {expected}: Keras's order, "
                              "[kernel_0 (in, out), bias_0 (out,), kernel_1, ...], for "
                              f"build_model(input_dim={INPUT_DIM}, hidden={HIDDEN}, num_classes={CLASSES}).")
        dtypes = sorted({np.asarray(w).dtype.name for w in weights})
        if dtypes != ["float64"]:
            self.row("API", "float64 weights", False)
            raise StageFailed(f"build_model(dtype='float64') made weights of dtype {', '.join(dtypes)}: "
                              "every weight and computation must take the dtype asked for.")
        if any(not np.array_equal(a, b) for a, b in zip(weights, reference()["weights"])):
            self.row("API", "set_weights / get_weights", False)
            raise StageFailed("set_weights(w) followed by get_weights() does not give w back: set_weights "
                              "must copy each array into the model's weights.")
        learning_rate = getattr(getattr(model, "optimizer", None), "learning_rate", None)
        if learning_rate is None or not np.isclose(float(learning_rate), _options()["learning_rate"]):
            self.row("API", "optimizer.learning_rate", False)
            raise StageFailed("model.optimizer.learning_rate should hold the learning_rate given to "
                              "build_model (compare sets it for a learning-rate schedule).")
        self.row("API", f"build_model, {len(weights)} weight tensors, float64", True)

    # -- forward ----------------------------------------------------------------

    def stage_forward(self):
        ref = reference()
        model = self.build()
        for key, x, label in (("probabilities", ref["x"], "probabilities"),
                              ("probabilities_large", ref["x_large"],
                               f"probabilities, large logits (max |z| {ref['largest_logit']:.0f})")):
            mine = np.asarray(self.call("predict(x)", _predict, model, x), dtype=np.float64)
            if mine.shape != (BATCH, CLASSES):
                self.row("forward", label, False)
                raise StageFailed(f"predict(x) gave shape {mine.shape}, expected ({BATCH}, {CLASSES}): one row "
                                  "of class probabilities per sample.")
            errors = _errors(mine, ref, key, _max_abs)
            passed = _within(errors, BOUND_PROBABILITIES)
            self.row("forward", label, passed, errors, f"{BOUND_PROBABILITIES:.0e}")
            if not passed:
                raise StageFailed(self.forward_hint(mine, key))

    def forward_hint(self, mine, key):
        if key == "probabilities_large" and not np.isfinite(mine).all():
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

    # -- loss ---------------------------------------------------------------------

    def stage_loss(self):
        ref = reference()
        model = self.build()
        # evaluate() gives the loss alone; loss_and_gradients' loss is checked with the gradients.
        for key, x, label in (("loss", ref["x"], "evaluate: mean cross-entropy"),
                              ("loss_large", ref["x_large"], "evaluate: mean cross-entropy, large logits")):
            loss = float(self.call("evaluate(x, y)", _evaluate, model, x, ref["y"])[0])
            errors = {name: abs(loss - ref[name][key]) / abs(ref[name][key]) for name in ("numpy_impl", "TensorFlow")}
            passed = _within(errors, BOUND_LOSS)
            self.row("loss", label, passed, errors, f"{BOUND_LOSS:.0e} rel.")
            if not passed:
                raise StageFailed(self.loss_hint(loss, ref["TensorFlow"][key], key))

    @staticmethod
    def loss_hint(loss, expected, key):
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

    # -- gradients ------------------------------------------------------------------

    def stage_gradients(self):
        ref = reference()
        model = self.build()
        loss, gradients = self.call("loss_and_gradients(model, x, y)", self.module.loss_and_gradients,
                                    model, ref["x"], ref["y"])
        gradients = [np.asarray(g, dtype=np.float64) for g in gradients]
        errors = {name: abs(float(loss) - ref[name]["loss"]) / abs(ref[name]["loss"]) for name in ("numpy_impl", "TensorFlow")}
        self.row("gradients", "loss_and_gradients: its loss", _within(errors, BOUND_LOSS), errors, f"{BOUND_LOSS:.0e} rel.")
        if not _within(errors, BOUND_LOSS):
            raise StageFailed("evaluate() gives the right loss but loss_and_gradients does not: both should "
                              f"compute the mean cross-entropy of the batch the same way ({WHERE['loss']}).")
        if len(gradients) != len(ref["weights"]):
            self.row("gradients", "one per weight tensor", False)
            raise StageFailed(f"loss_and_gradients returned {len(gradients)} gradients for "
                              f"{len(ref['weights'])} weight tensors: one per array of get_weights(), same order.")
        numeric = self.finite_differences(model)
        verdicts = {}
        for index in backprop_order():
            label = tensor_label(index)
            expected_shape = ref["weights"][index].shape
            if gradients[index].shape != expected_shape:
                self.row("gradients", label, False)
                raise StageFailed(f"the gradient of {label} has shape {gradients[index].shape}, its weight "
                                  f"{expected_shape}: dL/dW always has W's shape" +
                                  (" (for a kernel: x.T @ dL/dz, (in, B) @ (B, out)); grad.T @ x gives the "
                                   "transposed shape." if index % 2 == 0 else "."))
            errors = _errors(gradients[index], ref, "gradients", _relative_to_largest, index)
            fd = float(np.max(numeric[index]))
            errors["finite diff."] = fd
            verdicts[index] = _within({k: v for k, v in errors.items() if k != "finite diff."}, BOUND_GRADIENT)
            passed = verdicts[index] and fd <= BOUND_FINITE_DIFFERENCES
            self.row("gradients", label, passed, errors, f"{BOUND_GRADIENT:.0e} (fd {BOUND_FINITE_DIFFERENCES:.0e})")
        failed = [i for i in backprop_order() if not verdicts[i]]
        if failed:
            raise StageFailed(gradient_hint(gradients, ref["TensorFlow"]["gradients"], verdicts))
        worst_fd = [i for i in backprop_order() if np.max(numeric[i]) > BOUND_FINITE_DIFFERENCES]
        if worst_fd:
            raise StageFailed(f"the gradients agree with TensorFlow's, but finite differences of your own loss "
                              f"disagree with them at {tensor_label(worst_fd[0])}: loss_and_gradients' loss and "
                              "its gradients do not come from the same computation (a cached or stale value?).")

    def finite_differences(self, model):
        """Relative error of the twin's gradients against central differences of its own loss."""
        ref = reference()
        x, y = ref["x"], ref["y"]
        weights = [w.copy() for w in ref["weights"]]
        _, analytic = self.module.loss_and_gradients(model, x, y)
        rng = np.random.default_rng(0)

        def loss_fn():
            model.set_weights(weights)
            return float(self.module.loss_and_gradients(model, x, y)[0])

        errors = []
        for tensor, gradient in zip(weights, analytic):
            gradient = np.asarray(gradient, dtype=np.float64)
            picks = rng.choice(tensor.size, size=min(FD_ENTRIES, tensor.size), replace=False)
            worst = []
            for flat in picks:
                index = np.unravel_index(flat, tensor.shape)
                analytic_value = gradient[index] if gradient.shape == tensor.shape else np.nan
                worst.append(self.call("loss_and_gradients", entry_error, analytic_value, loss_fn, tensor, index))
            errors.append(np.nan_to_num(np.array(worst), nan=np.inf))
        model.set_weights(ref["weights"])
        return errors

    # -- optimizer steps -------------------------------------------------------------

    def stage_optimizer(self):
        ref = reference()
        results = {}
        for label, momentum, nesterov in STEP_KINDS:
            model = self.build(learning_rate=STEP_LEARNING_RATE, momentum=momentum, nesterov=nesterov)
            self.call("fit", lambda m: m.fit(ref["x_steps"], ref["y_steps"], batch_size=BATCH, epochs=1,
                                             shuffle=False, verbose=0), model)
            mine = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
            results[label] = mine
            errors = _errors(mine, ref, f"steps_{label}", _max_weight_difference)
            passed = _within(errors, BOUND_WEIGHTS)
            self.row("optimizer", f"{STEPS} steps, {label}", passed, errors, f"{BOUND_WEIGHTS:.0e}")
            if not passed:
                raise StageFailed(optimizer_hint(label, mine, ref, results))

    # -- lockstep fit -----------------------------------------------------------------

    def stage_fit(self):
        ref = reference()
        model = self.build(learning_rate=0.05, momentum=0.9, nesterov=False)
        history = self.call("fit", lambda m: m.fit(ref["x_fit"], ref["y_fit"], batch_size=FIT_BATCH,
                                                   epochs=FIT_EPOCHS, shuffle=False, verbose=0), model)
        mine = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
        errors = _errors(mine, ref, "fit_weights", _max_weight_difference)
        passed = _within(errors, BOUND_FIT)
        label = f"{FIT_EPOCHS} epochs, {FIT_SAMPLES} samples, batch {FIT_BATCH}: weights"
        self.row("fit", label, passed, errors, f"{BOUND_FIT:.0e}")
        if not passed:
            raise StageFailed("single optimizer steps agree but a whole fit does not: look at how fit cuts "
                              f"batches ({FIT_SAMPLES} samples in batches of {FIT_BATCH}: the last has "
                              f"{FIT_SAMPLES % FIT_BATCH}, and its loss is the mean over its own size), and that "
                              f"shuffle=False keeps the order ({WHERE['fit']}).")
        try:
            recorded = {key: [float(v) for v in history.history[key]] for key in ("loss", "accuracy")}
        except (AttributeError, KeyError, TypeError):
            self.row("fit", "History", False)
            raise StageFailed("fit should return a History whose .history holds 'loss' and 'accuracy', "
                              "one value per epoch, as Keras's does.") from None
        errors = _errors(recorded, ref, "fit_history", _history_difference)
        passed = _within(errors, BOUND_FIT)
        self.row("fit", "History loss and accuracy", passed, errors, f"{BOUND_FIT:.0e}")
        if not passed:
            raise StageFailed("the weights agree but History does not: Keras's History 'loss' and 'accuracy' "
                              "are running means over the epoch, weighted by each batch's size and taken "
                              f"before each update ({WHERE['fit']}).")
        result = self.call("evaluate(x, y)", _evaluate, model, ref["x"], ref["y"])
        errors = _errors([float(v) for v in result], ref, "evaluate", _history_difference)
        passed = _within(errors, BOUND_FIT)
        self.row("fit", "evaluate: [loss, accuracy]", passed, errors, f"{BOUND_FIT:.0e}")
        if not passed:
            raise StageFailed("evaluate(x, y) should return [mean loss, accuracy] over all of x at the "
                              "current weights, without changing them.")


    # -- the rest of the vocabulary, where the twin has it --------------------------------------

    def stage_vocabulary(self):
        ref = reference()
        for label, (options, where, formula) in VOCABULARY.items():
            sparse = options.get("loss") == "sparse_categorical_crossentropy"
            y_steps = ref["y_steps"].argmax(axis=1) if sparse else ref["y_steps"]
            try:
                model = self.module.build_model(**{**_options(), **options})
            except TypeError as error:              # its build_model has no such argument: not written yet
                self.row("more", f"{label}: skipped ({str(error)[:60]})", True)
                continue
            except NotImplementedError as error:
                raise self._not_written(error) from None
            except Exception as error:
                raise StageFailed(f"build_model({_call(options)}) raised {describe_error(error)}.",
                                  f"{label}: build_model raised an error") from None
            model.set_weights([w.copy() for w in ref["weights"]])
            self.call("fit", lambda m: m.fit(ref["x_steps"], y_steps, batch_size=BATCH, epochs=1,
                                             shuffle=False, verbose=0), model)
            mine = [np.asarray(w, dtype=np.float64) for w in model.get_weights()]
            errors = _errors(mine, vocabulary_reference(label), "weights", _max_weight_difference)
            passed = _within(errors, BOUND_WEIGHTS)
            self.row("more", f"{STEPS} steps, {label}", passed, errors, f"{BOUND_WEIGHTS:.0e}")
            if not passed:
                raise StageFailed(f"plain SGD agrees but {label} does not, after {STEPS} steps from the same "
                                  f"weights: Keras computes {formula} ({WHERE[where]}).")


@functools.lru_cache(maxsize=None)
def vocabulary_reference(label):
    """numpy_impl's and the Keras twin's weights after STEPS steps of one VOCABULARY setting."""
    import keras_impl
    ref = reference()
    options = VOCABULARY[label][0]
    sparse = options.get("loss") == "sparse_categorical_crossentropy"
    y_steps = ref["y_steps"].argmax(axis=1) if sparse else ref["y_steps"]
    answers = {}
    for name, twin_module in (("numpy_impl", numpy_impl), ("TensorFlow", keras_impl)):
        model = twin_module.build_model(**{**_options(), **options})
        model.set_weights(ref["weights"])
        model.fit(ref["x_steps"], y_steps, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
        answers[name] = {"weights": model.get_weights()}
    return answers


# ---- diagnosis -----------------------------------------------------------------------

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
        if all(np.allclose(a, -b) for a, b in zip(step_mine, step_right)):
            return f"the step goes uphill: w = w - learning_rate * g, against the gradient ({WHERE['sgd']})."
        return (f"the gradients agree but plain SGD steps do not: w = w - learning_rate * g, in place, for "
                f"every weight ({WHERE['sgd']}).")
    if label.startswith("Nesterov") and _max_weight_difference(mine, ref["TensorFlow"]["steps_momentum 0.9"]) < BOUND_WEIGHTS:
        return ("with nesterov=True your weights are exactly plain momentum's: Keras's Nesterov step is "
                "v = m * v - lr * g, then w = w + m * v - lr * g (a look-ahead along the new velocity), "
                f"not w = w + v ({WHERE['sgd']}).")
    if label.startswith("Nesterov"):
        return ("plain SGD and momentum agree but Nesterov does not: Keras writes it "
                f"v = m * v - lr * g; w = w + m * v - lr * g ({WHERE['sgd']}).")
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


# ---- printing ------------------------------------------------------------------------

HEADER = f"{'stage':<10} {'what':<48} {'result':<7} {'vs numpy_impl':>13} {'vs TensorFlow':>13} {'finite diff.':>12}  bound"


def format_row(row):
    def cell(name, width):
        value = row.errors.get(name)
        return f"{'-' if value is None else _number(value):>{width}}"
    return (f"{row.stage:<10} {row.what:<48} {'passed' if row.passed else 'FAILED':<7} "
            f"{cell('numpy_impl', 13)} {cell('TensorFlow', 13)} {cell('finite diff.', 12)}  {row.bound}").rstrip()


def _number(value):
    if not np.isfinite(value):
        return "inf/nan"
    return "0" if value == 0 else f"{value:.1e}"


def _call(options):
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


def _wrap(text, width=96):
    import textwrap
    return textwrap.wrap(text, width)


def run_check(spec, emit=print, module=None):
    """Check TWIN (or an already imported `module`); returns (passed, checker)."""
    if module is None:
        module = load_twin(spec)
    start = time.perf_counter()
    emit(f"Checking {spec} against numpy_impl and the Keras twin (TensorFlow autodiff), float64, "
         f"network {INPUT_DIM}-{'-'.join(map(str, HIDDEN))}-{CLASSES}, batch {BATCH}")
    reference()                      # builds the references (and imports TensorFlow) before the table
    for label in VOCABULARY:
        vocabulary_reference(label)
    emit("")
    emit(HEADER)
    checker = Checker(module, emit)
    passed = checker.run()
    emit("")
    if passed:
        emit(f"All {len(checker.rows)} checks passed in {time.perf_counter() - start:.1f} s: "
             f"{spec} is the same network as Keras's, to float64 rounding.")
    return passed, checker
