"""The Keras twin on every Keras backend (TensorFlow, JAX, PyTorch) equals the NumPy twin.

Keras picks its backend once per process, so each backend's checks run in a process of
their own (tests/backend_agreement.py); a backend that is not installed is skipped.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compare import backends

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module", params=list(backends.BACKENDS))
def measured(request):
    backend = request.param
    if not backends.is_installed(backend):
        pytest.skip(f"{backend} is not installed: pip install -e \".[{backend}]\" to check the twin on it")
    # The first 3,000 MNIST digits (with MNIST_PATH): the same checks and bounds as docs/backends.md's
    # 10,000-digit figures, in a third of the time
    environment = {**os.environ, "KERAS_BACKEND": backend, "AGREEMENT_DIGITS": "3000"}
    result = subprocess.run([sys.executable, "-m", "tests.backend_agreement"], cwd=ROOT, env=environment,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return {**json.loads(result.stdout.strip().splitlines()[-1]), "asked_for": backend}


@pytest.mark.slow
def test_runs_on_the_backend_asked_for(measured):
    # the backend Keras reports inside the worker, against the one this test asked for: a worker
    # that quietly ran on TensorFlow every time would fail here (and skip the JAX and PyTorch traps)
    assert measured["backend"] == measured["asked_for"]


@pytest.mark.slow
def test_float64_lockstep_epoch_within_1e13(measured):
    float64 = measured["float64"]
    assert float64["keras_dtype"] == "float64"
    assert float64["weights"] < 1e-13, float64
    assert float64["history_loss"] < 1e-13 and float64["evaluate_loss"] < 1e-13
    assert float64["probabilities"] < 1e-12 and float64["probabilities_sum_to_one"] < 1e-12


@pytest.mark.slow
def test_float32_lockstep_epoch_within_1e4(measured):
    float32 = measured["float32"]
    assert float32["keras_dtype"] == "float32"
    assert float32["weights"] < 1e-4 and float32["probabilities"] < 1e-4, float32
    # and float32 is really float32: the twins differ by float32 rounding, not by nothing
    assert float32["weights"] > 1e-9


@pytest.mark.slow
def test_gradients_by_each_backends_autodiff(measured):
    assert measured["gradients_float64"]["dtype"] == "float64"
    assert measured["gradients_float64"]["relative"] < 1e-9 and measured["gradients_float64"]["loss"] < 1e-13
    assert measured["gradients_float32"]["relative"] < 1e-4
    # with an L2 penalty: JAX differentiates Keras's stateless call, which must carry the penalty too
    assert measured["gradients_l2_float64"]["relative"] < 1e-9 and measured["gradients_l2_float64"]["loss"] < 1e-13


@pytest.mark.slow
@pytest.mark.parametrize("setting", ["adam", "rmsprop centered, momentum", "sgd + l2", "sparse, from_logits"])
def test_the_rest_of_the_vocabulary(measured, setting):
    assert measured["vocabulary"][setting] < 1e-13


PIECES = ["batchnorm, sgd momentum", "layernorm", "adamw", "sgd, weight_decay", "adagrad",
          "clipnorm 0.1", "schedule cosine", "schedule exponential", "schedule piecewise",
          "l1", "validation_split, early stopping"]


@pytest.mark.slow
@pytest.mark.parametrize("piece", PIECES)
def test_each_new_piece_in_float64_lockstep(measured, piece):
    assert measured["pieces"][piece] < 1e-13


TEXTBOOK = ["activation sigmoid", "activation tanh", "activation leaky_relu", "activation elu", "activation selu",
            "activation softplus", "activation softsign", "activation silu", "activation gelu",
            "mse, sigmoid output", "mse, linear output", "mae, linear output", "binary_crossentropy, sigmoid output",
            "binary_crossentropy, from_logits", "nielsen: sigmoid, mse, N(0, 1) weights and biases"]


@pytest.mark.slow
@pytest.mark.parametrize("piece", TEXTBOOK)
def test_each_activation_and_loss_in_float64_lockstep(measured, piece):
    figures = measured["textbook"][piece]
    assert figures["weights"] < 1e-13 and figures["evaluate_loss"] < 1e-13 and figures["outputs"] < 1e-12, figures


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["sample_weight", "class_weight"])
def test_sample_and_class_weights_in_float64_lockstep(measured, kind):
    figures = measured["weighted"][kind]
    assert figures["weights"] < 1e-13 and figures["history_loss"] < 1e-13, figures


@pytest.mark.slow
@pytest.mark.parametrize("graph", ["functional chain", "residual, Add", "Concatenate", "subclassed Model"])
def test_each_graph_in_float64_lockstep(measured, graph):
    figures = measured["graphs"][graph]
    assert figures["weights"] < 1e-13 and figures["history_loss"] < 1e-13, figures


@pytest.mark.slow
def test_the_training_loop_by_hand_in_float64_lockstep(measured):
    figures = measured["training_loop"]
    assert figures["loss"] < 1e-13 and figures["weights"] < 1e-13, figures


@pytest.mark.slow
def test_tensorflows_float32_constants_are_dodged(measured):
    """leaky_relu's slope and gelu's 1/sqrt(2) are float32 inside TensorFlow's ops: keras_impl's exact forms
    are needed there (undone, the gradients part by far more than rounding)."""
    if measured["backend"] != "tensorflow":
        pytest.skip("JAX's and PyTorch's leaky_relu and gelu keep float64 constants")
    for name in ("leaky_relu", "gelu"):
        assert measured["textbook"][f"trap: {name} with TensorFlow's float32 constant"] > 1e-10


@pytest.mark.slow
def test_early_stopping_stops_both_twins_at_the_same_epoch(measured):
    numpy_stop, keras_stop = measured["pieces"]["stopping epochs"]
    assert numpy_stop == keras_stop < 8                      # it did stop early, and both at once


@pytest.mark.slow
def test_each_backend_fix_is_needed(measured):
    """Undo each fix keras_impl makes for this backend and the float64 twins part."""
    traps = measured["traps"]
    assert traps["with_every_fix"] < 1e-12
    assert measured["backend"] == measured["asked_for"]
    if measured["backend"] == "tensorflow":
        return
    assert traps["softmax_clipped"] > 1e-6            # a zero gradient wherever p < 1e-7 or p > 1 - 1e-7
    if measured["backend"] == "torch":
        assert traps["float64_promoted_to_float32"] > 1e-9
    if measured["backend"] == "jax":
        assert traps["jax_without_x64"] > 1e-9


@pytest.mark.slow
@pytest.mark.parametrize("backend", [name for name in backends.BACKENDS if name != "tensorflow"])
def test_python_m_compare_end_to_end_on_the_backend(tmp_path, backend):
    """The whole run (gradient checks, lockstep training, figures, report) with --backend."""
    if not backends.is_installed(backend):
        pytest.skip(f"{backend} is not installed: pip install -e \".[{backend}]\"")
    result = subprocess.run([sys.executable, "-m", "compare", "--backend", backend, "--data", "sample",
                             "--limit", "1000", "--epochs", "1", "--out", str(tmp_path)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["config"]["backend"] == backend and metrics["gradcheck"]["keras_backend"] == backend
    assert metrics["gradcheck"]["numpy_vs_keras_max_rel_error_float64"] < 1e-12
    assert metrics["agreement"]["prediction_agreement"] >= 0.99
    page = (run / "report.html").read_text()
    assert f"{backend}_loss_and_gradients" in page                               # its own autodiff, shown
    assert f"<th>Keras twin (on {backends.label(backend)})</th>" in page         # and named in the summary
    assert backends.label(backend) in result.stdout


@pytest.mark.slow
def test_a_worker_that_fails_or_dies_is_one_clear_error():
    """bench's worker processes: an error inside one, or its death, becomes a WorkerError
    (which python -m compare prints as one line), never a hang or a pipe traceback."""
    import signal

    from compare.bench import Worker, WorkerError

    worker = Worker("tensorflow")
    try:
        with pytest.raises(WorkerError) as raised:
            worker.ask("nonsense")
        assert str(raised.value) == "Keras on tensorflow: ValueError: unknown command 'nonsense'"
        assert worker.ask("data", None, None) is None                   # and it goes on answering
    finally:
        worker.close()
    assert worker.process.exitcode == 0                 # told to stop, it stops (no traceback, no kill)

    worker = Worker("tensorflow")
    try:
        os.kill(worker.process.pid, signal.SIGKILL)
        worker.process.join(timeout=10)
        with pytest.raises(WorkerError, match="ended unexpectedly"):
            worker.ask("versions")
    finally:
        worker.close()


# ---- choosing the backend, in this process (no worker) ---------------------------------------

def test_the_default_backend_is_keras_backend_or_else_tensorflow(monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    assert backends.default_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "")                      # set but empty: Keras's own default too
    assert backends.default_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert backends.default_backend() == "jax"


def test_select_sets_the_backend_and_refuses_to_switch_a_running_keras(monkeypatch):
    running = type(sys)("keras")
    running.backend = type(sys)("keras.backend")
    running.backend.backend = lambda: "tensorflow"
    monkeypatch.setitem(sys.modules, "keras", running)
    monkeypatch.setattr(backends, "is_installed", lambda name: True)
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backends.select("tensorflow") == "tensorflow" and os.environ["KERAS_BACKEND"] == "tensorflow"
    with pytest.raises(backends.BackendError) as refused:
        backends.select("jax")
    assert str(refused.value) == ("Keras is already running on tensorflow in this process and cannot switch to "
                                  "jax: start a new process with KERAS_BACKEND=jax")
    assert os.environ["KERAS_BACKEND"] == "tensorflow"           # left as it was
    monkeypatch.delitem(sys.modules, "keras")                     # before Keras is imported: any backend
    assert backends.select("torch") == "torch" and os.environ["KERAS_BACKEND"] == "torch"
    assert [backends.label(name) for name in ("tensorflow", "jax", "torch", "mxnet")] == \
        ["TensorFlow", "JAX", "PyTorch", "mxnet"]
    monkeypatch.setattr(backends, "is_installed", lambda name: name != "jax")
    assert backends.installed_backends() == ["tensorflow", "torch"]


def test_the_engines_start_up_notices_are_silenced_and_stderr_comes_back(capfd):
    # C++ writes straight to descriptor 2: silence it for the import, then give it back, exception or not
    from compare.quiet import native_stderr_silenced
    with native_stderr_silenced():
        os.write(2, b"oneDNN custom operations are on\n")
    os.write(2, b"after\n")
    with pytest.raises(RuntimeError, match="raised inside"), native_stderr_silenced():
        raise RuntimeError("raised inside")
    os.write(2, b"after the exception\n")
    assert capfd.readouterr().err == "after\nafter the exception\n"
