"""python -m compare autograder --topic TOPIC --out autograder.zip: Gradescope's autograder, made here.

Gradescope unpacks the zip into /autograder/source, runs setup.sh once to build its image, then for
each submission puts the student's files in /autograder/submission, runs /autograder/run_autograder
and reads /autograder/results/results.json. The zip holds:

    setup.sh            installs Python's packages: this package from its wheel, with the versions of
                        its dependencies pinned to those installed where the zip was made; adds the
                        unprivileged user `student`; computes the reference answers once (the cache)
    run_autograder      checks the submission as `student` (--user), writes results.json as root
    requirements.txt    the pins
    *.whl               this package, built from the checkout the zip is made in
    rubric.json|.toml   the --rubric file, if one was given

AUTOGRADER_ROOT (default /autograder) and PYTHON (default python3) move it elsewhere: the tests
run run_autograder in a temporary folder laid out like /autograder.
"""
import importlib.metadata
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from .commands import GradingError

DEPENDENCIES = ("numpy", "tensorflow", "keras", "matplotlib", "mlxtend", "tqdm", "threadpoolctl", "h5py")
USER = "student"

SETUP = """#!/usr/bin/env bash
# Gradescope runs this once, as root, in /autograder/source: install, add the student's user, warm the cache.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON="${{PYTHON:-python3}}"
if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
    apt-get update && apt-get install -y python3 python3-pip python3-venv
fi
"$PYTHON" -m pip install -r requirements.txt {wheel}
id -u {user} >/dev/null 2>&1 || useradd --no-create-home --shell /usr/sbin/nologin {user}
mkdir -p "${{AUTOGRADER_ROOT:-/autograder}}/cache"
"$PYTHON" -m compare check numpy_impl --cache "${{AUTOGRADER_ROOT:-/autograder}}/cache" >/dev/null
"""

RUN = """#!/usr/bin/env bash
# Gradescope runs this for each submission, as root: check it as {user}, write results/results.json.
set -uo pipefail
ROOT="${{AUTOGRADER_ROOT:-/autograder}}"
PYTHON="${{PYTHON:-python3}}"
mkdir -p "$ROOT/results"
FIND='import sys; from compare.check.grade import find_twin; print(find_twin(sys.argv[1]) or "")'
TWIN="$("$PYTHON" -c "$FIND" "$ROOT/submission")"
if [ -z "$TWIN" ]; then
    TWIN="$ROOT/submission"          # check says what is missing, in results.json, with 0 points
fi
AS_USER=()
if [ "$(id -u)" = 0 ] && id -u {user} >/dev/null 2>&1; then
    chmod -R a+rX "$ROOT/submission"
    AS_USER=(--user {user})
fi
"$PYTHON" -m compare check "$TWIN" --json "$ROOT/results/results.json" --cache "$ROOT/cache" \\
    --timeout {timeout} {scoring} "${{AS_USER[@]}}"
exit 0                               # the verdict is in results.json; Gradescope reads only that
"""


def project_root():
    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise GradingError("autograder builds this package's wheel from its source: run it in a checkout of "
                           "numpy-vs-keras (pip install -e .), not from an installed wheel")
    return root


def build_wheel(into):
    """This package's wheel, built from the checkout as pip builds it: its build requirements fetched
    as `pip install -e .` fetched them (a venv's own setuptools may be too old for pyproject.toml)."""
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                           "-w", str(into), str(project_root())], capture_output=True, text=True)
    wheels = sorted(Path(into).glob("numpy_vs_keras-*.whl"))
    if done.returncode != 0 or not wheels:
        raise GradingError(f"could not build the wheel: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    return wheels[-1]


def pins():
    lines = []
    for name in DEPENDENCIES:
        try:
            lines.append(f"{name}=={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            lines.append(name)
    return "\n".join(lines) + "\n"


def write_autograder(out, topic=None, rubric=None, timeout=60.0):
    """Write the zip to `out` (whole or not at all); returns its path."""
    out = Path(out)
    if out.is_dir():
        raise GradingError(f"--out {out} is a folder: give a zip file name, e.g. {out / 'autograder.zip'}")
    if not out.parent.is_dir():
        raise GradingError(f"--out {out}: the folder {out.parent} does not exist: create it first")
    scoring = f"--topic {shlex.quote(topic)}" if topic else ""
    with tempfile.TemporaryDirectory() as staging:
        staging = Path(staging)
        wheel = build_wheel(staging)
        files = {"setup.sh": SETUP.format(wheel=wheel.name, user=USER),
                 "requirements.txt": pins()}
        if rubric:
            name = "rubric" + (Path(rubric).suffix or ".json")
            shutil.copy(rubric, staging / name)
            scoring = f'--rubric "$ROOT/source/{name}"'
        files["run_autograder"] = RUN.format(user=USER, timeout=f"{timeout:g}", scoring=scoring)
        handle, temporary = tempfile.mkstemp(prefix=f".{out.name}-", dir=out.parent)
        os.close(handle)
        try:
            with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
                for name, text in files.items():
                    info = zipfile.ZipInfo(name)
                    info.external_attr = (0o755 if name in ("setup.sh", "run_autograder") else 0o644) << 16
                    archive.writestr(info, text)
                archive.write(wheel, wheel.name)
                if rubric:
                    archive.write(staging / name, name)
            os.replace(temporary, out)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return out
