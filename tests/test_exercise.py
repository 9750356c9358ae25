"""python -m compare exercise: generated from numpy_impl's source; check leads a learner through it."""
import ast
import shutil
import sys
from pathlib import Path

import pytest

import numpy_impl
from compare import check, exercise
from compare.__main__ import main
from compare.quiet import import_keras_quietly

PACKAGE = Path(numpy_impl.__file__).parent


@pytest.fixture(autouse=True)
def no_bytecode(monkeypatch):
    # The tests rewrite exercise files within one second; never let a stale .pyc answer.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.fixture(scope="module", autouse=True)
def keras_loaded():
    import_keras_quietly()


def test_every_listed_function_exists_in_numpy_impl():
    for file, name, _ in exercise.functions_to_write():
        tree = ast.parse((PACKAGE / file).read_text())
        assert name in dict(exercise._functions(tree)), (file, name)


def test_bodies_are_blanked_and_docstrings_and_comments_kept(tmp_path):
    exercise.write_exercise(tmp_path / "ex")
    layers = (tmp_path / "ex" / "layers.py").read_text()
    assert "Dense.affine: z = x @ kernel + bias" in layers
    assert "np.matmul(self.inputs.T, grad_z" not in layers            # the answer is gone
    assert '"""From dL/dz to dL/dkernel, dL/dbias (stored) and dL/dx (returned).' in layers
    assert "# (in, B) @ (B, out)" in layers                           # the shape comment stays
    assert "def build(self, input_shape, rng, dtype):" in layers       # everything else unchanged
    activations = (tmp_path / "ex" / "activations.py").read_text()
    assert "logits.max(axis=1" not in activations
    # every file still parses, and each listed function now only raises
    for file, name, _ in exercise.functions_to_write():
        tree = ast.parse((tmp_path / "ex" / file).read_text())
        body = dict(exercise._functions(tree))[name].body
        assert isinstance(body[-1], ast.Raise) and "NotImplementedError" in ast.unparse(body[-1])
    untouched = {"__init__.py", "model.py", "initializers.py", "progress.py"}
    for name in untouched:
        assert (tmp_path / "ex" / name).read_text() == (PACKAGE / name).read_text()
    assert (tmp_path / "ex" / "README.md").exists()


# A learner's answers, written the plain way (new arrays, no buffers), in the order check asks.
ANSWERS = {
    "Dense.affine": "self.inputs = x\nreturn x @ self.kernel + self.bias",
    "ReLU.forward": "self.outputs = np.maximum(logits, 0)\nreturn self.outputs",
    "softmax": "exp = np.exp(logits - logits.max(axis=1, keepdims=True))\nreturn exp / exp.sum(axis=1, keepdims=True)",
    "categorical_crossentropy_from_logits": (
        "shifted = logits - logits.max(axis=1, keepdims=True)\n"
        "log_sum_exp = np.log(np.exp(shifted).sum(axis=1))\n"
        "loss = float(np.mean(log_sum_exp - (shifted * y_true).sum(axis=1)))\n"
        "probabilities = np.exp(shifted - log_sum_exp[:, None])\n"
        "return loss, probabilities, (probabilities - y_true) / len(logits)"),
    "Dense.backward_affine": (
        "self.grad_kernel = self.inputs.T @ grad_z\n"
        "if self.kernel_regularizer:\n"
        "    self.grad_kernel = self.grad_kernel + self.kernel_regularizer.gradient(self.kernel)\n"
        "self.grad_bias = grad_z.sum(axis=0)\n"
        "return grad_z @ self.kernel.T if need_grad_inputs else None"),
    "ReLU.backward": "return grad_outputs * (self.outputs > 0)",
    "SGD.apply": (
        "if self.velocities is None:\n"
        "    self.velocities = [np.zeros_like(w) for w in variables]\n"
        "for g, w, v in zip(grads, variables, self.velocities):\n"
        "    v *= self.momentum\n"
        "    v -= self.learning_rate * g\n"
        "    if self.nesterov:\n"
        "        w += self.momentum * v - self.learning_rate * g\n"
        "    else:\n"
        "        w += v"),
}


def fill_in(folder, file, name):
    """Replace the NotImplementedError of `name` with the learner's answer."""
    path = folder / file
    source = path.read_text()
    node = dict(exercise._functions(ast.parse(source)))[name]
    raise_node = node.body[-1]
    indent = " " * raise_node.col_offset
    lines = source.splitlines(keepends=True)
    answer = "".join(f"{indent}{line}\n" for line in ANSWERS[name].splitlines())
    lines[raise_node.lineno - 1:raise_node.end_lineno] = [answer]
    path.write_text("".join(lines))


def check_folder(folder):
    passed, checker = check.run_check(str(folder), emit=lambda line: None, module=check.load_twin(str(folder)))
    return passed, checker


def test_check_names_each_function_in_turn_and_passes_when_all_are_written(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder)
    stages = []
    for file, name, _ in exercise.functions_to_write():
        passed, checker = check_folder(folder)
        assert not passed
        assert checker.hint.startswith(f"{name} ({file}:"), (name, checker.hint)
        stages.append(checker.failed_stage)
        fill_in(folder, file, name)
    assert stages == ["forward", "forward", "forward", "loss", "gradients", "gradients", "optimizer"]
    passed, checker = check_folder(folder)
    assert passed, checker.hint


def test_check_catches_a_backward_pass_that_forgets_the_l2_gradient(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder)
    for file, name, _ in exercise.functions_to_write():
        fill_in(folder, file, name)
    layers = folder / "layers.py"
    text = layers.read_text()
    forgetful = text.replace("        if self.kernel_regularizer:\n"
                             "            self.grad_kernel = self.grad_kernel + self.kernel_regularizer.gradient(self.kernel)\n", "")
    assert forgetful != text
    layers.write_text(forgetful)
    passed, checker = check_folder(folder)
    assert not passed and checker.failed_stage == "more of Keras" and "L2" in checker.hint


def test_copying_the_package_back_in_passes(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder)
    assert not check_folder(folder)[0]
    for file in {file for file, _, _ in exercise.functions_to_write()}:
        shutil.copy(PACKAGE / file, folder / file)
    assert check_folder(folder)[0]


def test_cli_fresh_exercise_fails_naming_the_first_function(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["exercise", str(folder)]) == 0
    assert "python -m compare check" in capsys.readouterr().out
    assert main(["check", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "Dense.affine (layers.py:" in captured.out and "not written yet" in captured.out
    assert "failed at stage 'forward'" in captured.err


@pytest.mark.parametrize("kind", ["not empty", "a file", "no parent"])
def test_cli_exercise_refuses_a_bad_folder_and_writes_nothing(tmp_path, capsys, kind):
    target = tmp_path / "ex"
    if kind == "not empty":
        target.mkdir()
        (target / "mine.py").write_text("# my work\n")
    elif kind == "a file":
        target.write_text("not a folder\n")
    else:
        target = tmp_path / "missing" / "ex"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["exercise", str(target)]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err and "error:" in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before        # nothing half-written


def test_an_empty_folder_is_fine(tmp_path):
    (tmp_path / "ex").mkdir()
    exercise.write_exercise(tmp_path / "ex")
    assert (tmp_path / "ex" / "layers.py").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
