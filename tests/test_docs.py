"""docs/backprop.md points at real code: every `file.py: Function` it names exists."""
import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "backprop.md"
POINTER = re.compile(r"`((?:numpy_impl|keras_impl|compare|keras/src)/[\w/]+\.py): ([\w.]+)`")


def pointers():
    return sorted(set(POINTER.findall(DOC.read_text())))


def defined_names(path):
    """Every function and class in a file, by qualified name (Dense.backward_affine)."""
    names = set()

    def walk(body, prefix):
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(prefix + node.name)
                if isinstance(node, ast.ClassDef):
                    walk(node.body, prefix + node.name + ".")
    walk(ast.parse(path.read_text()).body, "")
    return names


def resolve(file):
    if file.startswith("keras/src/"):
        import keras
        return Path(keras.__file__).parent / file[len("keras/"):]
    return ROOT / file


def test_the_doc_names_the_code_of_every_step():
    found = pointers()
    files = {file for file, _ in found}
    assert len(found) >= 25
    # every file of the NumPy twin's math, and the Keras side beside it
    assert {"numpy_impl/layers.py", "numpy_impl/activations.py", "numpy_impl/losses.py",
            "numpy_impl/optimizers.py", "numpy_impl/initializers.py", "keras_impl/model.py",
            "keras/src/optimizers/sgd.py", "keras/src/layers/core/dense.py"} <= files


@pytest.mark.parametrize("file,name", pointers())
def test_every_code_pointer_names_a_function_that_exists(file, name):
    path = resolve(file)
    assert path.is_file(), f"{file} does not exist"
    assert name in defined_names(path), f"{file} has no {name}"


def test_a_renamed_function_would_be_caught(tmp_path):
    source = tmp_path / "layers.py"
    source.write_text("class Dense:\n    def affine(self, x):\n        return x\n")
    assert "Dense.affine" in defined_names(source) and "Dense.backward_affine" not in defined_names(source)


def test_relative_links_resolve():
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", DOC.read_text()):
        assert (DOC.parent / target).resolve().exists(), target
