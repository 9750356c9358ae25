"""Edges of the command line and of training that had no test (issue 19): an interrupted run,
--debug on every command, bench --out on a file, time_to_accuracy, and the Keras twin's
divergence callback."""
import pytest

import compare.__main__ as cli
from compare.__main__ import main
from compare.experiment import time_to_accuracy
from compare.twins import Diverged, keras_twin

from .conftest import random_batch


def test_ctrl_c_exits_130_and_writes_nothing(tmp_path, capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "load_mnist", interrupted)
    assert main(["--data", "sample", "--impl", "numpy", "--out", str(tmp_path / "results")]) == 130
    assert "interrupted: no results written" in capsys.readouterr().err
    assert not (tmp_path / "results").exists() or not any((tmp_path / "results").iterdir())


@pytest.mark.parametrize("command", [["exercise", "{dir}"], ["check", "{dir}/nothing.py"]])
def test_debug_shows_the_traceback_on_each_command(command, tmp_path, capsys):
    (tmp_path / "full.txt").write_text("not empty")                  # exercise refuses a non-empty folder
    args = [part.format(dir=tmp_path) for part in command]
    plain = main(args)
    quiet = capsys.readouterr().err
    assert plain != 0 and "Traceback" not in quiet and len(quiet.strip().splitlines()) == 1
    assert main(args + ["--debug"]) == plain
    assert "Traceback" in capsys.readouterr().err


def test_bench_out_pointing_at_a_file_is_refused_before_timing(tmp_path, capsys, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("keep me")
    monkeypatch.setattr(cli, "load_mnist", lambda *a, **k: pytest.fail("loaded data"))
    assert main(["bench", "--backend", "tensorflow", "--out", str(target)]) == 1
    err = capsys.readouterr().err
    assert "--out" in err and "is a file, not a folder" in err and len(err.strip().splitlines()) == 1
    assert target.read_text() == "keep me"


def test_time_to_accuracy_adds_up_the_epochs_until_each_target():
    record = {"epoch_seconds": [2.0, 3.0, 4.0, 5.0], "history": {"test_accuracy": [0.95, 0.975, 0.972, 0.981]}}
    assert time_to_accuracy(record) == {"0.97": 5.0, "0.98": 14.0}        # the first epoch to reach it, not later
    assert time_to_accuracy(record, targets=(0.99,)) == {"0.99": None}


def test_the_keras_twins_divergence_callback_names_the_batch(rng):
    """A learning rate of 1e30 makes the loss infinite within a few steps: the callback stops fit
    there with the epoch and the batch, not after the epoch."""
    twin = keras_twin()
    model = twin.build_model(input_dim=6, hidden=(8,), num_classes=3, learning_rate=1e30)
    x, y = random_batch(rng, n=640, dtype="float32")
    x = x * 100
    with pytest.raises(Diverged) as caught:
        twin.fit_epoch(model, x, y, batch_size=32, epoch=2, learning_rate=1e30)
    assert caught.value.epoch == 3 and caught.value.batch is not None and caught.value.batch < 20
    assert "--learning-rate 1e+29" in str(caught.value)
