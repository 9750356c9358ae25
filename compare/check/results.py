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
import math
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


# ---- points: one a row, or a topic's, or a rubric's ---------------------------------------

# The rows of each exercise topic (compare/exercise.py's TOPICS), by the start of their names "stage: what".
# A topic's rows are worth a point each; every other row runs, and must pass for the rows after it to
# run, but is worth 0.
TOPIC_ROWS = {
    "network": ["API", "forward", "loss", "gradients", "optimizer", "fit", "sanity: initial loss",
                "sanity: memorise", "more: 3 steps, hidden layers' softmax"],
    "optimizers": ["more: 3 steps, Adam", "more: 3 steps, RMSprop", "more: 3 steps, Adagrad",
                   "more: 3 steps, SGD, weight_decay", "more: 3 steps, SGD, clipnorm", "more: 3 steps, SGD, cosine",
                   "more: 3 steps, SGD, exponential", "more: 3 steps, SGD, piecewise"],
    "regularization": ["dropout", "more: 3 steps, SGD with L2", "more: 3 steps, SGD with L1", "more: EarlyStopping"],
    "normalization": ["more: 3 steps, BatchNormalization", "more: 3 steps, LayerNormalization"],
    "initializers": ["sanity: glorot_uniform", "sanity: he_uniform", "sanity: glorot_normal", "sanity: he_normal",
                     "sanity: lecun_normal"],
    "activations": [f"more: 3 steps, {name} hidden layers" for name in
                    ("sigmoid", "tanh", "leaky_relu", "elu", "selu", "softplus", "softsign", "silu", "gelu")],
    "losses": ["more: 3 steps, mean_squared_error", "more: 3 steps, mean_absolute_error",
               "more: 3 steps, binary_crossentropy"],
    "graphs": ["more: 3 steps, residual network"],
    "all": ["*"],
}


class RubricError(ValueError):
    """A --rubric file that cannot be read or is not a table of points."""


class Rubric:
    """Points per row: `points` maps the start of a row's name ("stage" or "stage: what...") to the
    points each such row is worth; the longest start that matches wins; "*" matches every row."""

    def __init__(self, points, name):
        self.points, self.name = dict(points), name

    def __call__(self, row_name):
        matches = [key for key in self.points if key == "*" or row_name == key or row_name.startswith(key)]
        return self.points[max(matches, key=lambda key: (key != "*", len(key)))] if matches else 0

    @classmethod
    def topic(cls, topic):
        if topic not in TOPIC_ROWS:
            raise RubricError(f"unknown topic {topic!r}: use one of {', '.join(TOPIC_ROWS)}")
        return cls({start: 1 for start in TOPIC_ROWS[topic]}, f"topic '{topic}'")

    @classmethod
    def read(cls, path):
        """A JSON or TOML file: {"points": {"gradients": 2, "more: 3 steps, Adam": 5, "*": 0}}, or the
        table alone; each value a number of points (0 or more) for each row whose name starts so."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise RubricError(f"--rubric {path}: cannot read it ({error.strerror})") from None
        except UnicodeDecodeError:
            raise RubricError(f"--rubric {path} is not a text file (UTF-8): give a JSON or TOML file") from None
        try:
            if path.suffix == ".toml":
                import tomllib
                table = tomllib.loads(text)
            else:
                table = json.loads(text)
        except ValueError as error:
            raise RubricError(f"--rubric {path} is not valid {'TOML' if path.suffix == '.toml' else 'JSON'}: "
                              f"{error}") from None
        table = table.get("points", table) if isinstance(table, dict) else table
        if not isinstance(table, dict) or not table or not all(
                isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0 and math.isfinite(value)
                for value in table.values()):
            raise RubricError(f"--rubric {path}: give a table of row-name starts to points (numbers, 0 or more), "
                              'e.g. {"points": {"gradients": 2, "more: 3 steps, Adam": 5}}')
        return cls(table, str(path))


def gradescope(spec, seconds, checker=None, error=None, stages=(), rubric=None, catalogue=None):
    """results.json for `spec`: from a finished Checker, or from an `error` that stopped the twin loading.
    rubric: points per row (Rubric), with the catalogue of rows a complete twin shows, so that the
    maximum is the same for every twin and stages left unrun count at their rows' points."""
    if rubric is not None:
        return _scored(spec, seconds, checker, error, rubric, catalogue or [])
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


def _scored(spec, seconds, checker, error, rubric, catalogue):
    """results.json under a rubric: each row worth rubric(row); per stage, what a complete twin's rows
    there are worth and its rows did not reach is one failed test; a skipped row scores 0."""
    maximum = sum(rubric(name) for name in catalogue)
    extra = {"rubric": rubric.name, "max_score": maximum}
    if checker is None:
        return {"score": 0, "execution_time": round(seconds, 3), "visibility": "visible", "extra_data": extra,
                "output": f"The twin could not be checked: {error}", "tests": [
                    {"name": "load the twin", "status": "failed", "score": 0, "max_score": maximum, "output": str(error)}]}
    tests, reached = [], {}
    for number, row in enumerate(checker.rows, 1):
        name = f"{row.stage}: {row.what}"
        worth = rubric(name)
        reached[row.stage] = reached.get(row.stage, 0) + worth
        passed = row.passed and not (row.skipped and worth)
        tests.append({"name": name, "number": str(number), "status": "passed" if passed else "failed",
                      "score": worth if passed else 0, "max_score": worth,
                      "output": ("skipped: counted as not done " if row.skipped and worth else
                                 "skipped: " if row.skipped else "") + row_output(row)})
    for stage in dict.fromkeys(name.split(":")[0] for name in catalogue):
        missing = sum(rubric(name) for name in catalogue if name.split(":")[0] == stage) - reached.get(stage, 0)
        if missing > 0:
            tests.append({"name": f"{stage}: not run", "status": "failed", "score": 0, "max_score": missing,
                          "output": f"not run: the stage '{checker.failed_stage}' failed first"})
    score = min(sum(test["score"] for test in tests), maximum)
    if checker.failed_stage is not None:
        output = f"The first failing stage is '{checker.failed_stage}'. Where to look: {checker.hint}"
    else:
        output = f"All {len(checker.rows)} checks passed: {spec} is the same network as Keras's, to float64 rounding."
    return {"score": score, "execution_time": round(seconds, 3), "visibility": "visible",
            "output": f"{output} Score {score:g} of {maximum:g} ({rubric.name}).", "extra_data": extra,
            "tests": tests}
