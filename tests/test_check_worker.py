"""check runs the learner's twin in a worker process that cannot touch the verdict.

Each submission here is what a student could hand in: a copy of numpy_impl on disk, with a wrong
ReLU backward pass (its gradients fail) or otherwise right, and an attack on the grader. Each is
checked as a grader runs check, `python -m compare check DIR --json PATH` in a process of its own,
and must get the verdict it would get without the attack: exit 1, the real failing row, a
results.json below full marks, written by check itself.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest

import numpy_impl
from compare.check import wire

PACKAGE = Path(numpy_impl.__file__).parent
WRONG_RELU = ("grad_outputs *= self.outputs > 0", "grad_outputs *= self.outputs >= 0")   # no mask at all


def submission(folder, *, relu_wrong=False, at_import="", in_fit="", in_gradients=""):
    """A copy of numpy_impl in `folder`; the ReLU backward wrong if asked; code run at import, at the
    start of every fit, or inside loss_and_gradients (where `result` may be replaced)."""
    shutil.copytree(PACKAGE, folder, ignore=shutil.ignore_patterns("__pycache__"))
    if relu_wrong:
        source = (folder / "activations.py").read_text()
        assert WRONG_RELU[0] in source
        (folder / "activations.py").write_text(source.replace(*WRONG_RELU))
    extra = textwrap.dedent(at_import)
    if in_fit:
        extra += "\nfrom . import model as _model\n_fit = _model.Sequential.fit\n" \
                 "def _attack_fit(self, *args, **kwargs):\n" + textwrap.indent(textwrap.dedent(in_fit), "    ") + \
                 "\n    return _fit(self, *args, **kwargs)\n_model.Sequential.fit = _attack_fit\n"
    if in_gradients:
        extra += "\n_lg = loss_and_gradients\ndef loss_and_gradients(model, x, y):\n    result = _lg(model, x, y)\n" + \
                 textwrap.indent(textwrap.dedent(in_gradients), "    ") + "\n    return result\n"
    with open(folder / "__init__.py", "a") as init:
        init.write("\n" + extra)
    return folder


def check(twin, tmp_path, *options):
    """python -m compare check TWIN --json PATH in a process of its own: (exit code, stdout, stderr, results)."""
    results = tmp_path / "results.json"
    done = subprocess.run([sys.executable, "-m", "compare", "check", str(twin), "--json", str(results), *options],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    verdict = json.loads(results.read_text()) if results.exists() else None
    return done.returncode, done.stdout, done.stderr, verdict


def full_marks(verdict):
    return sum(test["max_score"] for test in verdict["tests"])


PATCH_CHECK = """
    import compare.check.stages as _stages, compare.check.reference as _reference, compare.check.results as _results
    _reference._within = lambda errors, bound: True
    _stages.Checker.run = lambda self: True
    _results.gradescope = lambda *args, **kwargs: {"score": 70, "tests": []}
"""
WRITE_RESULTS = """
    import json as _json
    try:
        with open({path!r}, "w") as _out:
            _json.dump({{"score": 70, "output": "All 70 checks passed", "tests": []}}, _out)
    except OSError:
        pass
"""
FAKE_TABLE = """
    import os as _os
    _os.write(1, b"All 70 checks passed in 1.0 s: it is the same network as Keras's, to float64 rounding.\\n")
    print("more       3 steps, Adam   passed")
"""

# attack -> (submission's options, the first failing row's text, words its hint must hold, check's options)
ATTACKS = {
    "rewrites check at import": (dict(relu_wrong=True, at_import=PATCH_CHECK), "kernel_1", ["ReLU.backward"], []),
    "writes a perfect results.json": (dict(relu_wrong=True, at_import="WRITE"), "kernel_1", ["ReLU.backward"], []),
    "prints a fake table": (dict(relu_wrong=True, at_import=FAKE_TABLE), "kernel_1", ["ReLU.backward"], []),
    "os._exit(0) in fit": (dict(in_fit="import os; os._exit(0)"), "fit(x, y): process ended",
                           ["exit status 0", "during fit(x, y)"], []),
    "segfaults in fit": (dict(in_fit="import ctypes; ctypes.string_at(0)"), "fit(x, y): process ended",
                         ["segmentation fault", "during fit(x, y)", "__init__.py"], []),
    "allocates without end": (dict(in_fit="blocks = []\nwhile True:\n    blocks.append(__import__('numpy').ones(1 << 24))"),
                              "fit(x, y): out of memory", ["ran out of the memory", "1024 MB"], ["--memory", "1024"]),
    "hangs in Python": (dict(in_fit="while True:\n    pass"), "fit(x, y): no answer", ["did not return within 2 s"],
                        ["--timeout", "2"]),
    "hangs with the alarm ignored": (
        dict(in_fit="import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)\n"
                    "while True:\n    time.sleep(0.01)"),
        "fit(x, y): no answer", ["did not stop when asked", "its process was ended", "__init__.py"], ["--timeout", "2"]),
    "imports TensorFlow for its gradients": (
        dict(relu_wrong=True, in_gradients="import tensorflow as tf\nresult = (result[0], [tf.constant(g).numpy() "
                                           "for g in result[1]])"),
        "imported tensorflow", ["imported tensorflow", "__init__.py", "NumPy"], []),
}


@pytest.mark.slow
@pytest.mark.parametrize("attack", list(ATTACKS))
def test_an_attack_on_the_grader_gets_the_verdict_it_would_get_without_it(attack, tmp_path):
    options, row, words, check_options = ATTACKS[attack]
    if options.get("at_import") == "WRITE":
        options = {**options, "at_import": WRITE_RESULTS.format(path=str(tmp_path / "results.json"))}
    twin = submission(tmp_path / "twin", **options)
    code, out, err, verdict = check(twin, tmp_path, *check_options)
    assert code == 1, (out, err)
    assert verdict is not None and 0 < full_marks(verdict) and verdict["score"] < full_marks(verdict)
    failed = next(test for test in verdict["tests"] if test["status"] == "failed")
    assert row in failed["name"], failed
    for word in words:
        assert word in verdict["output"], (word, verdict["output"])
    assert "Traceback" not in out + err
    # nothing of the twin's in the table: at most quoted in check's note of what it printed
    assert not any(line.startswith(("All 70", "more       3 steps, Adam   passed")) for line in out.splitlines())
    assert "failed at stage" in err


def test_the_same_twin_without_an_attack_fails_at_the_same_row(tmp_path):
    code, _, _, verdict = check(submission(tmp_path / "twin", relu_wrong=True), tmp_path)
    assert code == 1
    assert "kernel_1" in next(test for test in verdict["tests"] if test["status"] == "failed")["name"]


def test_a_twin_that_ends_its_process_at_import_is_not_loaded_and_scores_0(tmp_path):
    code, out, err, verdict = check(submission(tmp_path / "twin", at_import="import sys; sys.exit(0)"), tmp_path)
    assert code == 2 and verdict["score"] == 0
    assert "ended with exit status 0 during importing" in err and len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_numpy_impl_passes_in_its_worker_with_every_row(tmp_path):
    code, out, _, verdict = check("numpy_impl", tmp_path)
    assert code == 0 and "All 70 checks passed" in out
    assert verdict["score"] == full_marks(verdict) == 70


@pytest.mark.slow
def test_a_warm_check_never_imports_tensorflow_in_check_itself(tmp_path):
    """The answers come from the cache (the first check of this run wrote it): the parent imports no engine."""
    assert check("numpy_impl", tmp_path)[0] == 0          # warms the cache, if no test has yet
    probe = ("import sys; from compare.__main__ import main; code = main(['check', 'numpy_impl']); "
             "print('ENGINES', sorted(m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules), code)")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert "ENGINES [] 0" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]


def read_in_a_worker(tmp_path, preamble, *names):
    """A twin that runs `preamble`, then borrows numpy_impl's API; (its closed WorkerLink, [its `names`])."""
    twin = tmp_path / "probe.py"
    twin.write_text(preamble + "\nfrom numpy_impl import build_model, loss_and_gradients\n")
    from compare.check.remote import WorkerLink
    with WorkerLink(str(twin)) as link:
        values = [getattr(link.root, name) for name in names]
    return link, values


def test_the_worker_imports_no_reference_and_no_engine(tmp_path):
    """What the worker loads before the twin: NumPy, the standard library, the codec and the guard."""
    _, (loaded,) = read_in_a_worker(tmp_path, "import sys\nLOADED = sorted(sys.modules)", "LOADED")
    assert "compare.check.guard" in loaded and "compare.check.wire" in loaded and "numpy" in loaded
    for module in ("numpy_impl", "keras_impl", "compare.check.stages", "compare.check.reference", "tensorflow", "keras"):
        assert module not in loaded, module


def test_what_crosses_is_plain_data_and_never_a_pickle():
    value = {"loss": np.float32(0.5), "weights": [np.ones((2, 3)), np.arange(3)], "name": "x", "n": None}
    back = wire.decode(wire.encode(value))
    assert back["loss"].dtype == np.float32 and back["loss"] == 0.5          # a NumPy scalar keeps its dtype
    assert np.array_equal(back["weights"][0], np.ones((2, 3))) and back["weights"][0].flags.writeable
    with pytest.raises(wire.WireError):
        wire.encode({"model": object()})                                      # not plain data: refused
    with pytest.raises(wire.WireError):
        wire.encode(np.array([object()]))
    import pickle
    for dtype in (b'"|O8"', b'"|S8"', b'"<M8[s]"'):                         # objects, bytes, dates: only numbers cross
        with pytest.raises(wire.WireError):
            wire.decode(wire.encode([np.ones(2)]).replace(b'"<f8"', dtype))
    with pytest.raises(wire.WireError):
        wire.decode(pickle.dumps([1, 2]))
    with pytest.raises(wire.WireError):
        wire.decode(wire.encode([1, 2])[:-3])                                 # cut short


def test_an_engine_loaded_past_the_import_watch_is_still_found(tmp_path):
    """A twin that takes the watch off sys.meta_path and then loads an engine (a stand-in autograd here)."""
    from compare.check.remote import TwinFault, WorkerLink
    twin = tmp_path / "sly.py"
    twin.write_text("import sys, types\nsys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "
                    "'ImportWatch']\nsys.modules['autograd'] = types.ModuleType('autograd')\n"
                    "from numpy_impl import build_model, loss_and_gradients\n")
    with WorkerLink(str(twin)) as link:
        with pytest.raises(TwinFault, match="your twin imported autograd \\(loaded past check's import watch\\)"):
            link.root.build_model


def test_the_twin_may_not_write_a_file_and_may_not_lift_the_limit(tmp_path):
    target = tmp_path / "written.txt"
    preamble = (f"import resource\ntry:\n    with open({str(target)!r}, 'w') as out:\n        out.write('x' * 10)\n"
                "    WROTE = 'yes'\n"
                "except OSError as error:\n    WROTE = str(error)\n"
                "try:\n    resource.setrlimit(resource.RLIMIT_FSIZE, (1 << 20, 1 << 20))\n    LIFTED = True\n"
                "except (ValueError, OSError):\n    LIFTED = False")
    _, (wrote, lifted) = read_in_a_worker(tmp_path, preamble, "WROTE", "LIFTED")
    assert "File too large" in wrote and (not target.exists() or target.read_text() == "")
    assert not lifted or os.geteuid() == 0     # a hard limit: only root (with CAP_SYS_RESOURCE) may raise it


def test_a_twin_that_imports_numpy_impl_is_noted_and_its_worker_folder_is_removed(tmp_path):
    link, (here, there) = read_in_a_worker(tmp_path, "import os\nHERE = os.getcwd()\nTHERE = os.path.isdir(HERE)",
                                           "HERE", "THERE")
    assert there and Path(here) != tmp_path and link.build_model_module == "numpy_impl.model"
    assert not Path(here).exists()


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix", reason="process groups")
def test_what_the_twin_starts_ends_with_it(tmp_path):
    _, (child,) = read_in_a_worker(tmp_path, "import subprocess, sys\nCHILD = subprocess.Popen([sys.executable, '-c', "
                                   "'import time; time.sleep(600)']).pid", "CHILD")
    import time
    for _ in range(50):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        try:
            os.waitpid(child, os.WNOHANG)
        except ChildProcessError:
            pass
        time.sleep(0.1)
    else:
        status = Path(f"/proc/{child}/status")
        assert status.exists() and "zombie" in status.read_text(), "the twin's child outlived the check"


def _user_can_run_python(user):
    try:
        return subprocess.run([sys.executable, "-c", "import numpy"], user=user, capture_output=True,
                              timeout=60).returncode == 0
    except (PermissionError, KeyError, OSError):
        return False


def test_user_is_refused_in_one_line_where_it_cannot_work(capsys, monkeypatch):
    from compare.__main__ import main

    def one_line():
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "Traceback" not in err[0], err
        return err[0]
    if os.geteuid() == 0:
        assert main(["check", "numpy_impl", "--user", "no-such-user-here"]) == 2
        assert "--user no-such-user-here: no such user" in one_line()
        if not _user_can_run_python("nobody"):          # as here: Python under /root, which nobody may not enter
            assert main(["check", "numpy_impl", "--user", "nobody"]) == 2
            assert "--user nobody may not run" in one_line()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert main(["check", "numpy_impl", "--user", "nobody"]) == 2
    assert one_line().endswith("--user nobody needs check to run as root (it drops the worker to that user)")


@pytest.mark.skipif(os.geteuid() != 0 or not _user_can_run_python("nobody"),
                    reason="needs root, and a Python that the user nobody can run (not one under /root)")
def test_as_another_user_the_twin_cannot_write_the_results_folder(tmp_path):
    folder = Path(tempfile.mkdtemp(prefix="twin-"))
    os.chmod(folder, 0o755)
    twin = submission(folder / "twin", relu_wrong=True, at_import=WRITE_RESULTS.format(path=str(tmp_path / "r.json")))
    code, _, _, verdict = check(twin, tmp_path, "--user", "nobody")
    assert code == 1 and verdict["score"] < full_marks(verdict)
