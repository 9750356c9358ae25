"""check's Dropout and Flatten stages, and a check that distrusts the twin it runs:
a call that never returns, float32 where float64 was asked, inputs changed in place,
an error deep in the twin, printing; and the verdict as Gradescope's results.json.

Mistakes are planted in a fresh copy of numpy_impl (as in test_check.py) or written
as a learner's own file.
"""
import json
import math
import re
import sys
import textwrap
import time
import types
from pathlib import Path

import numpy as np
import pytest

from compare import check
from compare.check.reference import reference as reference_answers
from compare.__main__ import main
from compare.check.reference import DROPOUT_RATE, _max_weight_difference, _relative_to_largest
from compare.check.results import HEADER, format_row
from compare.check.stages import Checker, StageFailed, _dropout_layers, _home

from .test_check import first_failure, fresh_twin
from .test_check_hints import stage_hint
from .sampling import every


def checked(twin, **options):
    lines = []
    passed, checker = check.run_check("twin", emit=lines.append, module=twin, **options)
    return passed, checker, "\n".join(lines)


def twin_with_fit(path, body):
    """A learner's twin file: numpy_impl's model whose `fit(self, x, y, **kwargs)` is `body`."""
    path.write_text("import time\n\nimport numpy as np\nimport numpy_impl\nfrom numpy_impl import loss_and_gradients\n\n\n"
                    "class Mine(numpy_impl.Sequential):\n    def fit(self, x, y, **kwargs):\n"
                    + textwrap.indent(textwrap.dedent(body), " " * 8)
                    + "\n\ndef build_model(**options):\n    model = numpy_impl.build_model(**options)\n"
                      "    model.__class__ = Mine\n    return model\n")
    return path


# ---- Dropout: four classic mistakes, and two more -----------------------------------------

def plant_dropout(twin, bug):
    Dropout = twin.layers.Dropout
    right_forward = Dropout.forward
    if bug == "backward ignores the mask":
        Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs
    elif bug == "no 1 / (1 - rate) scale":
        def forward(self, x, training=False):
            if not training:
                return x
            self.mask = self.draw_mask(x.shape)
            return x * self.mask
        Dropout.forward = forward
        Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs * self.mask
    elif bug == "rate taken as the keep probability":
        def forward(self, x, training=False):
            if not training:
                return x
            self.mask = self.rng.random(x.shape) < self.rate          # keeps a share `rate`
            return x * self.mask / self.rate
        Dropout.forward = forward
        Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs * self.mask / self.rate
    elif bug == "drops in predict too":
        Dropout.forward = lambda self, x, training=False: right_forward(self, x, training=True)
    elif bug == "backward draws a new mask":
        def backward(self, grad_outputs, need_grad_inputs=True):
            return grad_outputs * self.draw_mask(grad_outputs.shape) * self.scale
        Dropout.backward = backward
    elif bug == "the same mask every step":
        Dropout.draw_mask = lambda self, shape: np.random.default_rng(0).random(shape) >= self.rate
    else:
        raise AssertionError(bug)
    return twin


# bug -> (first failing row, words the hint must contain)
DROPOUT_BUGS = {
    "backward ignores the mask": ("backward", ["ignores the mask", "Dropout.backward"]),
    "no 1 / (1 - rate) scale": ("kept entries", ["not scaled at all", "1 / (1 - rate)"]),
    "rate taken as the keep probability": ("dropped at rate", ["probability to keep", "u >= rate"]),
    "drops in predict too": ("predict: the identity", ["identity outside training", "Dropout.forward"]),
    "backward draws a new mask": ("backward", ["another mask", "forward"]),
    "the same mask every step": ("a new mask each", ["fresh mask"]),
}


@pytest.mark.parametrize("bug", every(2, list(DROPOUT_BUGS)))
def test_a_dropout_mistake_fails_the_dropout_stage(bug):
    row_start, words = DROPOUT_BUGS[bug]
    passed, checker, text = checked(plant_dropout(fresh_twin(), bug))
    assert not passed and checker.failed_stage == "dropout"
    failed = first_failure(checker)
    assert failed.stage == "dropout" and row_start in failed.what, failed
    for word in words:
        assert word in checker.hint, (word, checker.hint)
    assert all(row.passed for row in checker.rows[:checker.rows.index(failed)])


def test_the_dropout_mistakes_exit_1_from_the_command_line(tmp_path, capsys):
    twin = tmp_path / "careless.py"
    twin.write_text(textwrap.dedent("""\
        import numpy_impl
        from numpy_impl import loss_and_gradients

        class CarelessDropout(numpy_impl.Dropout):
            def backward(self, grad_outputs, need_grad_inputs=True):
                return grad_outputs          # ignores the mask: a dropped entry's gradient is not 0

        def build_model(**options):
            model = numpy_impl.build_model(**options)
            for layer in model.layers:
                if isinstance(layer, numpy_impl.Dropout):
                    layer.__class__ = CarelessDropout
            return model
        """))
    assert main(["check", str(twin)]) == 1
    captured = capsys.readouterr()
    assert "failed at stage 'dropout'" in captured.err and "ignores the mask" in captured.out
    assert f"loaded from {twin}" in captured.out


def test_a_dropout_under_another_class_name_is_still_found(tmp_path):
    twin = tmp_path / "renamed.py"
    twin.write_text(textwrap.dedent("""\
        import numpy_impl
        from numpy_impl import loss_and_gradients

        class Mistaken(numpy_impl.Dropout):
            def forward(self, x, training=False):
                if not training:
                    return x
                self.mask = self.draw_mask(x.shape)
                return x * self.mask                 # no 1 / (1 - rate)

        class Thinning:                              # a learner's own layer, no Dropout in its name
            weights = gradients = ()

            def __init__(self, rate):
                self.rate = rate

        def build_model(**options):
            model = numpy_impl.build_model(**options)
            for layer in model.layers:
                if isinstance(layer, numpy_impl.Dropout):
                    layer.__class__ = Mistaken
            return model
        """))
    passed, checker, _ = checked(check.load_twin(str(twin)))
    assert not passed and checker.failed_stage == "dropout" and "not scaled at all" in checker.hint
    module = check.load_twin(str(twin))

    class Model:
        layers = [module.Thinning(0.3), module.Thinning(0.5)]
    Model.layers[0].forward = Model.layers[0].backward = lambda *args, **kwargs: None
    assert _dropout_layers(Model()) == [Model.layers[0]]       # found by its rate, with forward and backward


def second_dropout_changed(change):
    """A fresh twin whose build_model hands its second Dropout layer to `change`, after building."""
    twin = fresh_twin()
    right = twin.build_model

    def build_model(**options):
        model = right(**options)
        dropouts = [layer for layer in model.layers if isinstance(layer, twin.layers.Dropout)]
        if len(dropouts) == 2:
            change(dropouts[1])
        return model
    twin.build_model = build_model
    return twin


def at_half(layer):
    layer.rate, layer.scale = 0.5, 2.0


def without_its_mask(layer):
    layer.backward = lambda grad_outputs, need_grad_inputs=True: grad_outputs


def nan_where_kept(layer):
    right = layer.forward
    layer.forward = lambda x, training=False: np.where(right(x, training) != 0, np.nan, 0.0) if training else x


def same_draws(layer):
    class SameDraws:                                   # a generator reseeded at every call
        def random(self, shape):
            return np.random.default_rng(0).random(shape)
    layer.rng = SameDraws()


@pytest.mark.parametrize("change, row_start, words", [
    (at_half, "training: 0.5", ["Dropout layer 2 of 2: it dropped 50.", "at rate 0.3"]),
    (nan_where_kept, "training: kept entries", ["Dropout layer 2 of 2: "]),
    (without_its_mask, "backward", ["Dropout layer 2 of 2: Dropout's backward pass", "ignores the mask"]),
    (same_draws, "a new mask", ["Dropout layer 2 of 2: two training steps dropped the same entries"])])
def test_every_dropout_layer_is_checked_alone_and_a_wrong_one_is_named(change, row_start, words):
    # the layer-alone rows hold each layer, not only the first: Keras's masks would not reach a
    # second layer built at another rate in a twin without draw_mask, so the masks are taken away
    twin = second_dropout_changed(change)

    def forward(self, x, training=False):             # its own mask, with no draw_mask to hand one in
        if not training:
            return x
        self.mask = self.rng.random(x.shape) >= self.rate
        self.factor = self.mask * self.scale
        return x * self.factor
    twin.layers.Dropout.forward, twin.layers.Dropout.draw_mask = forward, None
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "dropout"
    failed = first_failure(checker)
    assert failed.what.startswith(row_start), failed
    for word in words:
        assert word in checker.hint, (word, checker.hint)


def test_a_fault_in_the_first_dropout_layer_is_not_given_a_layer_number():
    twin = fresh_twin()
    twin.layers.Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs
    assert stage_hint(twin, "stage_dropout").startswith("Dropout's backward pass returns the gradient unchanged")


def test_keras_masks_catch_a_backward_that_scales_differently_from_its_forward():
    # forward and backward both wrong in the same unscaled way pass the layer rows only if
    # the scale check is skipped; here the backward pass alone forgets the scale
    twin = fresh_twin()
    twin.layers.Dropout.backward = lambda self, grad_outputs, need_grad_inputs=True: grad_outputs * self.mask
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "dropout"
    assert "not the 1 / (1 - rate) scale" in checker.hint


def test_the_dropout_reference_uses_keras_own_masks():
    answers = check.dropout_reference()
    assert len(answers["masks"]) == 2
    for mask in answers["masks"]:
        assert mask.shape == (32, 16) and 0.5 < mask.mean() < 0.9        # about 70% kept at rate 0.3
    assert not np.array_equal(*answers["masks"])
    # numpy_impl on Keras's masks: the same loss and gradients as Keras's autodiff
    assert abs(answers["numpy_impl"]["loss"] - answers["TensorFlow"]["loss"]) < 1e-14
    for a, b in zip(answers["numpy_impl"]["gradients"], answers["TensorFlow"]["gradients"]):
        assert np.abs(a - b).max() < 1e-14


# ---- Flatten ----------------------------------------------------------------------------------

def test_a_flatten_in_the_wrong_order_fails_the_flatten_stage():
    twin = fresh_twin()
    twin.layers.Flatten.forward = lambda self, x, training=False: np.swapaxes(x, 1, 2).reshape(len(x), -1)
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "flatten"
    assert "row-major" in checker.hint and first_failure(checker).what.startswith("(B, 4, 6) images")


# ---- softmax: rows of very different scale ------------------------------------------------------

def test_the_large_logit_batch_mixes_row_scales():
    reference = reference_answers()
    assert reference["largest_logit"] > 900 and reference["smallest_row_logit"] < 10


def test_a_softmax_shifted_by_the_batch_max_is_caught():
    twin = fresh_twin()

    def softmax(logits):
        exp = np.exp(logits - logits.max())                        # the batch's max, not each row's
        return exp / exp.sum(axis=1, keepdims=True)
    twin.activations.softmax = softmax
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "forward"
    assert "each row's own largest logit" in checker.hint


# ---- a call that never returns ----------------------------------------------------------------

def test_a_fit_that_never_returns_is_stopped_at_the_time_limit():
    twin = fresh_twin()

    def fit(self, *args, **kwargs):
        # A learner's loop whose index never advances, inside an except that would swallow an
        # ordinary exception. (It gives up after 20 s, so that a broken time limit fails this test
        # rather than hanging the suite.)
        give_up = time.monotonic() + 20
        while time.monotonic() < give_up:
            try:
                pass
            except Exception:
                pass
    twin.model.Sequential.fit = fit
    passed, checker, _ = checked(twin, timeout=0.5)
    assert not passed and checker.failed_stage == "optimizer"
    assert "fit(x, y) did not return within 0.5 s: an endless loop" in checker.hint     # its loop is not the twin's
    assert checker.hint.endswith("Allow longer with --timeout SECONDS.")


def test_cli_timeout_exits_1_naming_the_call_and_the_stage(tmp_path, capsys):
    twin = twin_with_fit(tmp_path / "stuck.py", """\
        start, give_up = 0, time.monotonic() + 20   # (gives up, so a broken limit fails the test)
        while start < len(x) and time.monotonic() < give_up:
            pass                  # forgot start += batch_size
        """)
    assert main(["check", str(twin), "--timeout", "1"]) == 1
    captured = capsys.readouterr()
    hint = " ".join(captured.out.split())                               # the hint as one line, unwrapped
    # the learner's own line, named: the loop's `while` (line 11) or its body (12), wherever the alarm fell
    assert re.search(r"fit\(x, y\) did not return within 1 s; when stopped it was running stuck\.py:1[12], in "
                     r"Mine\.fit: an endless loop", hint), hint
    assert "failed at stage 'optimizer' (fit(x, y): no answer in 1 s)" in captured.err
    assert "Traceback" not in captured.out + captured.err


# ---- float32 in a float64 check ---------------------------------------------------------------

def test_a_forward_pass_in_float32_is_named_not_just_reported_as_1e_7():
    twin = fresh_twin()

    def affine(self, x):
        self.inputs = x
        z = x.astype(np.float32) @ self.kernel.astype(np.float32) + self.bias.astype(np.float32)
        return z.astype(np.float64)                               # widened again: the dtype hides it
    twin.layers.Dense.affine = affine
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "forward"
    assert first_failure(checker).what == "probabilities"          # off by ~1e-8, and the hint says why
    assert "every value in it is a float32 number" in checker.hint
    assert "model.layers[0] (Dense.forward)" in checker.hint


def test_a_predict_that_returns_float32_is_named():
    twin = fresh_twin()
    right = twin.model.Sequential.predict
    twin.model.Sequential.predict = lambda self, x, **kwargs: right(self, x).astype(np.float32)
    passed, checker, _ = checked(twin)
    assert not passed and "has dtype float32" in checker.hint


def test_a_backward_pass_in_float32_is_named_at_its_tensor():
    twin = fresh_twin()
    right = twin.layers.Dense.backward_affine

    def backward_affine(self, grad_z, need_grad_inputs=True):
        grad_inputs = right(self, grad_z.astype(np.float32).astype(np.float64), need_grad_inputs)
        self.grad_kernel = self.grad_kernel.astype(np.float32).astype(np.float64)
        self.grad_bias = self.grad_bias.astype(np.float32).astype(np.float64)
        return grad_inputs
    twin.layers.Dense.backward_affine = backward_affine
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "gradients"
    assert "the gradient of kernel_2" in checker.hint and "float32" in checker.hint


def test_float32_trace_tells_float64_work_from_float32_work(rng):
    from compare.check.guard import float32_trace
    exact = rng.standard_normal(1000)
    assert float32_trace(exact) is None
    assert float32_trace(exact.astype(np.float32)) == "dtype float32"
    assert float32_trace(exact.astype(np.float32).astype(np.float64)) == "float32 values"
    assert float32_trace(np.array([0.0, 1.0, 2.0])) is None           # whole numbers prove nothing
    assert float32_trace(float(np.float32(0.1))) == "float32 values"
    assert float32_trace(0.1) is None


# ---- a twin that changes what it is given ---------------------------------------------------

def test_a_fit_that_normalises_x_in_place_is_named():
    twin = fresh_twin()
    right = twin.model.Sequential.fit

    def fit(self, x, y, **kwargs):
        x -= x.mean()                                               # the caller's array
        return right(self, x, y, **kwargs)
    twin.model.Sequential.fit = fit
    passed, checker, _ = checked(twin)
    assert not passed and checker.failed_stage == "optimizer"
    assert "fit(x, y) changed the x given to fit in place" in checker.hint


def test_a_set_weights_that_keeps_the_callers_arrays_is_named():
    twin = fresh_twin()

    def set_weights(self, weights):
        arrays = iter(weights)
        for layer in self.layers:
            if layer.weights:
                layer.kernel, layer.bias = next(arrays), next(arrays)   # no copy: training writes into them
        self._weights = self._trainable = [w for layer in self.layers for w in layer.weights]
    twin.model.Sequential.set_weights = set_weights
    passed, checker, _ = checked(twin)
    assert not passed
    assert "changed the arrays given to set_weights in place" in checker.hint and "copy them" in checker.hint


# ---- an error inside the twin: its own file and line -------------------------------------------

def test_an_error_deep_in_numpy_names_the_twins_own_line(tmp_path, capsys):
    twin = twin_with_fit(tmp_path / "shapes.py", """\
        return np.einsum("bi,oi->bo", x, self.weights[0])     # (in, out) read as (out, in)
        """)
    lines = twin.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, start=1) if "einsum" in text)
    assert main(["check", str(twin)]) == 1
    captured = capsys.readouterr()
    assert "fit(x, y) raised ValueError" in captured.out and f"shapes.py:{line}, in Mine.fit" in captured.out
    assert "Traceback" not in captured.out + captured.err
    assert "failed at stage 'optimizer'" in captured.err


def test_the_verdict_follows_the_table_after_one_blank_line():
    passed, checker, text = checked(fresh_twin())
    lines = text.splitlines()
    assert passed and lines[-2] == "" and lines[-1].startswith(f"All {len(checker.rows)} checks passed in ")
    assert lines[-3] == format_row(checker.rows[-1])                  # the table's last row, just before


def test_what_the_twin_prints_stays_out_of_the_table():
    twin = fresh_twin()
    right = twin.model.Sequential.fit

    def fit(self, *args, **kwargs):
        print("epoch done, loss", 1.23)
        return right(self, *args, **kwargs)
    twin.model.Sequential.fit = fit
    passed, checker, text = checked(twin)
    assert passed
    table = text.split("(your twin printed")[0]
    assert "epoch done" not in table
    assert "your twin printed" in text and "'epoch done, loss 1.23'" in text


# ---- Gradescope's results.json ------------------------------------------------------------------

def gradescope_fields(results):
    """Gradescope's required fields, and the sums that must hold between them."""
    assert isinstance(results["score"], (int, float)) and isinstance(results["output"], str)
    assert results["visibility"] == "visible"                      # shown to the learner at once
    assert results["tests"]
    for test in results["tests"]:
        assert set(test) >= {"name", "status", "score", "max_score", "output"}, test
        assert test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"]
        assert (test["score"] == test["max_score"]) == (test["status"] == "passed")
    assert results["score"] == sum(test["score"] for test in results["tests"])
    return results


def test_json_of_a_passing_twin_gives_full_marks(tmp_path, capsys):
    path = tmp_path / "results.json"
    assert main(["check", "numpy_impl", "--json", str(path)]) == 0
    results = gradescope_fields(json.loads(path.read_text()))
    assert results["score"] == sum(test["max_score"] for test in results["tests"]) == 70
    assert "All 70 checks passed" in results["output"]
    gradient = next(test for test in results["tests"] if test["name"].startswith("gradients: kernel_2"))
    assert "vs TensorFlow" in gradient["output"] and "bound 1e-09" in gradient["output"]
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]               # no temporary left


def test_json_of_a_failing_twin_names_the_first_failing_stage(tmp_path):
    twin = plant_dropout(fresh_twin(), "backward ignores the mask")
    passed, checker, text = checked(twin)
    results = gradescope_fields(check.gradescope("twin", 1.0, checker, stages=check.STAGES))
    assert "'dropout'" in results["output"] and "ignores the mask" in results["output"]
    failed = [test for test in results["tests"] if test["status"] == "failed"]
    assert failed[0]["name"].startswith("dropout: backward")
    assert [test["name"] for test in failed[1:]] == ["flatten: not run", "more of Keras: not run"]
    assert "(not run until this passes: flatten, more of Keras)" in text
    assert results["score"] < sum(test["max_score"] for test in results["tests"])


def test_results_json_is_indented_for_a_person_to_read(tmp_path):
    path = tmp_path / "results.json"
    check.write_json(path, {"score": 1, "tests": [{"name": "API: build_model"}]})
    assert json.loads(path.read_text()) == {"score": 1, "tests": [{"name": "API: build_model"}]}
    assert path.read_text().splitlines()[1] == '  "score": 1,'


def test_json_of_a_twin_that_cannot_load_scores_0(tmp_path, capsys):
    path = tmp_path / "results.json"
    assert main(["check", str(tmp_path / "missing.py"), "--json", str(path)]) == 2
    results = gradescope_fields(json.loads(path.read_text()))
    assert results["score"] == 0 and "no such file" in results["output"]
    assert [test["name"] for test in results["tests"]] == ["load the twin"]
    assert isinstance(results["execution_time"], float) and results["execution_time"] >= 0     # the load, timed


@pytest.mark.parametrize("kind", ["a folder", "no parent", "read-only"])
def test_json_to_a_bad_path_is_one_line_before_checking(tmp_path, capsys, monkeypatch, kind):
    path = tmp_path if kind == "a folder" else tmp_path / "missing" / "results.json"
    if kind == "read-only":         # (as root every folder can be written: the check itself is asked)
        import compare.__main__
        path = tmp_path / "results.json"
        monkeypatch.setattr(compare.__main__.os, "access", lambda where, mode: False)
    assert main(["check", "numpy_impl", "--json", str(path)]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "--json" in lines[0] and "Traceback" not in captured.err
    said = {"a folder": "is a folder: give a file name", "no parent": "does not exist: create it first",
            "read-only": f"the folder {tmp_path} cannot be written"}[kind]
    assert said in lines[0]
    assert "stage" not in captured.out                       # refused before the check ran
    assert list(tmp_path.iterdir()) == []


def test_the_default_time_limit_is_documented_and_generous():
    from compare.check.guard import DEFAULT_TIMEOUT
    assert DEFAULT_TIMEOUT >= 10 and math.isfinite(DEFAULT_TIMEOUT)


# ---- what a mutation run of the checker found untested (docs/testing.md, 2026-11-27) --------------

def test_not_run_stages_are_worth_a_point_each_and_the_time_is_kept():
    checker = Checker(fresh_twin(), emit=lambda line: None)
    checker.row("API", "build_model", True)
    checker.row("API", "a piece it lacks", True, skipped=True)
    checker.row("forward", "probabilities", False, {"TensorFlow": math.inf, "finite diff.": 2e-7}, "1e-12")
    checker.failed_stage, checker.hint = "forward", "look here"
    results = gradescope_fields(check.gradescope("twin", 12.34567, checker, stages=check.STAGES))
    assert results["execution_time"] == 12.346
    assert [test["number"] for test in results["tests"][:3]] == ["1", "2", "3"]
    assert results["tests"][1]["output"] == "skipped: a piece it lacks" and results["tests"][1]["max_score"] == 0
    assert results["tests"][2]["output"] == "vs TensorFlow inf/nan, finite differences 2.0e-07; bound 1e-12"
    not_run = [test for test in results["tests"] if test["name"].endswith(": not run")]
    assert len(not_run) == len(check.STAGES) - 2 and {test["max_score"] for test in not_run} == {1}
    assert sum(test["max_score"] for test in results["tests"]) == len(check.STAGES)
    assert "inf/nan" in format_row(checker.rows[2]).split()
    assert [format_row(row).split()[1 + len(row.what.split())] for row in checker.rows] == ["passed", "skipped",
                                                                                              "FAILED"]


# what the guard says after naming the call and the array it wrote into
NEVER_WRITE = ("a twin must never write into the arrays it is given, which belong to the caller (Keras never does). "
               "`x -= m` or `x[...] = ...` or an out= writes into the caller's array; `x = x - m` makes a new one. "
               "If set_weights keeps the arrays it is given, copy them first.")


def always(args, kwargs):
    return True


def in_training(args, kwargs):
    return kwargs.get("training", args[0] if args else False)


@pytest.mark.parametrize("owner, name, writes, stage, said", [
    ("model.Sequential", "evaluate", always, "stage_loss", "evaluate(x, y) changed the x given to evaluate in place"),
    ("layers.Dropout", "forward", in_training, "stage_dropout",
     "Dropout.forward(x, training=True) changed the x given to Dropout.forward in place"),
    ("layers.Dropout", "backward", always, "stage_dropout",
     "Dropout.backward(grad) changed the gradient given to Dropout.backward in place")])
def test_a_call_that_writes_into_what_it_is_given_is_named(owner, name, writes, stage, said):
    twin = fresh_twin()
    module, cls = owner.split(".")
    cls = getattr(getattr(twin, module), cls)
    right = getattr(cls, name)

    def method(self, array, *args, **kwargs):
        if writes(args, kwargs):
            array *= 1.0 + 1e-3                                     # the caller's array
        return right(self, array, *args, **kwargs)
    setattr(cls, name, method)
    hint = stage_hint(twin, stage)
    assert said in hint and hint.endswith(NEVER_WRITE)


def test_a_type_error_inside_build_model_fails_the_stage_rather_than_skipping_it():
    # "does not take dropout" (an unexpected keyword) is a skipped row; any other TypeError is a bug in it
    twin = fresh_twin()
    right = twin.build_model

    def build_model(dropout=0.0, **options):
        if dropout:
            return right(dropout=[dropout] + None, **options)       # TypeError: can only concatenate list
        return right(**options)
    twin.build_model = build_model
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed, match="TypeError"):
        checker.stage_dropout()
    assert not any(row.skipped for row in checker.rows)

    def no_dropout(**options):
        if "dropout" in options:
            raise TypeError("build_model() got an unexpected keyword argument 'dropout'")
        return right(**options)
    twin.build_model = no_dropout
    checker = Checker(twin, emit=lambda line: None)
    checker.stage_dropout()
    assert [row.what for row in checker.rows] == ["Dropout 0.3: skipped (build_model does not take it)"]


def test_a_dropout_is_found_by_its_class_name_whatever_it_calls_its_rate():
    class MyDropout:
        weights = ()

        def __init__(self):
            self.p = 0.3                                             # not `rate`

        def forward(self, x, training=False):
            return x

        def backward(self, grad):
            return grad

    class HalfDropout(MyDropout):
        @property
        def backward(self):                                          # no backward: not one to drive
            raise AttributeError("backward")

    class Model:
        layers = [MyDropout(), HalfDropout()]
    assert _dropout_layers(Model()) == Model.layers[:1]


def test_a_dropout_backward_right_to_float64_rounding_passes():
    """The backward row's error is relative to the largest expected entry: a backward computed in
    another order (g / (1 - rate) for g * (1 / (1 - rate))) differs in the last bits only."""
    twin = fresh_twin()
    differs = []

    def backward(self, grad_outputs, need_grad_inputs=True):
        mine = grad_outputs / (1 - self.rate) * self.mask
        differs.append(not np.array_equal(mine, grad_outputs * self.mask * self.scale))
        return mine
    twin.layers.Dropout.backward = backward
    checker = Checker(twin, emit=lambda line: None)
    checker.dropout_layers_alone(_dropout_layers(checker.build(dropout=DROPOUT_RATE)))
    assert differs[0]                                                # the test means something
    row = next(row for row in checker.rows if row.what.startswith("backward"))
    assert row.passed and float(row.bound.split()[0]) <= 1e-15, row


def test_a_model_without_an_optimizer_is_told_what_to_hold():
    twin = fresh_twin()
    right = twin.build_model

    def build_model(**options):
        model = right(**options)
        del model.optimizer
        return model
    twin.build_model = build_model
    assert "model.optimizer.learning_rate should hold the learning_rate" in stage_hint(twin, "stage_api")


def test_a_float32_loss_from_evaluate_is_named():
    twin = fresh_twin()
    right = twin.model.Sequential.evaluate
    twin.model.Sequential.evaluate = lambda self, x, y, **kwargs: [np.float32(value)
                                                                   for value in right(self, x, y, **kwargs)]
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed, match="evaluate's loss"):
        checker.stage_loss()
    assert (checker.rows[-1].stage, checker.rows[-1].what) == ("loss", "evaluate's loss: float64")
    assert not checker.rows[-1].passed


def test_an_error_names_the_twins_own_folder_or_file(tmp_path):
    package = tmp_path / "mine"
    package.mkdir()
    exports = "from numpy_impl import build_model, loss_and_gradients\n"
    (package / "__init__.py").write_text(exports)
    single = tmp_path / "single.py"
    single.write_text(exports)
    assert _home(check.load_twin(str(package))) == package
    assert _home(check.load_twin(str(single))) == single


# ---- the third and fourth mutation samples of the checker (docs/testing.md, 2026-11-27, seeds 41, 43) ---

def test_a_row_shows_each_reference_in_its_own_column_and_an_exact_zero_as_0():
    checker = Checker(fresh_twin(), emit=lambda line: None)
    row = checker.row("forward", "probabilities", True, {"numpy_impl": 0.0, "TensorFlow": 1.1e-16}, "1e-12")
    assert format_row(row).split()[-4:] == ["0", "1.1e-16", "-", "1e-12"]
    # each figure ends where its column's heading ends, and the bound starts under "bound"
    line = format_row(checker.row("gradients", "kernel_2", True, {"numpy_impl": 1.0, "TensorFlow": 2.0,
                                                                    "finite diff.": 3.0}, "1e-09"))
    for heading, figure in (("vs numpy_impl", "1.0e+00"), ("vs TensorFlow", "2.0e+00"), ("finite diff.", "3.0e+00")):
        assert line.index(figure) + len(figure) == HEADER.index(heading) + len(heading), (heading, line)
    assert line.index("1e-09") == HEADER.index("bound")
    # a row with no bound ends at its last figure: no trailing blanks for an autograder's diff to trip on
    assert format_row(checker.row("api", "get_weights()", True)) == f"{'api':<10} {'get_weights()':<48} passed" + \
        f"{'-':>15}{'-':>14}{'-':>13}"


def test_weights_of_another_number_or_shape_are_infinitely_far():
    a, b = np.zeros((2, 3)), np.ones(3)
    assert _max_weight_difference([a, b], [a, b + 0.5]) == 0.5
    assert _max_weight_difference([a], [a, b]) == math.inf
    assert _max_weight_difference([a.T, b], [a, b]) == math.inf


def test_a_dropout_that_changes_the_shape_fails_its_own_row():
    twin = fresh_twin()
    twin.layers.Dropout.forward = lambda self, x, training=False: x[:, :-1] if training else x
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed, match="dropout keeps the shape"):
        checker.stage_dropout()
    assert [(row.what, row.passed) for row in checker.rows if not row.passed] == [("training: output shape", False)]


def no_predict(twin):
    twin.model.Sequential.predict = None


def keeps_nothing(twin):
    twin.model.Sequential.set_weights = lambda self, weights: None


@pytest.mark.parametrize("planter, words, row", [(no_predict, "fit, evaluate, predict", "model methods"),
                                                 (keeps_nothing, "set_weights must copy each array",
                                                  "set_weights / get_weights")])
def test_an_api_that_fails_fails_its_own_row(planter, words, row):
    twin = fresh_twin()
    planter(twin)
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed, match=words):
        checker.stage_api()
    assert [r.what for r in checker.rows if not r.passed] == [row]


def test_weights_of_two_dtypes_are_both_named():
    twin = fresh_twin()
    right = twin.model.Sequential.get_weights
    twin.model.Sequential.get_weights = lambda self: [w.astype(np.float32) if w.ndim == 2 else w    # kernels only
                                                      for w in right(self)]
    assert "made weights of dtype float32, float64:" in stage_hint(twin, "stage_api")


@pytest.mark.parametrize("stage", ["stage_optimizer", "stage_fit"])
def test_a_stage_names_the_get_weights_that_raised(stage):
    twin = fresh_twin()

    def get_weights(self):
        raise RuntimeError("lost")
    twin.model.Sequential.get_weights = get_weights
    assert stage_hint(twin, stage).startswith("get_weights() raised RuntimeError: lost")


def test_a_model_without_two_methods_names_both():
    twin = fresh_twin()
    right = twin.build_model

    def build_model(**options):
        model = right(**options)                   # an object that has only some of a Keras model's methods
        return types.SimpleNamespace(fit=model.fit, get_weights=model.get_weights, set_weights=model.set_weights)
    twin.build_model = build_model
    assert stage_hint(twin, "stage_api").startswith("the model build_model returns has no evaluate, predict: ")


def test_a_predict_that_writes_into_x_is_named():
    twin = fresh_twin()
    right = twin.model.Sequential.predict

    def predict(self, x, **kwargs):
        x += 1e-3                                                    # the caller's array
        return right(self, x, **kwargs)
    twin.model.Sequential.predict = predict
    assert "predict(x) changed the x given to predict in place" in stage_hint(twin, "stage_forward")


def test_a_twin_that_cannot_load_gets_its_error_and_time_in_results_json():
    results = gradescope_fields(check.gradescope("mine", seconds=1.23456, error="mine/__init__.py: SyntaxError"))
    assert results["execution_time"] == 1.235 and results["score"] == 0
    assert [(test["name"], test["status"], test["max_score"]) for test in results["tests"]] == [
        ("load the twin", "failed", 1)]
    assert results["tests"][0]["output"] == "mine/__init__.py: SyntaxError"


def test_a_relative_error_is_relative_to_the_largest_expected_entry_however_small():
    expected = np.array([0.01, -0.002])
    assert _relative_to_largest(expected + [1e-8, 0.0], expected) == pytest.approx(1e-6)
    assert _relative_to_largest(np.array([np.nan, 0.0]), expected) == math.inf


def test_a_loss_and_gradients_that_raises_is_named_as_the_call():
    twin = fresh_twin()

    def loss_and_gradients(model, x, y):
        raise ZeroDivisionError("no")
    twin.loss_and_gradients = loss_and_gradients
    hint = stage_hint(twin, "stage_gradients")
    assert hint.startswith("loss_and_gradients(model, x, y) raised ZeroDivisionError: no"), hint


# ---- each call is named as the learner wrote it -------------------------------------------------

def raising_from_the_second_call(right, error, counted=lambda *args, **kwargs: True):
    """`right`, except that it raises `error` from its second counted call on: a twin whose own call
    in a stage passes, and whose later call in the same stage does not."""
    calls = []

    def wrapped(*args, **kwargs):
        if counted(*args, **kwargs):
            calls.append(1)
            if len(calls) > 1:
                raise error
        return right(*args, **kwargs)
    return wrapped


@pytest.mark.parametrize("stage, raises_for, said", [
    ("stage_sanity", lambda options: options["input_dim"] != 500,        # past the initializers' wide network
     "build_model() raised ValueError: not today"),
    ("stage_vocabulary", lambda options: options.get("optimizer") == "adam",
     "build_model(optimizer='adam', learning_rate=0.01) raised ValueError: not today")])
def test_a_build_model_that_raises_is_named_with_the_options_it_was_given(stage, raises_for, said):
    twin = fresh_twin()
    right = twin.build_model

    def build_model(**options):
        if raises_for(options):
            raise ValueError("not today")
        return right(**options)
    twin.build_model = build_model
    assert said in stage_hint(twin, stage)


def test_a_set_weights_that_fails_in_finite_differences_is_named():
    twin = fresh_twin()          # the stage's own set_weights passes; finite differences' first one raises
    twin.model.Sequential.set_weights = raising_from_the_second_call(twin.model.Sequential.set_weights,
                                                                     ValueError("only once"))
    assert "set_weights(weights) raised ValueError: only once" in stage_hint(twin, "stage_gradients")


def fit_reversing_a_label(twin):
    right = twin.model.Sequential.fit

    def fit(self, x, y, **kwargs):
        y[0] = y[0][::-1]                                            # in place: the caller's labels move
        return right(self, x, y, **kwargs)
    twin.model.Sequential.fit = fit


def loss_and_gradients_reversing_a_label(twin):
    right = twin.loss_and_gradients

    def loss_and_gradients(model, x, y):
        y[0] = y[0][::-1]
        return right(model, x, y)
    twin.loss_and_gradients = loss_and_gradients


@pytest.mark.parametrize("planter, stage, said", [
    (fit_reversing_a_label, "stage_fit", "fit(x, y) changed the y given to fit in place"),
    (loss_and_gradients_reversing_a_label, "stage_gradients",
     "loss_and_gradients(model, x, y) changed the y given to loss_and_gradients in place")])
def test_a_call_that_writes_into_its_labels_is_named(planter, stage, said):
    twin = fresh_twin()
    planter(twin)
    assert said in stage_hint(twin, stage)


# ---- Dropout on Keras's masks: the bounds ----------------------------------------------------------

def scaled_training_step(twin, loss_factor=1.0, gradient_factor=1.0):
    """The twin's loss_and_gradients with its loss and its gradients scaled, where the model has Dropout."""
    right = twin.loss_and_gradients

    def loss_and_gradients(model, x, y):
        loss, gradients = right(model, x, y)
        if not _dropout_layers(model):
            return loss, gradients
        return loss * loss_factor, [g * gradient_factor for g in gradients]
    twin.loss_and_gradients = loss_and_gradients
    return twin


def test_the_loss_on_keras_masks_is_held_relative_to_its_size():
    # the loss there is about 2.3: a relative error of 3e-13 passes the 1e-12 bound; 3e-12 does not
    assert stage_hint(scaled_training_step(fresh_twin(), loss_factor=1 + 3e-13), "stage_dropout") is None
    hint = stage_hint(scaled_training_step(fresh_twin(), loss_factor=1 + 3e-12), "stage_dropout")
    assert hint.startswith("on Keras's own masks the training loss differs from Keras's")


def test_gradients_on_keras_masks_must_agree_with_keras_not_only_with_finite_differences():
    # 1e-7 relative: inside finite differences' 1e-6, outside the 1e-9 held against Keras's own gradients
    hint = stage_hint(scaled_training_step(fresh_twin(), gradient_factor=1 + 1e-7), "stage_dropout")
    assert hint.startswith("on Keras's own masks the loss agrees but the gradients do not")


def test_the_second_dropout_call_is_named_when_it_raises():
    twin = fresh_twin()          # the first training call passes; the second (its second layer's) raises
    twin.layers.Dropout.forward = raising_from_the_second_call(
        twin.layers.Dropout.forward, RuntimeError("no second mask"),
        counted=lambda self, x, training=False: training)
    assert stage_hint(twin, "stage_dropout").startswith("Dropout.forward(x, training=True) raised RuntimeError")


def stepped_exponential(twin):
    twin.schedules.ExponentialDecay.__call__ = lambda self, step: (
        self.initial_learning_rate * self.decay_rate ** math.floor(step / self.decay_steps))   # staircase always


def boundary_takes_the_next_value(twin):
    def call(self, step):
        return self.values[sum(step >= boundary for boundary in self.boundaries)]       # >= for >
    twin.schedules.PiecewiseConstantDecay.__call__ = call


@pytest.mark.parametrize("planter, row, where", [
    (stepped_exponential, "3 steps, SGD, exponential schedule", "numpy_impl/schedules.py: ExponentialDecay"),
    (boundary_takes_the_next_value, "3 steps, SGD, piecewise schedule", "numpy_impl/schedules.py: PiecewiseConstantDecay")])
def test_each_schedule_is_held_to_keras_in_its_own_row(planter, row, where):
    twin = fresh_twin()
    planter(twin)
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed, match=f"plain SGD agrees but {row[9:]} does not") as caught:
        checker.stage_vocabulary()
    assert [r.what for r in checker.rows if not r.passed] == [row]
    assert caught.value.hint.endswith(f"({where}).")


# ---- the guard and the verdict, every mutant of guard.py (docs/testing.md, 2026-11-27, seed 83) ----------

def test_the_guard_counts_the_entries_a_twin_changed_and_forgives_nan():
    from compare.check.guard import Guard, GuardFailed
    guard = Guard(timeout=0)
    x = guard.give("x", np.arange(12.0).reshape(3, 4))
    touched = guard.give("the weights", np.array([1.0, np.nan, 3.0]))
    guard.call("fit(model, x, y)", lambda: touched.sum())             # NaN stays NaN: nothing changed
    guard.call("fit(model, x, y)", lambda: (print("epoch 1"), sys.stderr.write("careful: slow\n")))
    assert guard.printed_lines() == ["epoch 1", "careful: slow"]     # both streams kept out of the table
    with pytest.raises(GuardFailed) as caught:
        guard.call("fit(model, x, y)", lambda: x.__setitem__((slice(None), 0), -1.0))       # one column, 3 rows
    assert caught.value.hint.startswith("fit(model, x, y) changed x in place (3 of 12 entries): ")
    assert str(caught.value) == caught.value.hint and caught.value.what == "fit(model, x, y): changed x"

    guard = Guard(timeout=0)
    x = guard.give("x", np.zeros((3, 4)))

    def reshape_in_place():
        x.shape = (4, 3)                  # the same 12 numbers, but no longer the caller's (3, 4)
    with pytest.raises(GuardFailed, match=r"changed x in place \(12 of 12 entries\)"):
        guard.call("predict(model, x)", reshape_in_place)


def test_results_json_is_shown_to_the_learner_and_written_beside_its_path(tmp_path, monkeypatch):
    from compare.check import results as results_module
    assert check.gradescope("twin.py", 0.5, error="no such file")["visibility"] == "visible"
    moved = []
    real_replace = results_module.os.replace
    monkeypatch.setattr(results_module.os, "replace", lambda source, target: (moved.append(source),
                                                                              real_replace(source, target)))
    check.write_json(tmp_path / "results.json", {"score": 1})
    assert [Path(source).parent for source in moved] == [tmp_path]      # a rename within one folder: whole or nothing
