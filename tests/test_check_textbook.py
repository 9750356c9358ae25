"""check's rows for the textbooks' activations and losses (issue 45): each classic slip, planted in a fresh
copy of numpy_impl, fails at its own row with the hint that names it.

Only the row under test runs (the stage's table of settings cut to that one), so each plant costs about
a second; tests/test_check.py runs whole checks.
"""
import numpy as np
import pytest

from compare.check import stages
from compare.check.reference import VOCABULARY
from compare.check.stages import Checker, StageFailed
from compare.quiet import import_keras_quietly

from .test_check_hints import fresh_twin


@pytest.fixture(scope="module", autouse=True)
def keras_loaded():
    import_keras_quietly()


def run_row(twin, label, monkeypatch):
    """The one vocabulary row `label` on `twin`: (its row, the hint it failed with or None)."""
    monkeypatch.setattr(stages, "VOCABULARY", {label: VOCABULARY[label]})
    monkeypatch.setattr(stages, "LOSS_OBJECTS", ())
    checker = Checker(twin, emit=lambda line: None)
    hint = None
    try:
        with np.errstate(all="ignore"):
            checker.stage_vocabulary()
    except StageFailed as failure:
        hint = failure.hint
    rows = [row for row in checker.rows if label in row.what]
    assert len(rows) == 1, checker.rows
    return rows[0], hint


def sigmoid_slope_as_sigma(twin):
    twin.activations.Sigmoid.backward = lambda self, g: g * self.outputs


def tanh_slope_as_one_minus_tanh(twin):
    twin.activations.Tanh.backward = lambda self, g: g * (1 - self.outputs)


def mse_gradient_without_its_2(twin):
    twin.losses.MeanSquaredError.gradient = lambda self, y, p: (p - y) / p.size


def mse_gradient_over_the_batch_only(twin):
    twin.losses.MeanSquaredError.gradient = lambda self, y, p: 2 * (p - y) / len(p)


def bce_without_its_clip(twin):
    bce = twin.losses.BinaryCrossentropy
    bce.per_sample = lambda self, y, p: np.mean(-(y * np.log(p) + (1 - y) * np.log(1 - p)), axis=-1)
    bce.gradient = lambda self, y, p: (p - y) / (p * (1 - p)) / p.size


def leaky_relu_with_the_layers_slope(twin):
    leaky = twin.activations.LeakyReLU
    right = leaky.__init__
    leaky.__init__ = lambda self, negative_slope=0.3: right(self, negative_slope)


def fused_bce_gradient_without_its_batch(twin):
    losses, activations = twin.losses, twin.activations

    def head(self, activation, logits, y, gradient=True, sample_weight=None):
        per_sample = np.mean(losses.sigmoid_crossentropy_with_logits(logits, y), axis=-1)
        grad = (activations.sigmoid(logits) - y) / logits.shape[1] if gradient else None   # 1/K, no 1/B
        return float(per_sample.mean()), activation.forward(logits), grad
    losses.BinaryCrossentropy.head = head


SLIPS = {
    "sigmoid' written as sigma": (sigmoid_slope_as_sigma, "sigmoid hidden layers", "not s itself"),
    "tanh' written as 1 - tanh": (tanh_slope_as_one_minus_tanh, "tanh hidden layers",
                                  "one minus the SQUARE of tanh, not 1 - tanh"),
    "MSE's gradient missing its 2": (mse_gradient_without_its_2, "mean_squared_error, sigmoid output",
                                     "keep the 2 (Keras's MSE has no 1/2)"),
    "MSE's gradient over the batch, not the outputs": (mse_gradient_over_the_batch_only,
                                                       "mean_squared_error, sigmoid output",
                                                       "divide by BOTH K and B"),
    "binary cross-entropy without its clip": (bce_without_its_clip, "binary_crossentropy, clipped",
                                              "p clipped to [1e-7, 1 - 1e-7] FIRST"),
    "leaky ReLU with the layer's slope": (leaky_relu_with_the_layers_slope, "leaky_relu hidden layers",
                                          "0.3 is the layer LeakyReLU's default"),
    "fused sigmoid + BCE gradient without 1/B": (fused_bce_gradient_without_its_batch,
                                                 "binary_crossentropy, sigmoid output", "AND the batch B"),
}


@pytest.mark.parametrize("slip", list(SLIPS))
def test_each_classic_slip_fails_at_its_row_with_its_hint(slip, monkeypatch):
    planter, label, phrase = SLIPS[slip]
    twin = fresh_twin()
    planter(twin)
    row, hint = run_row(twin, label, monkeypatch)
    assert not row.passed, row
    assert hint is not None and phrase in hint, hint


@pytest.mark.parametrize("label", sorted({label for _, label, _ in SLIPS.values()}))
def test_the_same_rows_pass_on_numpy_impl_itself(label, monkeypatch):
    row, hint = run_row(fresh_twin(), label, monkeypatch)
    assert row.passed and hint is None, (row, hint)


def test_the_clipped_row_really_clips():
    """The row exists to catch a missing clip: its outputs must leave [0, 1] somewhere, or it could not."""
    import numpy_impl
    from compare.check.reference import _options, reference, vocabulary_weights
    options = VOCABULARY["binary_crossentropy, clipped"][0]
    model = numpy_impl.build_model(**{**_options(), **options})
    model.set_weights(vocabulary_weights("binary_crossentropy, clipped"))
    outputs = model.predict(reference()["x_steps"])
    assert (outputs < 0).any() and (outputs > 1).any()


# ---- issue 46's rows: the fan-out sum, and EarlyStopping ------------------------------------------------

def fan_out_overwritten(twin):
    """Model.backward that keeps the last reader's gradient of a tensor instead of adding them."""
    from .test_functional import overwriting_backward
    twin.functional.Model.backward = overwriting_backward


def test_a_graph_backward_that_overwrites_a_fan_out_fails_at_its_row(monkeypatch):
    twin = fresh_twin()
    fan_out_overwritten(twin)
    row, hint = run_row(twin, "residual network (Add)", monkeypatch)
    assert not row.passed and "the SUM of the gradients both send back" in hint and "Model.backward" in hint
    row, hint = run_row(fresh_twin(), "residual network (Add)", monkeypatch)
    assert row.passed and hint is None


def test_an_early_stopping_that_stops_one_epoch_late_fails_at_its_row():
    twin = fresh_twin()
    original = twin.callbacks.EarlyStopping.on_epoch_end

    def late(self, epoch, logs=None):                 # `wait > patience` where Keras has `wait >= patience`
        self.patience += 1
        try:
            original(self, epoch, logs)
        finally:
            self.patience -= 1
    twin.callbacks.EarlyStopping.on_epoch_end = late
    checker = Checker(twin, emit=lambda line: None)
    with pytest.raises(StageFailed) as failed:
        checker.early_stopping_row()
    assert "stops one epoch late" in failed.value.hint and "Keras's stops after epoch" in failed.value.hint
    assert [row.passed for row in checker.rows] == [False]
    fine = Checker(fresh_twin(), emit=lambda line: None)
    fine.early_stopping_row()
    assert [row.passed for row in fine.rows] == [True]
