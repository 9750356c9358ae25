"""What `check` shows: a row per tensor in the terminal, and the same verdict as Gradescope's
results.json for an autograder (`python -m compare check TWIN --json PATH`).

Gradescope's autograder reads /autograder/results/results.json: a top-level `score`,
`output` and `tests`, each test with `name`, `status` ("passed" or "failed"), `score`,
`max_score` and `output`. Here every row that ran is a test worth 1 point (a skipped row,
where the twin's build_model lacks a piece, is worth 0 of 0), and every stage left unrun
after the first failure is one failed test worth 1, so a submission that stops early
never outscores one that goes further.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

HEADER = f"{'stage':<10} {'what':<48} {'result':<7} {'vs numpy_impl':>13} {'vs TensorFlow':>13} {'finite diff.':>12}  bound"


def format_row(row):
    def cell(name, width):
        value = row.errors.get(name)
        return f"{'-' if value is None else _number(value):>{width}}"
    result = "skipped" if row.skipped else "passed" if row.passed else "FAILED"
    return (f"{row.stage:<10} {row.what:<48} {result:<7} "
            f"{cell('numpy_impl', 13)} {cell('TensorFlow', 13)} {cell('finite diff.', 12)}  {row.bound}").rstrip()


def _number(value):
    if not np.isfinite(value):
        return "inf/nan"
    return "0" if value == 0 else f"{value:.1e}"


def row_output(row):
    """'vs numpy_impl 1.1e-16, vs TensorFlow 2.2e-16; bound 1e-12': the figures on one line."""
    figures = [f"{'finite differences' if name == 'finite diff.' else 'vs ' + name} {_number(value)}"
               for name, value in row.errors.items()]
    return "; ".join(filter(None, [", ".join(figures), f"bound {row.bound}" if row.bound else ""])) or row.what


def gradescope(spec, seconds, checker=None, error=None, stages=()):
    """results.json for `spec`: from a finished Checker, or from an `error` that stopped the twin loading."""
    if checker is None:
        return {"score": 0, "execution_time": round(seconds, 3), "visibility": "visible",
                "output": f"The twin could not be checked: {error}", "tests": [
                    {"name": "load the twin", "status": "failed", "score": 0, "max_score": 1, "output": str(error)}]}
    tests = []
    for number, row in enumerate(checker.rows, 1):
        worth = 0 if row.skipped else 1
        tests.append({"name": f"{row.stage}: {row.what}", "number": str(number),
                      "status": "passed" if row.passed else "failed",
                      "score": worth if row.passed else 0, "max_score": worth,
                      "output": ("skipped: " if row.skipped else "") + row_output(row)})
    if checker.failed_stage is not None:
        for stage in stages[list(stages).index(checker.failed_stage) + 1:]:
            tests.append({"name": f"{stage}: not run", "status": "failed", "score": 0, "max_score": 1,
                          "output": f"not run: the stage '{checker.failed_stage}' failed first"})
        output = f"The first failing stage is '{checker.failed_stage}'. Where to look: {checker.hint}"
    else:
        output = f"All {len(checker.rows)} checks passed: {spec} is the same network as Keras's, to float64 rounding."
    return {"score": sum(test["score"] for test in tests), "execution_time": round(seconds, 3),
            "visibility": "visible", "output": output, "tests": tests}


def write_json(path, results):
    """Write `results` to `path` whole or not at all (a temporary file beside it, then a rename)."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as out:
            json.dump(results, out, indent=2)
            out.write("\n")
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
