"""python -m compare exercise DIR: numpy_impl with the network's math left for a learner to write.

The exercise is generated from numpy_impl's own source every time, so it can
never drift from the package: `ast` finds each function below, and its body
(after the docstring) is replaced by `raise NotImplementedError(...)` naming
what to compute. The body's comments (the shapes, the equations) stay, as
hints above the raise; every other line of every file is copied unchanged.
"""
import ast
import io
import os
import shutil
import tempfile
import textwrap
import tokenize
from pathlib import Path

import numpy_impl

# (file, function, what to compute), in the order `check` needs them.
EXERCISES = [
    ("layers.py", "Dense.affine",
     "z = x @ kernel + bias, (B, in) @ (in, out) + (out,) -> (B, out). Keep x in self.inputs: the "
     "backward pass needs it."),
    ("activations.py", "ReLU.forward",
     "relu(z) = max(z, 0) elementwise, shape (B, units). Keep the result in self.outputs (backward "
     "needs it) and return it."),
    ("activations.py", "softmax",
     "softmax(z)_k = exp(z_k - max z) / sum_j exp(z_j - max z) for each row of the (B, K) logits. "
     "Subtract each row's max first, or exp overflows for logits above ~709."),
    ("losses.py", "categorical_crossentropy_from_logits",
     "return (loss, probabilities, grad_logits): loss = mean over the batch of logsumexp(z) - "
     "sum_k y_k z_k (a float), probabilities = softmax(z) (B, K), grad_logits = (probabilities - y) / B (B, K)."),
    ("layers.py", "Dense.backward_affine",
     "from grad_z = dL/dz (B, out): store dL/dkernel = x.T @ grad_z (in, out) in self.grad_kernel and "
     "dL/dbias = grad_z summed over the batch (out,) in self.grad_bias; return dL/dx = grad_z @ kernel.T "
     "(B, in), or None if need_grad_inputs is False. With a kernel_regularizer, add its gradient "
     "to dL/dkernel."),
    ("activations.py", "ReLU.backward",
     "dL/dz = dL/doutputs * [z > 0], shape (B, units): the gradient passes where the forward input was "
     "positive (where self.outputs > 0) and is 0 elsewhere."),
    ("optimizers.py", "SGD.apply",
     "for each (g, w): plain w = w - lr * g; with momentum m, v = m * v - lr * g (v starts at 0, one per "
     "weight) then w = w + v; Nesterov: w = w + m * v - lr * g after the same v update. Update each w in "
     "place (w -= ..., w += ...)."),
]


class ExerciseError(ValueError):
    """DIR cannot take the exercise."""


def functions_to_write():
    """[(file, qualified name, what to compute)], in the order the check needs them."""
    return list(EXERCISES)


def blank_functions(source, functions):
    """`source` with each named function's body replaced by a NotImplementedError.

    functions: {qualified name ("Dense.affine" or "softmax"): what to compute}.
    """
    tree = ast.parse(source)
    nodes = dict(_functions(tree))
    missing = [name for name in functions if name not in nodes]
    if missing:
        raise ExerciseError(f"numpy_impl has no {', '.join(missing)}: update compare/exercise.py's list")
    comments = _comments(source)
    lines = source.splitlines(keepends=True)
    # Replace from the bottom up so earlier line numbers stay valid.
    for name in sorted(functions, key=lambda n: nodes[n].lineno, reverse=True):
        node = nodes[name]
        body = node.body[1:] if _has_docstring(node) else node.body
        if not body:
            raise ExerciseError(f"{name} has no body to blank")
        first, last = body[0].lineno, node.end_lineno
        indent = " " * body[0].col_offset
        hints = [f"{indent}# {text}\n" for line, text in comments if first <= line <= last]
        replacement = hints + _raise(f"{name}: {functions[name]}", indent)
        lines[first - 1:last] = replacement
    return "".join(lines)


def _raise(message, indent, width=88):
    """raise NotImplementedError("..." "...") over several short lines."""
    chunks = textwrap.wrap(message, width - len(indent) - 6, drop_whitespace=False, break_on_hyphens=False)
    assert "".join(chunks) == message
    lines = [f"{indent}raise NotImplementedError(\n"]
    lines += [f"{indent}    {chunk!r}\n" for chunk in chunks[:-1]] + [f"{indent}    {chunks[-1]!r})\n"]
    return lines


def _functions(tree, prefix=""):
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            yield prefix + node.name, node
        elif isinstance(node, ast.ClassDef):
            yield from _functions(node, prefix + node.name + ".")


def _has_docstring(node):
    first = node.body[0]
    return isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str)


def _comments(source):
    """[(line, comment text without '#')] for every comment in `source`."""
    return [(token.start[0], token.string.lstrip("#").strip())
            for token in tokenize.generate_tokens(io.StringIO(source).readline)
            if token.type == tokenize.COMMENT]


HEADER = ("# Exercise: generated from numpy_impl/{file} by `python -m compare exercise`.\n"
          "# Write the functions that raise NotImplementedError, then run: python -m compare check {dir}\n")


def write_exercise(directory):
    """Write the exercise package into `directory` (new or empty); returns its path."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        what = "is a file" if not target.is_dir() else "exists and is not empty"
        raise ExerciseError(f"{directory} {what}: give a new folder for the exercise (nothing was written)")
    source_dir = Path(numpy_impl.__file__).parent
    parent = target.resolve().parent
    if not parent.is_dir():
        raise ExerciseError(f"{parent} does not exist: create it first, or give another folder")
    by_file = {}
    for file, name, what in EXERCISES:
        by_file.setdefault(file, {})[name] = what
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", suffix=".partial", dir=parent))
    try:
        for path in sorted(source_dir.glob("*.py")):
            text = path.read_text(encoding="utf-8")
            if path.name in by_file:
                text = HEADER.format(file=path.name, dir=directory) + blank_functions(text, by_file[path.name])
            (staging / path.name).write_text(text, encoding="utf-8")
        (staging / "README.md").write_text(_readme(directory), encoding="utf-8")
        os.chmod(staging, 0o755)
        if target.exists():
            target.rmdir()                   # empty, checked above
        os.rename(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def _readme(directory):
    rows = "\n".join(f"{number}. `{file}`: `{name}`: {what}"
                     for number, (file, name, what) in enumerate(functions_to_write(), 1))
    return f"""# Your twin: numpy_impl with the math left out

This folder is a copy of `numpy_impl` in which {len(functions_to_write())} functions raise
`NotImplementedError`. Their docstrings and the comments that were beside the
code (shapes, equations) are kept as hints. Write them, in this order (the
order in which the check needs them):

{rows}

After each one, run

    python -m compare check {directory}

It checks your twin against numpy_impl and against Keras with TensorFlow's
autodiff, stage by stage (API, forward, loss, gradients, optimizer steps,
fit), and at the first failure names the function to write or says where
the error enters. When every stage passes, your network is Keras's, to
float64 rounding. The derivation is in the project's `docs/backprop.md`.
"""


def describe(directory):
    lines = [f"Wrote the exercise to {directory}/: numpy_impl with {len(functions_to_write())} functions to write:"]
    lines += [f"  {number}. {file}: {name}" for number, (file, name, _) in enumerate(functions_to_write(), 1)]
    lines += ["", f"Write them in that order (see {directory}/README.md), checking as you go:",
              f"  python -m compare check {directory}"]
    return "\n".join(lines)
