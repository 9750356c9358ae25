"""The docs cannot drift: docs/backprop.md points at real code, every link and anchor resolves, every quoted
command line parses, every figure is listed with its command, and the site builds strictly."""
import ast
import importlib.util
import os
import re
import shlex
import subprocess
import sys
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


# ---- README.md and every page under docs/: links, anchors, command lines, figures ------------

PAGES = [ROOT / "README.md"] + sorted((ROOT / "docs").glob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"```.*?```", re.S)


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\s-]", "", text))


def anchors(path):
    text = FENCE.sub("", path.read_text())
    return {slug(line.lstrip("#")) for line in text.splitlines() if re.match(r"#{1,6} ", line)}


def broken_links(path):
    """Every relative link or #anchor in `path` that does not resolve, as 'target: why'."""
    broken = []
    text = FENCE.sub("", path.read_text())
    for target in LINK.findall(text) + IMAGE.findall(text):
        if re.match(r"[a-z]+://|mailto:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(f"{target}: no such file")
        elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(f"{target}: no heading with that anchor")
    return broken


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_the_pages_link_to_each_other():
    # not vacuous: the front page reaches every page, and anchors are among the links checked
    readme = FENCE.sub("", (ROOT / "README.md").read_text())
    targets = LINK.findall(readme)
    for page in sorted((ROOT / "docs").glob("*.md")):
        if page.name != "index.md":
            assert f"docs/{page.name}" in {t.partition("#")[0] for t in targets}, page.name
    assert any("#" in t for t in targets)


def test_a_broken_link_or_anchor_is_caught(tmp_path):
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](there.md#a-heading) [gone](missing.md) [bad anchor](there.md#nowhere)\n")
    assert broken_links(page) == ["missing.md: no such file", "there.md#nowhere: no heading with that anchor"]


COMMAND = re.compile(r"python -m compare\b([^`\n]*)")


def quoted_commands():
    """Every `python -m compare ...` line quoted in a page (synopses with [optional] parts left out)."""
    found = set()
    for page in PAGES:
        for match in COMMAND.finditer(page.read_text()):
            line = match.group(1).split("&&")[0].split("#")[0].strip()
            if "[" in line or "..." in line or "{" in line or line.split(" ")[0].endswith(":"):
                continue                  # a synopsis, a placeholder, or the program's own error prefix
            found.add((page.name, line.rstrip(";:.,)")))
    return sorted(found)


def parses(argument_line):
    from compare.__main__ import build_parser
    try:
        build_parser().parse_args(shlex.split(argument_line))
    except SystemExit as exit:
        return exit.code == 0             # --help exits 0
    return True


@pytest.mark.parametrize("page,line", quoted_commands())
def test_every_quoted_command_line_is_accepted_by_the_parser(page, line, capsys):
    assert parses(line), f"{page}: python -m compare {line}"


def test_the_command_lines_are_found_and_a_renamed_flag_is_caught(capsys):
    lines = [line for _, line in quoted_commands()]
    assert len(lines) >= 15
    assert any(line.startswith("check") for line in lines) and any(line.startswith("bench") for line in lines)
    assert not parses("--learning-rat 0.1") and not parses("exercise my_twin --topics all")


def listed_figures():
    text = (ROOT / "docs" / "figures.md").read_text()
    return {name: command for name, command in re.findall(r"^\| `([\w.-]+\.png)` \| `python -m compare([^`]*)`",
                                                        text, re.M)}


def test_every_figure_under_docs_is_listed_with_the_command_that_makes_it():
    figures = {path.name for path in (ROOT / "docs").rglob("*.png")}
    listed = listed_figures()
    assert figures and figures == set(listed), (figures ^ set(listed))
    for name, command in listed.items():
        assert parses(command), (name, command)


def test_mkdocs_builds_the_site_strictly(tmp_path):
    if importlib.util.find_spec("mkdocs") is None or importlib.util.find_spec("mkdocs_jupyter") is None:
        pytest.skip('the site needs the [docs] extra: pip install -e ".[docs]"')
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
                          cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "WARNING" not in done.stderr
    built = tmp_path / "site"
    assert (built / "index.html").exists() and (built / "walkthrough" / "index.html").exists()
    assert "arithmatex" in (built / "backprop" / "index.html").read_text()          # the math is marked for MathJax
