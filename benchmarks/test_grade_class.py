"""The class benchmark (benchmarks/grade_class.py) on one submission of each kind: it runs, no wrong
submission gets full marks, and grade's scores are check's. The 300-submission figure is its own run."""
from benchmarks import grade_class


def test_a_class_of_every_kind_is_graded_as_check_grades_each(tmp_path, monkeypatch):
    monkeypatch.setenv("NUMPY_VS_KERAS_CACHE", str(tmp_path / "cache"))      # not the user's cache
    assert grade_class.main(["--submissions", "20", "--out", str(tmp_path)]) == 0
