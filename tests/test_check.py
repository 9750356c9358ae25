"""python -m compare check: it passes the reference and catches what learners get wrong.

Each classic bug is planted by patching a fresh copy of numpy_impl loaded from
its own folder (the way `check DIR` loads a learner's package), never by
copying files; the real numpy_impl, which the check uses as a reference,
stays untouched.
"""
import re
import types
from pathlib import Path

import numpy as np
import pytest

import numpy_impl
from compare import check
from compare.check.reference import reference as reference_answers
from compare.__main__ import main
from compare.check.reference import INITIALIZER_NETWORK, INITIALIZERS, initial_kernels
from compare.quiet import import_keras_quietly
from .sampling import every

PACKAGE = str(Path(numpy_impl.__file__).parent)


@pytest.fixture(scope="module", autouse=True)
def keras_loaded():
    import_keras_quietly()


def fresh_twin():
    """A separate copy of numpy_impl's modules, safe to patch."""
    twin = check.load_twin(PACKAGE)
    assert twin is not numpy_impl and twin.layers.Dense is not numpy_impl.layers.Dense
    return twin


def run(twin):
    lines = []
    passed, checker = check.run_check("twin", emit=lines.append, module=twin)
    return passed, checker, "\n".join(lines)


def first_failure(checker):
    return next(row for row in checker.rows if not row.passed)


# The table of a passing twin, row by row: (stage, what, bound, the figures it shows). An autograder sees
# each row as a test under the name "stage: what", so a row renamed is a change to say in the docs.
# "#" stands for a figure the twin's run measures.
FIGURES = ["TensorFlow", "numpy_impl"]
WITH_FD = ["TensorFlow", "finite diff.", "numpy_impl"]
REFERENCE_ROWS = [
    ("API", "build_model, 6 weight tensors, float64", "", []),
    ("forward", "probabilities", "1e-12", FIGURES),
    ("forward", "probabilities, rows' largest logit 1..1000", "1e-12", FIGURES),
    ("loss", "evaluate: mean cross-entropy", "1e-12 rel.", FIGURES),
    ("loss", "evaluate: mean cross-entropy, large logits", "1e-12 rel.", FIGURES),
    ("gradients", "loss_and_gradients: its loss", "1e-12 rel.", FIGURES),
    *[("gradients", f"{kind}_{layer} (layer {layer}, {'output' if layer == 2 else 'hidden'})", "1e-09 (fd 1e-06)",
       WITH_FD) for layer in (2, 1, 0) for kind in ("kernel", "bias")],
    ("optimizer", "3 steps, plain SGD", "1e-12", FIGURES),
    ("optimizer", "3 steps, momentum 0.9", "1e-12", FIGURES),
    ("optimizer", "3 steps, Nesterov 0.9", "1e-12", FIGURES),
    ("fit", "2 epochs, 70 samples, batch 16: weights", "1e-11", FIGURES),
    ("fit", "History loss and accuracy", "1e-11", FIGURES),
    ("fit", "evaluate: [loss, accuracy]", "1e-11", FIGURES),
    *[("sanity", f"{name} kernels: variance x# x#", "x1 +- 0.05; mean, largest |w|, shape", [])
      for name in ("glorot_uniform", "he_uniform", "glorot_normal", "he_normal", "lecun_normal")],
    ("sanity", "initial loss #, ln(10) = 2.303", "|difference| <= 0.5", []),
    ("sanity", "memorise 32 samples: 100% after # steps", "100% within 300 steps", []),
    ("dropout", "predict: the identity through Dropout", "1e-12", FIGURES),
    ("dropout", "evaluate: the identity through Dropout", "1e-12 rel.", FIGURES),
    ("dropout", "training: # dropped at rate 0.3", "|share - rate| # <= 9.0e-03 (5 sd)", []),
    ("dropout", "training: kept entries times 1 / (1 - rate)", "# <= 1e-15 rel.", []),
    ("dropout", "backward: the forward pass's mask and scale", "# <= 1e-15 rel.", []),
    ("dropout", "a new mask each training step", "#% of entries changed > 10%", []),
    ("dropout", "on Keras's masks: the loss", "1e-12 rel.", FIGURES),
    ("dropout", "on Keras's masks: every gradient", "1e-09 (fd 1e-06)", WITH_FD),
    ("flatten", "(B, 4, 6) images: probabilities", "1e-12", FIGURES),
    ("flatten", "(B, 4, 6) images: gradients", "1e-09", FIGURES),
    *[("more", f"3 steps, {label}", "1e-12 (weights, loss)", FIGURES) for label in check.VOCABULARY],
    ("more", "EarlyStopping on 4 val_loss sequences", "0 (epochs that differ)", FIGURES),
    ("more", "CategoricalCrossentropy()(y, p): 20 calls", "1e-12 rel.", FIGURES),
    ("more", "SparseCategoricalCrossentropy()(y, p): 20 calls", "1e-12 rel.", FIGURES),
]


def shows_every_row_with_its_bound_and_figures(checker):
    def matches(pattern, text):
        return re.fullmatch(re.escape(pattern).replace("\\#", r"[0-9.e+-]+"), text) is not None
    rows = [(row.stage, row.what, row.bound, sorted(row.errors)) for row in checker.rows]
    assert len(rows) == len(REFERENCE_ROWS)
    for row, expected in zip(rows, REFERENCE_ROWS):
        assert matches(expected[0], row[0]) and matches(expected[1], row[1]) and matches(expected[2], row[2]) \
            and row[3] == expected[3], (row, expected)
    return True


def test_the_reference_passes_every_stage():
    passed, checker, text = run(fresh_twin())
    assert passed and checker.failed_stage is None
    stages = [row.stage for row in checker.rows]
    assert stages[0] == "API" and stages[-1] == "more"
    assert {"API", "forward", "loss", "gradients", "optimizer", "fit", "sanity", "dropout", "flatten", "more"} == set(stages)
    assert len([row for row in checker.rows if row.stage == "more" and not row.skipped]) == len(check.VOCABULARY) + 3 == 35
    assert len([row for row in checker.rows if row.stage == "dropout" and not row.skipped]) == 8
    assert not any(row.skipped for row in checker.rows)
    assert all(row.passed for row in checker.rows)
    # every gradient tensor, each against TensorFlow and finite differences
    gradient_rows = [row for row in checker.rows if row.stage == "gradients" and row.what.startswith(("kernel", "bias"))]
    assert [row.what.split()[0] for row in gradient_rows] == ["kernel_2", "bias_2", "kernel_1", "bias_1",
                                                              "kernel_0", "bias_0"]
    for row in gradient_rows:
        assert row.errors["TensorFlow"] < 1e-13 and row.errors["finite diff."] < 1e-6
    assert "passed" in text.splitlines()[-1]
    assert shows_every_row_with_its_bound_and_figures(checker)
    assert "note:" not in text                 # its build_model is its own (the note is for a borrowed one)


def test_the_large_logit_batch_really_overflows_a_naive_softmax():
    reference = reference_answers()
    assert reference["largest_logit"] > 709.79          # log of float64's largest number
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(reference["largest_logit"]))


# ---- the planted bugs -------------------------------------------------------------------

def relu_mask_wrong_side(self, grad_outputs):
    return grad_outputs * (self.outputs <= 0)          # passes the gradient where z <= 0


def relu_mask_from_the_gradient(self, grad_outputs):
    return grad_outputs * (grad_outputs > 0)          # mask from the backward side, not the forward input


def softmax_without_max_shift(logits):
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def plant(twin, bug):
    """Patch one classic mistake into `twin`."""
    if bug == "relu mask wrong side":
        twin.activations.ReLU.backward = relu_mask_wrong_side
    elif bug == "relu mask from the gradient":
        twin.activations.ReLU.backward = relu_mask_from_the_gradient
    elif bug == "softmax without max shift":
        twin.activations.softmax = softmax_without_max_shift
    elif bug == "loss gradient not divided by batch":
        right = twin.losses.categorical_crossentropy_from_logits

        def loss(logits, y_true):
            value, probabilities, grad_logits = right(logits, y_true)
            return value, probabilities, grad_logits * len(logits)
        twin.losses.categorical_crossentropy_from_logits = loss
    elif bug in ("bias gradient averaged", "kernel gradient transposed"):
        right = twin.layers.Dense.backward_affine

        def backward_affine(self, grad_z, need_grad_inputs=True):
            grad_inputs = right(self, grad_z, need_grad_inputs)
            if bug == "bias gradient averaged":
                self.grad_bias = grad_z.mean(axis=0)
            elif self.kernel.shape[0] == self.kernel.shape[1]:      # runs only where the layer is square
                self.grad_kernel = grad_z.T @ self.inputs
            return grad_inputs
        twin.layers.Dense.backward_affine = backward_affine
    elif bug in ("momentum with the wrong sign", "nesterov as plain momentum"):
        def apply(self, grads, variables):
            if self.velocities is None:
                self.velocities = [np.zeros_like(w) for w in variables]
            for g, w, v in zip(grads, variables, self.velocities):
                v *= self.momentum
                v += (1 if bug == "momentum with the wrong sign" and self.momentum else -1) * self.learning_rate * g
                if self.nesterov and bug != "nesterov as plain momentum":
                    w += self.momentum * v - self.learning_rate * g
                else:
                    w += v
        twin.optimizers.SGD.update = apply
    elif bug == "loss summed over the batch":
        right = twin.losses.categorical_crossentropy_from_logits

        def loss(logits, y_true):
            value, probabilities, grad_logits = right(logits, y_true)
            return value * len(logits), probabilities, grad_logits      # the sum, reported as the loss
        twin.losses.categorical_crossentropy_from_logits = loss
    elif bug in ("SGD goes uphill", "SGD forgets the learning rate"):
        def apply(self, grads, variables):
            for g, w in zip(grads, variables):
                if bug == "SGD goes uphill":
                    w += self.learning_rate * g
                else:
                    w -= g
        twin.optimizers.SGD.update = apply
    elif bug == "fit drops the partial last batch":
        right = twin.model.Sequential.fit

        def fit(self, x, y, batch_size=32, **kwargs):
            whole = len(x) - len(x) % batch_size                          # range(0, n - B + 1, B)
            return right(self, x[:whole], y[:whole], batch_size=batch_size, **kwargs)
        twin.model.Sequential.fit = fit
    else:
        raise AssertionError(bug)
    return twin


# bug -> (first failing stage, first failing row, words the hint must contain)
BUGS = {
    "relu mask wrong side": ("gradients", "kernel_1", ["ReLU.backward", "layer 1"]),
    "relu mask from the gradient": ("gradients", "kernel_1", ["ReLU.backward", "layer 1"]),
    "softmax without max shift": ("forward", "largest logit", ["max", "overflows", "softmax"]),
    "loss gradient not divided by batch": ("gradients", "kernel_2", ["32 times", "batch size"]),
    "bias gradient averaged": ("gradients", "bias_2", ["sum", "not the mean"]),
    "kernel gradient transposed": ("gradients", "kernel_1", ["transpose", "square", "bias gradient"]),
    "momentum with the wrong sign": ("optimizer", "momentum", ["v = m * v - lr * g"]),
    "nesterov as plain momentum": ("optimizer", "Nesterov", ["exactly plain momentum"]),
    "loss summed over the batch": ("loss", "evaluate: mean cross-entropy", ["32 (the batch size) times"]),
    "SGD goes uphill": ("optimizer", "plain SGD", ["goes uphill"]),
    "SGD forgets the learning rate": ("optimizer", "plain SGD", ["times as long as Keras's", "applied once"]),
    "fit drops the partial last batch": ("fit", "2 epochs", ["the last has 6", "own size"]),
}


@pytest.mark.parametrize("bug", every(2, list(BUGS)))
def test_a_planted_bug_is_caught_and_located(bug):
    stage, row_start, words = BUGS[bug]
    passed, checker, text = run(plant(fresh_twin(), bug))
    assert not passed
    assert checker.failed_stage == stage
    failed = first_failure(checker)
    assert failed.stage == stage and row_start in failed.what, failed
    for word in words:
        assert word in checker.hint, (word, checker.hint)
    # every row before the first failure passed: the check names the first wrong stage
    assert all(row.passed for row in checker.rows[:checker.rows.index(failed)])
    assert "Where to look" in text


def test_the_reference_is_not_touched_by_a_planted_bug():
    plant(fresh_twin(), "softmax without max shift")
    assert numpy_impl.activations.softmax is not softmax_without_max_shift
    assert run(fresh_twin())[0]


def test_a_forgotten_bias_fails_the_forward_stage():
    twin = fresh_twin()

    def affine(self, x):
        self.inputs = x
        return x @ self.kernel                         # no + bias
    twin.layers.Dense.affine = affine
    passed, checker, _ = run(twin)
    assert not passed and checker.failed_stage == "forward"
    assert "Dense.affine" in checker.hint


# ---- the command line: exit codes, and bad input in one line ------------------------------

def test_the_borrowed_build_model_note_is_only_for_a_twin_that_borrows():
    class Enough(Exception):
        pass

    def first_lines(module, **options):
        lines = []

        def emit(line):
            lines.append(line)
            if line.startswith("against numpy_impl"):          # the header is written: no need to run the stages
                raise Enough
        with pytest.raises(Enough):
            check.run_check(module.__name__, emit=emit, module=module, **options)
        return lines
    assert not any("note:" in line for line in first_lines(numpy_impl))       # imported by its name
    assert first_lines(numpy_impl, timeout=0)[-1].endswith("batch 32; no time limit")
    assert first_lines(numpy_impl, timeout=2.5)[-1].endswith("batch 32; each call may take 2.5 s")
    borrowing = types.ModuleType("mine")
    borrowing.build_model, borrowing.loss_and_gradients = numpy_impl.build_model, numpy_impl.loss_and_gradients
    assert "  note: its build_model is the package's own (numpy_impl.model), not one written in mine" \
        in first_lines(borrowing)


def test_cli_passes_numpy_impl(capsys):
    assert main(["check", "numpy_impl"]) == 0
    out = capsys.readouterr().out
    assert "All 70 checks passed" in out and "FAILED" not in out
    assert f"loaded from {Path(numpy_impl.__file__)}" in out
    assert "note:" not in out                  # numpy_impl's build_model is its own, not borrowed


def test_cli_checks_a_single_file_twin(tmp_path, capsys):
    twin = tmp_path / "my_twin.py"
    twin.write_text("from numpy_impl import build_model, loss_and_gradients\n")
    assert main(["check", str(twin)]) == 0
    out = capsys.readouterr().out
    assert f"loaded from {twin}" in out
    assert "its build_model is the package's own (numpy_impl.model)" in out       # not the learner's code


def one_line_error(capsys):
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err and "Traceback" not in captured.out, captured
    return lines[0]


def test_cli_no_such_module(capsys):
    assert main(["check", "no_such_twin_module"]) == 2
    assert "no module named 'no_such_twin_module'" in one_line_error(capsys)


def test_cli_no_such_file(tmp_path, capsys):
    assert main(["check", str(tmp_path / "missing.py")]) == 2
    assert "no such file or folder" in one_line_error(capsys)


def test_cli_folder_without_init(tmp_path, capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "no __init__.py" in one_line_error(capsys)


def test_cli_module_without_build_model(tmp_path, capsys):
    twin = tmp_path / "half_twin.py"
    twin.write_text("def loss_and_gradients(model, x, y):\n    pass\n")
    assert main(["check", str(twin)]) == 2
    assert "does not export build_model" in one_line_error(capsys)


def test_cli_twin_that_does_not_import(tmp_path, capsys):
    twin = tmp_path / "broken.py"
    twin.write_text("def build_model(:\n")
    assert main(["check", str(twin)]) == 2
    line = one_line_error(capsys)
    assert "SyntaxError" in line and "broken.py:1" in line


def test_cli_build_model_that_raises(tmp_path, capsys):
    twin = tmp_path / "raising.py"
    twin.write_text("from numpy_impl import loss_and_gradients\n\n"
                    "def build_model(**kwargs):\n    raise ValueError('not today')\n")
    assert main(["check", str(twin)]) == 1
    captured = capsys.readouterr()
    assert "build_model() raised ValueError: not today" in captured.out and "raising.py:4" in captured.out
    line = [line for line in captured.err.splitlines() if line.strip()]
    assert len(line) == 1 and "failed at stage 'API'" in line[0] and "Traceback" not in captured.err


# ---- a learner's twin plugs into lockstep training like the reference twins ------------------

def test_a_third_twin_trains_in_lockstep_through_the_api_alone(rng):
    from compare.experiment import Config, run_lockstep
    from compare.twins import Twin, numpy_twin

    from .conftest import random_batch
    train, test = random_batch(rng, n=120, features=20, classes=4), random_batch(rng, n=40, features=20, classes=4)
    config = Config(epochs=2, batch_size=16, learning_rate=0.05, momentum=0.9, hidden=(8,), dtype="float64")
    models, records, differences = run_lockstep(config, train, test, log=lambda message: None, verbose=0,
                                                twins=[numpy_twin(), Twin("mine", fresh_twin())])
    assert set(models) == set(records) == {"numpy", "mine"}
    assert len(differences) == 2 and max(differences) < 1e-13
    assert records["mine"]["history"]["loss"] == pytest.approx(records["numpy"]["history"]["loss"], abs=1e-13)


def test_a_twin_whose_loss_blows_up_is_stopped_as_diverged(rng):
    from compare.experiment import Config, run_lockstep
    from compare.twins import Diverged, Twin

    from .conftest import random_batch
    twin = fresh_twin()
    right = twin.losses.categorical_crossentropy_from_logits
    twin.losses.categorical_crossentropy_from_logits = lambda logits, y: (float("nan"),) + right(logits, y)[1:]
    config = Config(epochs=1, batch_size=16, hidden=(8,), dtype="float64")
    data = random_batch(rng, n=64, features=20, classes=4)
    with pytest.raises(Diverged, match="the mine twin's loss became NaN or infinite at epoch 1, batch 1"):
        run_lockstep(config, data, data, log=lambda message: None, verbose=0, twins=[Twin("mine", twin)])


def test_the_rest_of_the_vocabulary_is_checked_where_the_twin_has_it(tmp_path):
    plain = tmp_path / "sgd_only.py"
    plain.write_text("import numpy_impl\nfrom numpy_impl import loss_and_gradients\n\n"
                     "def build_model(input_dim, hidden, num_classes, learning_rate, momentum, nesterov, seed, dtype):\n"
                     "    return numpy_impl.build_model(input_dim, hidden, num_classes, learning_rate, momentum,\n"
                     "                                  nesterov, seed, dtype)\n")
    passed, checker, _ = run(check.load_twin(str(plain)))
    assert passed
    optional = [row for row in checker.rows if row.stage in ("more", "dropout", "flatten")]
    assert len(optional) == 5 + len(check.VOCABULARY) and all(row.skipped and "skipped" in row.what for row in optional)


def test_a_wrong_adam_is_caught_in_the_last_stage():
    twin = fresh_twin()
    right = twin.optimizers.Adam.update

    def apply(self, grads, variables):
        self.epsilon = 1e-8               # the papers' epsilon, not Keras's 1e-7
        right(self, grads, variables)
    twin.optimizers.Adam.update = apply
    passed, checker, _ = run(twin)
    assert not passed and checker.failed_stage == "more of Keras"
    assert first_failure(checker).what == "3 steps, Adam" and "Adam.update" in checker.hint


# the loss objects called alone, each a classic slip in the probabilities' path or the logits'
def not_renormalised(self, y, p):
    if self.from_logits:
        return -(y * numpy_impl.losses._log_softmax(p)).sum(axis=-1)
    return -(y * np.log(np.clip(p, 1e-7, 1 - 1e-7))).sum(axis=-1)           # a row summing to 1.2 keeps its excess


def not_clipped(self, y, p):
    if self.from_logits:
        return -(y * numpy_impl.losses._log_softmax(p)).sum(axis=-1)
    return -(y * np.log(p / p.sum(axis=-1, keepdims=True))).sum(axis=-1)    # a 0 gives log 0 = -inf


def shifted_by_the_batch_max(self, labels, z):
    if not self.from_logits:
        z = np.log(np.clip(z, 1e-7, 1 - 1e-7))
    shifted = z - z.max()                                                   # the small rows underflow to 0 / 0
    return -(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))[np.arange(len(z)), labels]


# slip -> (class, its wrong crossentropy, the call the hint must name first, words it must hold)
LOSS_OBJECT_SLIPS = {
    "not renormalised": ("CategoricalCrossentropy", not_renormalised,
                         "CategoricalCrossentropy(from_logits=False) on rows not summing to 1", ["renormalised"]),
    "not clipped": ("CategoricalCrossentropy", not_clipped,
                    "CategoricalCrossentropy(from_logits=False) on a zero probability", ["clipped to [1e-7"]),
    "one shift for the batch": ("SparseCategoricalCrossentropy", shifted_by_the_batch_max,
                                "SparseCategoricalCrossentropy(from_logits=True) on rows at scales 0.1 to 1000",
                                ["its own max"]),
}


@pytest.mark.parametrize("slip", list(LOSS_OBJECT_SLIPS))
def test_a_loss_object_called_alone_is_held_to_kerass_and_the_hint_names_the_call(slip):
    kind, wrong, call, words = LOSS_OBJECT_SLIPS[slip]
    twin = fresh_twin()
    setattr(getattr(twin.losses, kind), "crossentropy", wrong)
    passed, checker, _ = run(twin)
    assert not passed and checker.failed_stage == "more of Keras"
    assert first_failure(checker).what == f"{kind}()(y, p): 20 calls"
    assert checker.hint.startswith(call) and f"numpy_impl/losses.py: {kind}.crossentropy" in checker.hint
    for word in words:
        assert word in checker.hint, (word, checker.hint)


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_the_initial_kernel_rows_hold_keras_own_draws(name):
    # the formulas the sanity rows hold a twin to are Keras's: its own draws pass them, on two seeds
    import keras_impl
    for seed in (0, 1):
        model = keras_impl.build_model(**INITIALIZER_NETWORK, kernel_initializer=name, seed=seed, dtype="float64")
        report = initial_kernels([np.asarray(w, np.float64) for w in model.get_weights()], name)
        assert report["problem"] is None, report
        assert all(abs(ratio - 1) < 0.02 for ratio in report["variance"]) and report["largest"] > 0.99


def test_the_initial_kernel_rows_refuse_other_shapes_and_non_finite_weights():
    rng = np.random.default_rng(0)
    right = [rng.uniform(-0.1, 0.1, (500, 250)), np.zeros(250), rng.uniform(-0.1, 0.1, (250, 100)), np.zeros(100)]
    report = initial_kernels([w.T if w.ndim == 2 else w for w in right], "glorot_uniform")
    assert report["problem"] == ("its kernels have shapes [(250, 500), (100, 250)], not [(500, 250), (250, 100)] "
                                 "(build_model's input_dim, hidden and num_classes)")
    assert set(report) == {"variance", "mean", "largest", "kurtosis", "biases", "problem"}
    right[2][0, 0] = np.nan
    assert initial_kernels(right, "glorot_uniform")["problem"] == "its initial weights hold NaN or infinite entries"


def test_the_initial_kernel_figures_are_the_moments_they_name():
    # two kernels of known draws: the report's figures, each computed again here from its definition
    rng = np.random.default_rng(3)
    limits = [np.sqrt(6 / 750), np.sqrt(6 / 350)]                     # Glorot's, for 500 x 250 and 250 x 100
    kernels = [rng.uniform(-limit, limit, shape) for limit, shape in zip(limits, [(500, 250), (250, 100)])]
    half = initial_kernels([0.5 * k for k in kernels], "glorot_uniform")          # no biases: none to judge
    whole = initial_kernels(kernels, "glorot_uniform")
    variances = [limit ** 2 / 3 for limit in limits]
    assert whole["variance"] == pytest.approx([np.mean(k ** 2) / v for k, v in zip(kernels, variances)], rel=1e-12)
    assert half["variance"] == pytest.approx([r / 4 for r in whole["variance"]], rel=1e-12)
    assert half["largest"] == pytest.approx(0.5 * whole["largest"], rel=1e-12) and 0.999 < whole["largest"] <= 1
    assert whole["mean"] == pytest.approx(max(abs(k.mean()) / np.sqrt(v) for k, v in zip(kernels, variances)))
    z = np.concatenate([(k / np.sqrt(v)).ravel() for k, v in zip(kernels, variances)])
    assert whole["kurtosis"] == pytest.approx(np.mean(z ** 4) / np.mean(z ** 2) ** 2, rel=1e-12)
    assert half["kurtosis"] == pytest.approx(whole["kurtosis"], rel=1e-12)     # the shape, whatever the scale
    assert whole["problem"] is None and half["biases"] == 0.0 and "variance of Keras's" in half["problem"]
