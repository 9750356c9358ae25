"""Grading a class: scores by topic and rubric, the reference cache, grade, and Gradescope's autograder zip."""
import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import numpy_impl
from compare import check
from compare.__main__ import main
from compare.check import cache as reference_cache
from compare.check.reference import catalogue
from compare.check.results import Rubric, RubricError, gradescope

from .test_check_worker import check as check_cli
from .test_check_worker import submission
from .sampling import every

PACKAGE = str(Path(numpy_impl.__file__).parent)


@pytest.fixture(scope="module")
def answers():
    """The reference answers installed (from the run's cache), and the catalogue of a complete twin's rows."""
    reference_cache.prepare()
    return catalogue()


def checked(twin):
    passed, checker = check.run_check("twin", emit=lambda line: None, module=twin)
    return checker


def test_the_catalogue_is_every_row_of_a_complete_twin(answers):
    assert len(answers) == 70 and answers[0].startswith("API: ") and answers[-1].startswith("more: Sparse")


@pytest.mark.parametrize("topic, points", every(3, [("network", 21), ("optimizers", 11), ("regularization", 11),
                                                     ("normalization", 2), ("initializers", 5), ("activations", 9),
                                                     ("losses", 5), ("graphs", 1), ("all", 70)], names=2))
def test_each_topic_is_worth_its_rows_and_numpy_impl_gets_them_all(answers, topic, points):
    rubric = Rubric.topic(topic)
    assert sum(map(rubric, answers)) == points
    result = gradescope("numpy_impl", 1.0, checked(numpy_impl), stages=check.STAGES, rubric=rubric, catalogue=answers)
    assert result["score"] == result["extra_data"]["max_score"] == points


def test_a_wrong_layer_normalization_loses_only_its_row_of_the_normalization_topic(answers):
    twin = check.load_twin(PACKAGE)
    twin.layers.LayerNormalization.axis = 0          # its backward pass takes the batch's moments
    checker = checked(twin)
    assert checker.failed_stage == "more of Keras"
    by_topic = gradescope("t", 1.0, checker, stages=check.STAGES, rubric=Rubric.topic("normalization"), catalogue=answers)
    assert (by_topic["score"], by_topic["extra_data"]["max_score"]) == (1, 2)
    by_row = gradescope("t", 1.0, checker, stages=check.STAGES)
    assert by_row["score"] == sum(test["max_score"] for test in by_row["tests"]) - 1


def test_a_piece_the_twin_does_not_build_is_a_skipped_row_worth_0_of_its_topic(answers):
    twin = check.load_twin(PACKAGE)
    own = twin.build_model

    def without_normalization(*, batchnorm=False, layernorm=False, **options):
        if batchnorm or layernorm:
            raise TypeError("build_model() got an unexpected keyword argument 'batchnorm'")
        return own(**options)
    twin.build_model = without_normalization
    checker = checked(twin)
    assert checker.failed_stage is None and sum(row.skipped for row in checker.rows) == 2
    result = gradescope("t", 1.0, checker, stages=check.STAGES, rubric=Rubric.topic("normalization"), catalogue=answers)
    assert (result["score"], result["extra_data"]["max_score"]) == (0, 2)
    assert gradescope("t", 1.0, checker, stages=check.STAGES)["score"] == 68      # one a row: skipped rows are 0 of 0


def test_a_failure_before_a_topic_scores_0_of_its_points_and_the_maximum_stays(answers):
    twin = check.load_twin(PACKAGE)
    twin.activations.ReLU.backward = lambda self, grad: grad             # no mask
    checker = checked(twin)
    assert checker.failed_stage == "gradients"
    result = gradescope("t", 1.0, checker, stages=check.STAGES, rubric=Rubric.topic("optimizers"), catalogue=answers)
    assert (result["score"], result["extra_data"]["max_score"]) == (0, 11)
    assert sum(test["max_score"] for test in result["tests"]) == 11    # the stages left unrun carry the topic's points


def test_a_rubric_file_gives_points_by_the_longest_start_and_refuses_nonsense(tmp_path, answers):
    table = tmp_path / "rubric.toml"
    table.write_text('[points]\n"gradients" = 2\n"gradients: kernel_0" = 5\n"*" = 0.5\n')
    rubric = Rubric.read(table)
    assert rubric("gradients: kernel_0 (layer 0, hidden)") == 5 and rubric("gradients: bias_0 (layer 0)") == 2
    assert rubric("API: build_model") == 0.5
    assert sum(map(rubric, answers)) == 5 + 2 * 6 + 0.5 * 63
    for text, said in (("{", "not valid JSON"), ('{"points": {"API": -1}}', "0 or more"), ("[1]", "table of")):
        (tmp_path / "bad.json").write_text(text)
        with pytest.raises(RubricError, match=said):
            Rubric.read(tmp_path / "bad.json")
    with pytest.raises(RubricError, match="cannot read"):
        Rubric.read(tmp_path / "missing.json")
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00points")
    with pytest.raises(RubricError, match="not a text file"):
        Rubric.read(tmp_path / "binary.json")


def test_a_twin_that_cannot_load_scores_0_of_the_topics_whole_maximum(tmp_path, answers):
    """In a check process of its own, where nothing has loaded the catalogue before the twin fails."""
    (tmp_path / "broken.py").write_text("raise ImportError('half written')\n")
    code, _, err, verdict = check_cli(tmp_path / "broken.py", tmp_path, "--topic", "network")
    assert code == 2 and "half written" in err
    assert verdict["score"] == 0 and verdict["extra_data"]["max_score"] == 21


def test_a_bad_rubric_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"points": {"API": "many"}}')
    assert main(["check", "numpy_impl", "--rubric", str(tmp_path / "bad.json")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "--rubric" in err and "Traceback" not in err


# ---- the cache -----------------------------------------------------------------------------

def test_the_cache_is_trusted_only_whole_ours_and_of_this_key(tmp_path, answers):
    key = reference_cache.key()
    path = reference_cache.path_for(tmp_path, key)
    reference_cache.prepare(tmp_path)                           # installed in memory: nothing written...
    reference_cache.prepare.installed_key = None                # ...so forget that, and write it
    assert reference_cache.prepare(tmp_path) == "computed" and path.is_file()
    bundle = reference_cache.load(path, key)
    assert bundle is not None and bundle["catalogue"] == answers
    assert reference_cache.load(path, "another key") is None
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])                      # cut short
    assert reference_cache.load(path, key) is None
    path.write_bytes(data)
    os.chmod(path, 0o666)                                       # writable by others: not trusted
    assert reference_cache.load(path, key) is None
    os.chmod(path, 0o644)
    assert reference_cache.load(path, key) is not None


def test_the_key_changes_with_the_reference_code(monkeypatch, tmp_path):
    before = reference_cache.key()
    source = tmp_path / "reference.py"
    source.write_text(Path(reference_cache.reference.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(reference_cache.reference, "__file__", str(source))
    assert reference_cache.key() != before


# ---- grade -------------------------------------------------------------------------------

@pytest.mark.slow
def test_grade_checks_a_class_and_each_grade_is_its_own_check(tmp_path, answers):
    students = tmp_path / "class"
    students.mkdir()
    submission(students / "alice")                                          # right
    submission(students / "bob", relu_wrong=True)                            # wrong ReLU backward
    submission(students / "carol", in_fit="import os; os._exit(0)")         # ends the process in fit
    (students / "dave").mkdir()
    (students / "dave" / "twin.py").write_text("raise ImportError('half written')\n")    # does not import
    out = tmp_path / "grades"
    assert main(["grade", str(students), "--out", str(out), "--jobs", "2", "--topic", "network"]) == 0
    with open(out / "grades.csv") as table:
        rows = {row["submission"]: row for row in csv.DictReader(table)}
    assert list(rows) == ["alice", "bob", "carol", "dave"]
    assert rows["alice"]["ended"] == "passed" and rows["alice"]["score"] == rows["alice"]["max_score"] == "21"
    assert rows["bob"]["ended"] == "failed" and rows["bob"]["failed_stage"] == "gradients"
    assert "kernel_1" in rows["bob"]["failed_row"]
    assert rows["carol"]["failed_stage"] == "optimizer" and "process ended" in rows["carol"]["failed_row"]
    assert rows["dave"]["ended"] == "could not load" and rows["dave"]["score"] == "0"
    for name in ("bob", "carol"):                 # the same score as check alone gives the same submission
        alone = tmp_path / f"alone-{name}"
        alone.mkdir()
        _, _, _, verdict = check_cli(students / name, alone, "--topic", "network")
        assert float(rows[name]["score"]) == verdict["score"]
        assert json.loads((out / name / "results.json").read_text())["score"] == verdict["score"]
    assert "The first failing stage is 'gradients'" in (out / "bob" / "check.txt").read_text()


def test_grade_refuses_a_folder_with_files_and_a_class_with_no_twin(tmp_path, capsys):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["grade", PACKAGE, "--out", str(tmp_path / "full")]) == 2
    (tmp_path / "class" / "eve").mkdir(parents=True)
    assert main(["grade", str(tmp_path / "class"), "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and "already holds files" in err[0] and "no twin in eve" in err[1]
    assert not (tmp_path / "new").exists()


# ---- Gradescope's autograder -------------------------------------------------------------

@pytest.mark.slow
def test_the_autograder_zip_grades_a_submission_laid_out_as_gradescope_lays_it(tmp_path, answers):
    zip_path = tmp_path / "autograder.zip"
    assert main(["autograder", "--topic", "network", "--out", str(zip_path), "--timeout", "30"]) == 0
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
        assert {"setup.sh", "run_autograder", "requirements.txt"} <= set(names)
        assert any(name.startswith("numpy_vs_keras-") and name.endswith(".whl") for name in names)
        assert "tensorflow==" in archive.read("requirements.txt").decode()
        root = tmp_path / "autograder"
        archive.extractall(root / "source")
    shutil.copy(root / "source" / "run_autograder", root / "run_autograder")
    os.chmod(root / "run_autograder", 0o755)
    shutil.copytree(reference_cache.default_folder(), root / "cache")     # what setup.sh computes
    env = {**os.environ, "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable}
    verdicts = {}
    for name, options in (("right", {}), ("wrong", {"relu_wrong": True})):
        shutil.rmtree(root / "submission", ignore_errors=True)
        (root / "submission").mkdir()
        submission(root / "submission" / "my_twin", **options)         # a student's folder holding their package
        done = subprocess.run([str(root / "run_autograder")], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        verdicts[name] = json.loads((root / "results" / "results.json").read_text())
    assert verdicts["right"]["score"] == verdicts["right"]["extra_data"]["max_score"] == 21
    assert verdicts["wrong"]["score"] < 21 and "gradients" in verdicts["wrong"]["output"]
