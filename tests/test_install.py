"""The package as a user gets it: a wheel, installed into a folder of its own, run from a folder
that is not the checkout. Every command works there, and every module comes from the wheel."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

import compare

pytestmark = pytest.mark.slow     # builds and installs a wheel, then runs every command: `pytest -m slow`

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(the folder the wheel is installed in, the environment that puts it first on the path)."""
    wheels = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w",
                    str(wheels), str(ROOT)], check=True, capture_output=True)
    (wheel,) = wheels.glob("numpy_vs_keras-*.whl")
    target = tmp_path_factory.mktemp("installed")
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target), str(wheel)],
                   check=True, capture_output=True)
    return target, {**os.environ, "PYTHONPATH": str(target)}


def run(installed, folder, *args):
    """python ARGS in `folder`, with the wheel's copy first on the path."""
    done = subprocess.run([sys.executable, *args], cwd=folder, env=installed[1], capture_output=True, text=True,
                          timeout=600)
    return done.returncode, done.stdout, done.stderr


def test_every_module_comes_from_the_wheel(installed, tmp_path):
    code, out, err = run(installed, tmp_path, "-c", "import compare, compare.check.worker, numpy_impl as keras, keras_impl; "
                         "print(compare.__file__); print(compare.check.worker.__file__); print(keras.__file__); "
                         "print(keras_impl.__file__); print(keras.Sequential.__name__)")
    assert code == 0, err
    *files, name = out.split()
    assert name == "Sequential" and all(file.startswith(str(installed[0])) for file in files), files
    assert not str(tmp_path).startswith(str(ROOT))


def test_version_is_the_one_version(installed, tmp_path):
    code, out, _ = run(installed, tmp_path, "-m", "compare", "--version")
    assert code == 0 and out.strip() == f"python -m compare {compare.__version__}"


def test_the_main_job_runs_from_the_wheel(installed, tmp_path):
    code, out, err = run(installed, tmp_path, "-m", "compare", "--data", "sample", "--limit", "600", "--epochs", "1",
                         "--out", str(tmp_path / "results"))
    assert code == 0, err[-2000:]
    (folder,) = (tmp_path / "results").iterdir()
    assert (folder / "report.html").is_file() and (folder / "metrics.json").is_file()


def test_exercise_and_check_run_from_the_wheel(installed, tmp_path):
    code, out, err = run(installed, tmp_path, "-m", "compare", "exercise", "my_twin")
    assert code == 0 and (tmp_path / "my_twin" / "__init__.py").is_file(), err
    code, out, err = run(installed, tmp_path, "-m", "compare", "check", "my_twin")
    assert code == 1 and "is not written yet" in out and "Traceback" not in out + err
    code, out, err = run(installed, tmp_path, "-m", "compare", "check", "numpy_impl")
    assert code == 0 and "All 70 checks passed" in out and f"loaded from {installed[0]}" in out, out[-2000:] + err


def test_bench_runs_from_the_wheel(installed, tmp_path):
    code, out, err = run(installed, tmp_path, "-m", "compare", "bench", "--data", "sample", "--limit", "2048",
                         "--epochs", "2", "--batch-sizes", "1024", "--backend", "tensorflow", "--out", str(tmp_path / "b"))
    assert code == 0, err[-2000:]
    (folder,) = (tmp_path / "b").iterdir()
    assert (folder / "bench.json").is_file()
