"""The stages of `python -m compare check TWIN`, each needing the ones before it:

    API and shapes -> forward (probabilities) -> loss -> each gradient
    (output layer first, the order backprop computes them) -> optimizer steps
    (plain, momentum, Nesterov) -> a short lockstep fit (weights, History, evaluate)
    -> sanity (the initial kernels drawn as Keras's five initializers draw them; the loss
    before training near ln(10); one batch memorised)
    -> Dropout (on the twin's own masks, then on Keras's) -> Flatten
    -> more of Keras (Adam, RMSprop, L2, integer labels, ..., and the loss objects called
    alone), where the twin has them

Everything runs in float64 on one small network (24-16-16-10: the 16 -> 16
layer is square on purpose) with the same weights and batches as two
references: numpy_impl, and the Keras twin with TensorFlow's autodiff
(reference.py). Every call into the twin goes through a Guard (guard.py): a
time limit, its printing kept aside, its inputs watched. The first stage that
fails ends the check with a plain-words hint of where to look (hints.py).
"""
import math
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..gradcheck import entry_error
from . import hints
from .guard import DEFAULT_TIMEOUT, Guard, GuardFailed, float32_trace
from .hints import WHERE
from .worker import twin_home
from .reference import (BATCH, BINOMIAL_SIGMAS, BOUND_FINITE_DIFFERENCES, BOUND_FIT, BOUND_GRADIENT,
                        BOUND_INITIAL_LOSS, BOUND_INITIAL_VARIANCE, BOUND_LOSS, BOUND_PROBABILITIES, BOUND_SCALE,
                        BOUND_WEIGHTS, CLASSES, DROPOUT_RATE, DROPOUT_SAMPLES,
                        FD_ENTRIES, FIT_BATCH, FIT_EPOCHS, FIT_SAMPLES, HIDDEN, IMAGE_SHAPE, INITIALIZER_NETWORK,
                        EARLY_STOPPING_CASES, INITIALIZERS, INPUT_DIM, LOSS_OBJECTS, OVERFIT_CHUNK,
                        OVERFIT_LEARNING_RATE, OVERFIT_STEPS, STEPS,
                        STEP_KINDS, STEP_LEARNING_RATE, VOCABULARY, _errors, _evaluate, _history_difference,
                        _max_abs, _max_weight_difference, _options, _predict, _relative_to_largest, _within,
                        _stop_epoch, backprop_order, dropout_reference, early_stopping_reference,
                        initial_kernels, loss_object_calls,
                        loss_objects_reference, reference, tensor_label,
                        vocabulary_reference,
                        vocabulary_weights)
from .remote import NotWritten, RemoteGuard, TwinFault, WorkerLink, set_fixed_mask, type_names
from .results import _number
from .results import format_row as _format_row


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
    skipped: bool = False


STAGES = ("API", "forward", "loss", "gradients", "optimizer", "fit", "sanity", "dropout", "flatten", "more of Keras")
STAGE_METHODS = ("stage_api", "stage_forward", "stage_loss", "stage_gradients", "stage_optimizer", "stage_fit",
                 "stage_sanity", "stage_dropout", "stage_flatten", "stage_vocabulary")     # Checker's, in STAGES' order


class Checker:
    """Runs the stages on one twin module; collects rows; `run()` returns True if all passed."""

    def __init__(self, module, emit=print, timeout=DEFAULT_TIMEOUT):
        """module: a twin in a worker process (remote.WorkerLink), or one imported here (trusted code:
        the tests plant bugs that way)."""
        if isinstance(module, WorkerLink):
            self.module, self.guard = module.root, RemoteGuard(module)
        else:
            self.module, self.guard = module, Guard(home=twin_home(module), timeout=timeout)
        self.emit = emit
        self.rows = []
        self.hint = None
        self.failed_stage = None

    def row(self, stage, what, passed, errors=None, bound="", skipped=False):
        row = Row(stage, what, bool(passed), errors or {}, bound, skipped)
        self.rows.append(row)
        self.emit(_format_row(row))
        return row

    def run(self):
        methods = [getattr(self, method) for method in STAGE_METHODS]
        for index, (name, stage) in enumerate(zip(STAGES, methods, strict=True)):
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")   # overflow in a twin shows as a failed row, not a warning
                    try:
                        stage()
                    except TwinFault as fault:         # the worker failed outside a guarded call (an attribute read)
                        raise StageFailed(fault.hint, fault.what) from None
            except StageFailed as failure:
                self.failed_stage, self.hint = name, failure.hint
                if not any(row.stage == _short(name) and not row.passed for row in self.rows):
                    self.row(_short(name), failure.what, False)
                self.emit("")
                self.emit(f"The first failing stage is '{name}'. Where to look:")
                for line in hints.wrap(failure.hint):
                    self.emit(f"  {line}")
                rest = list(STAGES[index + 1:])
                if rest:
                    self.emit(f"  (not run until this passes: {', '.join(rest)})")
                return False
        return True

    # ---- calling the twin, distrustfully ------------------------------------------------

    def call(self, what, function, *args, **kwargs):
        """Call the twin through the guard; whatever goes wrong fails the stage with a hint."""
        try:
            return self.guard.call(what, function, *args, **kwargs)
        except NotImplementedError as error:
            raise self._not_written(error) from None
        except GuardFailed as failure:
            raise StageFailed(failure.hint, failure.what) from None

    def build(self, weights=None, own_weights=False, **overrides):
        """build_model(**overrides), set to `weights` (the reference's by default), or with the
        twin's own initial weights if own_weights."""
        options = {**_options(), **overrides}
        model = self.call(f"build_model({_call(overrides)})", self.module.build_model, **options)
        if not own_weights:
            self.set_weights(model, reference()["weights"] if weights is None else weights)
        return model

    def set_weights(self, model, weights):
        given = [self.guard.give("the arrays given to set_weights", w) for w in weights]
        self.call("set_weights(weights)", model.set_weights, given)

    def fit(self, model, x, y, batch_size, epochs=1):
        return self.call("fit(x, y)", model.fit, self.guard.give("the x given to fit", x),
                         self.guard.give("the y given to fit", y), batch_size=batch_size, epochs=epochs,
                         shuffle=False, verbose=0)

    def predict(self, model, x):
        return np.asarray(self.call("predict(x)", _predict, model, self.guard.give("the x given to predict", x)))

    def evaluate(self, model, x, y):
        return self.call("evaluate(x, y)", _evaluate, model, self.guard.give("the x given to evaluate", x),
                         self.guard.give("the y given to evaluate", y))

    def loss_and_gradients(self, model, x, y):
        return self.call("loss_and_gradients(model, x, y)", self.module.loss_and_gradients, model,
                         self.guard.give("the x given to loss_and_gradients", x),
                         self.guard.give("the y given to loss_and_gradients", y))

    def precision(self, stage, what, value, hint=None):
        """Fail with a plain word if `value` carries float32 in this float64 check."""
        trace = float32_trace(value)
        if trace:
            self.row(stage, f"{what}: float64", False)
            raise StageFailed(hints.float32_hint(what, trace, hint))

    @staticmethod
    def _not_written(error):
        """StageFailed naming the exercise function that raised NotImplementedError, and what it computes."""
        if isinstance(error, NotWritten):           # raised in the worker: its name, file and line came back
            hint = (f"{error.name} ({error.file}:{error.line}) is not written yet, and this stage needs it: write "
                    f"it next.{' It computes: ' + error.task if error.task else ''}")
            return StageFailed(hint, f"needs {error.name}: not written yet")
        from ..twins import raising_function
        name = raising_function(error) or "a function"
        frame = traceback.extract_tb(error.__traceback__)[-1]
        task = str(error)
        task = task[len(name) + 2:] if task.startswith(name + ": ") else task
        hint = (f"{name} ({Path(frame.filename).name}:{frame.lineno}) is not written yet, and this stage "
                f"needs it: write it next.{' It computes: ' + task if task else ''}")
        return StageFailed(hint, f"needs {name}: not written yet")

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
                               f"probabilities, rows' largest logit {ref['smallest_row_logit']:.0f}.."
                               f"{ref['largest_logit']:.0f}")):
            mine = self.predict(model, x)
            if mine.shape != (BATCH, CLASSES):
                self.row("forward", label, False)
                raise StageFailed(f"predict(x) gave shape {mine.shape}, expected ({BATCH}, {CLASSES}): one row "
                                  "of class probabilities per sample.")
            self.precision("forward", "predict(x)", mine)
            mine = np.asarray(mine, dtype=np.float64)
            errors = _errors(mine, ref, key, _max_abs)
            passed = _within(errors, BOUND_PROBABILITIES)
            self.row("forward", label, passed, errors, f"{BOUND_PROBABILITIES:.0e}")
            if not passed:
                leak = self.call("the layers' forward passes", hints.float32_layer, model, x)
                raise StageFailed(hints.float32_hint(*leak) if leak else hints.forward_hint(mine, key))

    # -- loss ---------------------------------------------------------------------

    def stage_loss(self):
        ref = reference()
        model = self.build()
        # evaluate() gives the loss alone; loss_and_gradients' loss is checked with the gradients.
        for key, x, label in (("loss", ref["x"], "evaluate: mean cross-entropy"),
                              ("loss_large", ref["x_large"], "evaluate: mean cross-entropy, large logits")):
            loss = self.evaluate(model, x, ref["y"])[0]
            self.precision("loss", "evaluate's loss", loss)
            loss = float(loss)
            errors = {name: abs(loss - ref[name][key]) / abs(ref[name][key]) for name in ("numpy_impl", "TensorFlow")}
            passed = _within(errors, BOUND_LOSS)
            self.row("loss", label, passed, errors, f"{BOUND_LOSS:.0e} rel.")
            if not passed:
                raise StageFailed(hints.loss_hint(loss, ref["TensorFlow"][key], key))

    # -- gradients ------------------------------------------------------------------

    def stage_gradients(self):
        ref = reference()
        model = self.build()
        loss, gradients = self.loss_and_gradients(model, ref["x"], ref["y"])
        self.precision("gradients", "loss_and_gradients' loss", loss)
        errors = {name: abs(float(loss) - ref[name]["loss"]) / abs(ref[name]["loss"]) for name in ("numpy_impl", "TensorFlow")}
        self.row("gradients", "loss_and_gradients: its loss", _within(errors, BOUND_LOSS), errors, f"{BOUND_LOSS:.0e} rel.")
        if not _within(errors, BOUND_LOSS):
            raise StageFailed("evaluate() gives the right loss but loss_and_gradients does not: both should "
                              f"compute the mean cross-entropy of the batch the same way ({WHERE['loss']}).")
        if len(gradients) != len(ref["weights"]):
            self.row("gradients", "one per weight tensor", False)
            raise StageFailed(f"loss_and_gradients returned {len(gradients)} gradients for "
                              f"{len(ref['weights'])} weight tensors: one per array of get_weights(), same order.")
        for index in backprop_order():
            self.precision("gradients", f"the gradient of {tensor_label(index)}", gradients[index],
                           "the backward pass rounds to float32 at or before this tensor: look for astype, "
                           "np.float32 or a float32 buffer in the backward functions")
        gradients = [np.asarray(g, dtype=np.float64) for g in gradients]
        numeric = self.finite_differences(model, ref["weights"], ref["x"], ref["y"])
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
            raise StageFailed(hints.gradient_hint(gradients, ref["TensorFlow"]["gradients"], verdicts))
        worst_fd = [i for i in backprop_order() if np.max(numeric[i]) > BOUND_FINITE_DIFFERENCES]
        if worst_fd:
            raise StageFailed(f"the gradients agree with TensorFlow's, but finite differences of your own loss "
                              f"disagree with them at {tensor_label(worst_fd[0])}: loss_and_gradients' loss and "
                              "its gradients do not come from the same computation (a cached or stale value?).")

    def finite_differences(self, model, start, x, y, entries=FD_ENTRIES):
        """Relative error of the twin's gradients against central differences of its own loss, at `start`."""
        x, y = self.guard.give("the x given to loss_and_gradients", x), self.guard.give("the y given to it", y)
        weights = [w.copy() for w in start]          # entry_error moves one entry at a time and puts it back

        def loss_and_gradients():
            self.call("set_weights(weights)", model.set_weights, [w.copy() for w in weights])
            return self.call("loss_and_gradients(model, x, y)", self.module.loss_and_gradients, model, x, y)

        _, analytic = loss_and_gradients()
        rng = np.random.default_rng(0)
        errors = []
        for tensor, gradient in zip(weights, analytic):
            gradient = np.asarray(gradient, dtype=np.float64)
            picks = rng.choice(tensor.size, size=min(entries, tensor.size), replace=False)
            worst = []
            for flat in picks:
                index = np.unravel_index(flat, tensor.shape)
                analytic_value = gradient[index] if gradient.shape == tensor.shape else np.nan
                worst.append(entry_error(analytic_value, lambda: float(loss_and_gradients()[0]), tensor, index))
            errors.append(np.nan_to_num(np.array(worst), nan=np.inf))
        self.call("set_weights(weights)", model.set_weights, [w.copy() for w in start])
        return errors

    # -- optimizer steps -------------------------------------------------------------

    def stage_optimizer(self):
        ref = reference()
        results = {}
        for label, momentum, nesterov in STEP_KINDS:
            model = self.build(learning_rate=STEP_LEARNING_RATE, momentum=momentum, nesterov=nesterov)
            self.fit(model, ref["x_steps"], ref["y_steps"], batch_size=BATCH)
            mine = self.call("get_weights()", model.get_weights)
            for index, weight in enumerate(mine):
                self.precision("optimizer", f"{tensor_label(index)} after {STEPS} {label} steps", weight,
                               f"the update rounds to float32 ({WHERE['sgd']})")
            mine = [np.asarray(w, dtype=np.float64) for w in mine]
            results[label] = mine
            errors = _errors(mine, ref, f"steps_{label}", _max_weight_difference)
            passed = _within(errors, BOUND_WEIGHTS)
            self.row("optimizer", f"{STEPS} steps, {label}", passed, errors, f"{BOUND_WEIGHTS:.0e}")
            if not passed:
                raise StageFailed(hints.optimizer_hint(label, mine, ref, results))

    # -- lockstep fit -----------------------------------------------------------------

    def stage_fit(self):
        ref = reference()
        model = self.build(learning_rate=0.05, momentum=0.9, nesterov=False)
        history = self.fit(model, ref["x_fit"], ref["y_fit"], batch_size=FIT_BATCH, epochs=FIT_EPOCHS)
        mine = [np.asarray(w, dtype=np.float64) for w in self.call("get_weights()", model.get_weights)]
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
        except (AttributeError, KeyError, TypeError, ValueError):
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
        result = self.evaluate(model, ref["x"], ref["y"])
        errors = _errors([float(v) for v in result], ref, "evaluate", _history_difference)
        passed = _within(errors, BOUND_FIT)
        self.row("fit", "evaluate: [loss, accuracy]", passed, errors, f"{BOUND_FIT:.0e}")
        if not passed:
            raise StageFailed("evaluate(x, y) should return [mean loss, accuracy] over all of x at the "
                              "current weights, without changing them.")

    # -- the recipe's sanity checks: the loss before training, and memorising one batch ----------------

    def stage_sanity(self):
        """The initial kernels drawn as Keras draws them; Karpathy's "recipe": at initialisation the
        network guesses, so its loss is near ln(classes); and a network that trains must be able to
        memorise one small batch."""
        for name in INITIALIZERS:
            self.check_initializer(name)
        ref = reference()
        chance = math.log(CLASSES)
        model = self.call("build_model()", self.module.build_model, **_options())      # its own initial weights
        loss = float(self.evaluate(model, ref["x"], ref["y"])[0])
        error = abs(loss - chance)
        self.row("sanity", f"initial loss {loss:.3f}, ln({CLASSES}) = {chance:.3f}", error <= BOUND_INITIAL_LOSS,
                 {}, f"|difference| <= {BOUND_INITIAL_LOSS:g}")
        if not error <= BOUND_INITIAL_LOSS:
            raise StageFailed(f"before any training the loss is {loss:.4g}, not near ln({CLASSES}) = {chance:.3f}: "
                              f"an untrained network should guess, giving each class about 1/{CLASSES}. A loss far "
                              "above it means confident wrong guesses, from initial weights that are too large. "
                              "Keras's default kernel is Glorot uniform, U(-limit, limit) with limit = "
                              "sqrt(6 / (fan_in + fan_out)), and its biases start at 0 "
                              f"({WHERE['initializers']}).")
        model = self.build(learning_rate=OVERFIT_LEARNING_RATE, momentum=0.9)
        steps, accuracy = 0, 0.0
        while steps < OVERFIT_STEPS and accuracy < 1.0:
            try:
                self.fit(model, ref["x"], ref["y"], batch_size=BATCH, epochs=OVERFIT_CHUNK)  # one step per epoch
            except StageFailed as failure:
                raise StageFailed(f"memorising one batch of {BATCH} samples (SGD {OVERFIT_LEARNING_RATE:g}, "
                                  f"momentum 0.9), after {steps} steps: {failure.hint} Each step should lower the "
                                  "loss on this batch: if it grows, the step goes against the gradient's descent "
                                  f"({WHERE['sgd']}, and the sign of dL/dlogits in {WHERE['loss']}).",
                                  failure.what) from None
            steps += OVERFIT_CHUNK
            accuracy = float(self.evaluate(model, ref["x"], ref["y"])[1])
        self.row("sanity", f"memorise {BATCH} samples: {accuracy:.0%} after {steps} steps", accuracy == 1.0, {},
                 f"100% within {OVERFIT_STEPS} steps")
        if accuracy < 1.0:
            raise StageFailed(f"after {steps} steps of SGD ({OVERFIT_LEARNING_RATE:g}, momentum 0.9) on the same "
                              f"{BATCH} samples, the training accuracy is {accuracy:.0%}, not 100%: a network this "
                              "size memorises one small batch (numpy_impl does in under 100 steps). If the single "
                              "steps above agree, look at what fit does with more epochs: each one must take a step "
                              f"from where the last ended ({WHERE['fit']}).")

    def check_initializer(self, name):
        """One initializer's kernels on a wide network, by their moments: the twin's draws are its own,
        so they can match Keras's in distribution only (variance, mean, largest |w|, shape)."""
        default = name == "glorot_uniform"             # Keras's default: build_model is not told
        options = {**INITIALIZER_NETWORK, **({} if default else {"kernel_initializer": name})}
        model = (self.build(own_weights=True, **options) if default
                 else self.build_optional("sanity", f"{name} kernels", own_weights=True, **options))
        if model is None:
            return
        weights = [np.asarray(w, dtype=np.float64) for w in self.call("get_weights()", model.get_weights)]
        report = initial_kernels(weights, name)
        ratios = " ".join(f"x{ratio:.2f}" for ratio in report["variance"]) or "-"
        self.row("sanity", f"{name} kernels: variance {ratios}", report["problem"] is None, {},
                 f"x1 +- {BOUND_INITIAL_VARIANCE:g}; mean, largest |w|, shape")
        if report["problem"] is not None:
            raise StageFailed(hints.initializer_hint(name, report["problem"]))

    # -- Dropout: what must hold on the twin's own masks, then the same step as Keras on Keras's ----------

    def stage_dropout(self):
        ref = reference()
        model = self.build_optional("dropout", f"Dropout {DROPOUT_RATE}", dropout=DROPOUT_RATE)
        if model is None:
            return
        # evaluate and predict never drop: the network is the reference's, whatever the rate
        errors = _errors(self.predict(model, ref["x"]).astype(np.float64), ref, "probabilities", _max_abs)
        self.row("dropout", "predict: the identity through Dropout", _within(errors, BOUND_PROBABILITIES), errors,
                 f"{BOUND_PROBABILITIES:.0e}")
        if not _within(errors, BOUND_PROBABILITIES):
            raise StageFailed(hints.dropout_inference_hint("predict"))
        loss = float(self.evaluate(model, ref["x"], ref["y"])[0])
        errors = {name: abs(loss - ref[name]["loss"]) / ref[name]["loss"] for name in ("numpy_impl", "TensorFlow")}
        self.row("dropout", "evaluate: the identity through Dropout", _within(errors, BOUND_LOSS), errors,
                 f"{BOUND_LOSS:.0e} rel.")
        if not _within(errors, BOUND_LOSS):
            raise StageFailed(hints.dropout_inference_hint("evaluate"))
        layers = _dropout_layers(model)
        if not layers:
            self.row("dropout", "alone: skipped (no Dropout with forward, backward)", True, skipped=True)
            return
        self.dropout_layers_alone(layers)
        if all(callable(getattr(layer, "draw_mask", None)) for layer in layers):
            self.dropout_on_keras_masks(model, layers)
        else:
            self.row("dropout", "on Keras's masks: skipped (its Dropout has no draw_mask)", True, skipped=True)

    def dropout_layers_alone(self, layers):
        """Feed each Dropout layer the same (4096, 16) array in training mode: the share dropped, the
        scale, the backward pass, a new mask. Each row shows the layer furthest from the answer; every
        layer is held to it, so a second layer built with another rate cannot slip past."""
        rng = np.random.default_rng(5)
        x = rng.uniform(0.5, 1.5, (DROPOUT_SAMPLES, HIDDEN[0]))          # no zeros: a zero out means dropped
        upstream = rng.standard_normal(x.shape)
        scale = 1 / (1 - DROPOUT_RATE)

        def training_call(layer):
            return np.asarray(self.call("Dropout.forward(x, training=True)", layer.forward,
                                        self.guard.give("the x given to Dropout.forward", x), training=True))

        def worst(values, distance=lambda value: value):
            """(index, value) of the layer furthest from the answer (a NaN furthest; the first on a tie)."""
            return max(enumerate(values), key=lambda pair: np.nan_to_num(distance(pair[1]), nan=np.inf))

        def fail(index, hint):
            which = f"Dropout layer {index + 1} of {len(layers)}: " if index else ""   # named past the first
            raise StageFailed(which + hint)

        outs = [training_call(layer) for layer in layers]
        for index, out in enumerate(outs):
            if out.shape != x.shape:
                self.row("dropout", "training: output shape", False)
                fail(index, f"Dropout.forward gave shape {out.shape} for an input of {x.shape}: dropout "
                            f"keeps the shape ({WHERE['dropout_forward']}).")
        kept = [out != 0 for out in outs]
        index, share = worst([1 - mask.mean() for mask in kept], lambda share: abs(share - DROPOUT_RATE))
        sigma = np.sqrt(DROPOUT_RATE * (1 - DROPOUT_RATE) / x.size)
        error = abs(share - DROPOUT_RATE)
        bound = BINOMIAL_SIGMAS * sigma
        self.row("dropout", f"training: {share:.4f} dropped at rate {DROPOUT_RATE}", error <= bound, {},
                 f"|share - rate| {error:.1e} <= {bound:.1e} ({BINOMIAL_SIGMAS} sd)")
        if error > bound:
            fail(index, hints.dropout_share_hint(share))
        errors = [float(np.max(np.abs(out[mask] / (x[mask] * scale) - 1))) if mask.any() else np.inf
                  for out, mask in zip(outs, kept)]
        index, error = worst(errors)
        self.row("dropout", "training: kept entries times 1 / (1 - rate)", error <= BOUND_SCALE, {},
                 f"{_number(error)} <= {BOUND_SCALE:.0e} rel.")
        if not error <= BOUND_SCALE:
            out, mask = outs[index], kept[index]
            fail(index, hints.dropout_scale_hint(float(np.median(out[mask] / x[mask])) if mask.any() else 0.0))
        backs = [np.asarray(self.call("Dropout.backward(grad)", layer.backward,
                                      self.guard.give("the gradient given to Dropout.backward", upstream)))
                 for layer in layers]
        expected = [np.where(mask, upstream * scale, 0.0) for mask in kept]
        errors = [_max_abs(back, want) / np.abs(want).max() if back.shape == want.shape else np.inf
                  for back, want in zip(backs, expected)]
        index, error = worst(errors)
        self.row("dropout", "backward: the forward pass's mask and scale", error <= BOUND_SCALE, {},
                 f"{_number(error)} <= {BOUND_SCALE:.0e} rel.")
        if not error <= BOUND_SCALE:
            fail(index, hints.dropout_backward_hint(backs[index], upstream, kept[index], scale))
        changed = [float(np.mean((training_call(layer) != 0) != mask)) for layer, mask in zip(layers, kept)]
        index, changed = worst(changed, lambda changed: -changed)
        self.row("dropout", "a new mask each training step", changed > 0.1, {},
                 f"{100 * changed:.0f}% of entries changed > 10%")
        if changed <= 0.1:
            fail(index, "two training steps dropped the same entries: draw a fresh mask at every "
                        f"training call, from the layer's generator ({WHERE['dropout_forward']}).")

    def dropout_on_keras_masks(self, model, layers):
        """Hand Keras's own masks to the twin's Dropout layers (draw_mask), then compare the loss and
        gradients of one training step with Keras's on the same masks, and with finite differences."""
        ref = reference()
        answers = dropout_reference()
        if len(layers) != len(answers["masks"]):
            self.row("dropout", "on Keras's masks: one Dropout per hidden layer", False)
            raise StageFailed(f"build_model(dropout={DROPOUT_RATE}) made {len(layers)} Dropout layers; Keras's "
                              f"has {len(answers['masks'])}, one after each hidden layer.")
        for layer, mask in zip(layers, answers["masks"]):
            set_fixed_mask(layer, mask)
        loss, gradients = self.loss_and_gradients(model, ref["x"], ref["y"])
        errors = {name: abs(float(loss) - answers[name]["loss"]) / answers[name]["loss"]
                  for name in ("numpy_impl", "TensorFlow")}
        self.row("dropout", "on Keras's masks: the loss", _within(errors, BOUND_LOSS), errors, f"{BOUND_LOSS:.0e} rel.")
        if not _within(errors, BOUND_LOSS):
            raise StageFailed(f"on Keras's own masks the training loss differs from Keras's: the forward pass in "
                              f"training must apply each layer's mask and scale ({WHERE['dropout_forward']}).")
        numeric = self.finite_differences(model, ref["weights"], ref["x"], ref["y"], entries=8)
        errors = {name: max(_relative_to_largest(np.asarray(g, np.float64), r)
                            for g, r in zip(gradients, answers[name]["gradients"]))
                  if len(gradients) == len(answers[name]["gradients"]) else np.inf
                  for name in ("numpy_impl", "TensorFlow")}
        errors["finite diff."] = float(max(np.max(e) for e in numeric))
        passed = _within({k: v for k, v in errors.items() if k != "finite diff."}, BOUND_GRADIENT) \
            and errors["finite diff."] <= BOUND_FINITE_DIFFERENCES
        self.row("dropout", "on Keras's masks: every gradient", passed, errors,
                 f"{BOUND_GRADIENT:.0e} (fd {BOUND_FINITE_DIFFERENCES:.0e})")
        if not passed:
            raise StageFailed("on Keras's own masks the loss agrees but the gradients do not: the backward pass "
                              "through Dropout multiplies by the same mask and the same 1 / (1 - rate) as the "
                              f"forward pass ({WHERE['dropout_backward']}).")

    # -- Flatten: images give what their flattened rows give ------------------------------------

    def stage_flatten(self):
        ref = reference()
        model = self.build_optional("flatten", f"input_shape={IMAGE_SHAPE} (Flatten)", input_shape=IMAGE_SHAPE)
        if model is None:
            return
        images = ref["x"].reshape((BATCH,) + IMAGE_SHAPE)
        errors = _errors(self.predict(model, images).astype(np.float64), ref, "probabilities", _max_abs)
        self.row("flatten", f"(B, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) images: probabilities",
                 _within(errors, BOUND_PROBABILITIES), errors, f"{BOUND_PROBABILITIES:.0e}")
        if not _within(errors, BOUND_PROBABILITIES):
            raise StageFailed(hints.flatten_hint())
        _, gradients = self.loss_and_gradients(model, images, ref["y"])
        errors = {name: _max_weight_difference([np.asarray(g, np.float64) for g in gradients], ref[name]["gradients"])
                  for name in ("numpy_impl", "TensorFlow")}
        self.row("flatten", f"(B, {IMAGE_SHAPE[0]}, {IMAGE_SHAPE[1]}) images: gradients",
                 _within(errors, BOUND_GRADIENT), errors, f"{BOUND_GRADIENT:.0e}")
        if not _within(errors, BOUND_GRADIENT):
            raise StageFailed(hints.flatten_hint())

    def build_optional(self, stage, label, weights=None, own_weights=False, **options):
        """build_model(**options), or None (a skipped row) where the twin's build_model does not take them."""
        try:
            return self.build(weights, own_weights, **options)
        except StageFailed as failure:
            if "TypeError" in failure.what and "unexpected keyword" in failure.hint:
                self.row(stage, f"{label}: skipped (build_model does not take it)", True, skipped=True)
                return None
            raise

    # -- the rest of the vocabulary, where the twin has it --------------------------------------

    def stage_vocabulary(self):
        ref = reference()
        for label, (options, where, formula) in VOCABULARY.items():
            sparse = options.get("loss") == "sparse_categorical_crossentropy"
            y_steps = ref["y_steps"].argmax(axis=1) if sparse else ref["y_steps"]
            model = self.build_optional("more", f"{STEPS} steps, {label}", vocabulary_weights(label), **options)
            if model is None:
                continue
            try:
                history = self.fit(model, ref["x_steps"], y_steps, batch_size=BATCH)
            except StageFailed as failure:
                if failure.what.startswith("needs "):         # an exercise function not written yet: its own hint
                    raise
                # fit itself failed (a NaN loss, an error): the row says which setting, the hint its formula
                self.row("more", f"{STEPS} steps, {label}", False)
                raise StageFailed(f"{failure.hint} With {label}, Keras computes {formula} ({WHERE[where]}).",
                                  failure.what) from None
            mine = [np.asarray(w, dtype=np.float64) for w in self.call("get_weights()", model.get_weights)]
            answers = vocabulary_reference(label)
            errors = _errors(mine, answers, "weights", _max_weight_difference)
            try:
                loss = [float(history.history["loss"][0])]
            except (AttributeError, KeyError, IndexError, TypeError, ValueError):
                loss = [np.inf]
            errors = {name: max(error, _history_difference(loss, answers[name]["loss"])) for name, error in errors.items()}
            passed = _within(errors, BOUND_WEIGHTS)
            self.row("more", f"{STEPS} steps, {label}", passed, errors, f"{BOUND_WEIGHTS:.0e} (weights, loss)")
            if not passed:
                raise StageFailed(f"plain SGD agrees but {label} does not, after {STEPS} steps from the same "
                                  f"weights (the weights, or History's loss): Keras computes {formula} "
                                  f"({WHERE[where]}).")
        self.early_stopping_row()
        for kind in LOSS_OBJECTS:
            self.loss_object_alone(kind)

    def early_stopping_row(self):
        """callbacks.EarlyStopping on given val_loss sequences, epoch by epoch, where the twin has it: the epoch
        at which it sets model.stop_training, against numpy_impl's and Keras's own callback."""
        cases = len(EARLY_STOPPING_CASES)
        kind = getattr(getattr(self.module, "callbacks", None), "EarlyStopping", None)
        if not callable(kind):
            self.row("more", f"EarlyStopping on {cases} val_loss sequences: skipped (no callbacks.EarlyStopping)",
                     True, skipped=True)
            return
        def stopped(model):
            try:
                return bool(model.stop_training)
            except (AttributeError, TwinFault):
                return False
        mine = [_stop_epoch(self.call(f"callbacks.EarlyStopping({_call(options)})", kind, **options), self.build(),
                            values, call=self.call, stopped=stopped)                  # a fresh model each: fit's part
                for options, values in EARLY_STOPPING_CASES]
        answers = early_stopping_reference()
        errors = {name: float(sum(a != b for a, b in zip(mine, stops))) for name, stops in answers.items()}
        passed = mine == answers["TensorFlow"]
        self.row("more", f"EarlyStopping on {cases} val_loss sequences", passed, errors, "0 (epochs that differ)")
        if not passed:
            first = next(i for i, (a, b) in enumerate(zip(mine, answers["TensorFlow"])) if a != b)
            options, values = EARLY_STOPPING_CASES[first]
            said = lambda epoch: "never stops" if epoch is None else f"stops after epoch {epoch + 1}"   # noqa: E731
            raise StageFailed(
                f"EarlyStopping({_call(options)}) on val_loss {values} {said(mine[first])}, but Keras's "
                f"{said(answers['TensorFlow'][first])}. Keras's rule, after each epoch: wait += 1; an improvement "
                "(val_loss + min_delta < best, compared in float32) sets best and wait = 0; otherwise, once "
                "wait >= patience (not wait > patience, which stops one epoch late) and it is not the first epoch, "
                f"model.stop_training = True ({WHERE['early_stopping']}).")

    def loss_object_alone(self, kind):
        """losses.<kind>(from_logits, dtype="float64") called alone, loss(y_true, y_pred[, sample_weight]),
        as Keras's tutorials call it, where the twin has the class; against Keras's own loss object."""
        calls = loss_object_calls(kind)
        label = f"{kind}()(y, p): {len(calls)} calls"
        loss_class = getattr(getattr(self.module, "losses", None), kind, None)
        if not callable(loss_class):
            self.row("more", f"{kind}()(y, p): skipped (no losses.{kind})", True, skipped=True)
            return
        mine = []
        for what, from_logits, y_true, y_pred, weights in calls:
            loss = self.call(f"losses.{kind}(from_logits={from_logits}, dtype='float64')", loss_class,
                             from_logits=from_logits, dtype="float64")
            args = [self.guard.give("the y_true given to the loss", y_true),
                    self.guard.give("the y_pred given to the loss", y_pred)]
            if weights is not None:
                args.append(self.guard.give("the sample_weight given to the loss", weights))
            value = self.call(f"{kind}(...)(y_true, y_pred{'' if weights is None else ', sample_weight'})", loss, *args)
            try:
                mine.append(float(value))
            except (TypeError, ValueError):
                mine.append(float("nan"))
        mine = np.array(mine)
        answers = loss_objects_reference()[kind]
        relative = {name: np.abs(mine - values) / np.abs(values) for name, values in answers.items()}
        errors = {name: float(r.max()) if np.isfinite(r).all() else float("inf") for name, r in relative.items()}
        passed = _within(errors, BOUND_LOSS)
        self.row("more", label, passed, errors, f"{BOUND_LOSS:.0e} rel.")
        if not passed:
            first = int(np.argmax(~(relative["TensorFlow"] <= BOUND_LOSS)))      # the first call that differs (NaN too)
            raise StageFailed(hints.loss_object_hint(kind, calls[first], mine[first], answers["TensorFlow"][first]))


# ---- helpers ----------------------------------------------------------------------------

def _dropout_layers(model):
    """The model's Dropout layers that can be called alone (forward(x, training), backward(grad)):
    a class named Dropout, or derived from one, or a weightless layer holding the rate asked for."""
    def is_dropout(layer):
        named = any("dropout" in kind.lower() for kind in type_names(layer))
        return named or (getattr(layer, "rate", None) == DROPOUT_RATE and not getattr(layer, "weights", None))
    return [layer for layer in getattr(model, "layers", None) or []
            if is_dropout(layer) and callable(getattr(layer, "forward", None))
            and callable(getattr(layer, "backward", None))]


def _short(stage):
    return "more" if stage == "more of Keras" else stage


def _call(options):
    return ", ".join(f"{k}={v!r}" for k, v in options.items())


_home = twin_home      # the name the tests know it by
