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
    -> more of Keras (Adam, RMSprop, L2, integer labels), where the twin has them

The first stage that fails ends the check with a plain-words hint of where to
look, reasoned from what agreed and what did not (compare/check_hints.py).
The references and bounds live in compare/check_reference.py.
"""
import textwrap
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .check_hints import WHERE, forward_hint, gradient_hint, loss_hint, optimizer_hint
from .check_reference import (BATCH, BOUND_FINITE_DIFFERENCES, BOUND_FIT, BOUND_GRADIENT, BOUND_LOSS,
                              BOUND_PROBABILITIES, BOUND_WEIGHTS, CLASSES, FD_ENTRIES, FIT_BATCH, FIT_EPOCHS,
                              FIT_SAMPLES, HIDDEN, INPUT_DIM, STEPS, STEP_KINDS, STEP_LEARNING_RATE,
                              VOCABULARY, _errors, _evaluate, _history_difference, _max_abs,
                              _max_weight_difference, _options, _predict, _relative_to_largest, _within,
                              backprop_order, reference, tensor_label, vocabulary_reference)
from .gradcheck import entry_error
from .twins import TwinError as CheckError  # noqa: F401  (the CLI's name for it)
from .twins import raising_function, describe_error, load_twin  # noqa: F401  (load_twin: part of check's API)


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
        name = raising_function(error) or "a function"
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
                raise StageFailed(forward_hint(mine, key))

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
                raise StageFailed(loss_hint(loss, ref["TensorFlow"][key], key))

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
