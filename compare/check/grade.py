"""python -m compare grade SUBMISSIONS... --out DIR: a class checked at once.

Each submission is checked by `python -m compare check` in a process of its own (and its twin in
that check's worker), N at a time, all from one computation of the reference answers (the cache,
warmed here first). One submission's crash, hang or attack ends at most its own check, whose
verdict then says so: never another's grade. Writes, under DIR:

    <submission>/results.json   Gradescope's format, as check --json writes it
    <submission>/check.txt      the table and the hint, as check prints them
    grades.csv                  submission, score, max_score, failed_stage, failed_row, seconds, ended
"""
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from . import cache as reference_cache
from .commands import GradingError, cache_of, rubric_of

COLUMNS = ["submission", "score", "max_score", "failed_stage", "failed_row", "seconds", "ended"]
ENDED = {0: "passed", 1: "failed", 2: "could not load"}


def find_twin(folder):
    """The twin in a student's folder: the folder itself if it is a package, else its one .py file,
    else its one package folder; None if there is no single twin."""
    folder = Path(folder)
    if (folder / "__init__.py").is_file():
        return folder
    files = [path for path in folder.glob("*.py") if not path.name.startswith("test_")]
    packages = [path for path in folder.iterdir() if path.is_dir() and (path / "__init__.py").is_file()]
    if len(files) == 1 and not packages:
        return files[0]
    if len(packages) == 1 and not files:
        return packages[0]
    return None


def submissions(paths):
    """[(name, twin path)]: each path a twin (a package folder or .py file), a student's folder holding
    one, or a folder of such."""
    found = []
    for given in map(Path, paths):
        if not given.exists():
            raise GradingError(f"no such file or folder: {given}: give twin folders, .py files, or a folder of them")
        if given.is_file():
            if given.suffix != ".py":
                raise GradingError(f"{given} is not a .py file or a folder")
            found.append((given.stem, given))
            continue
        twin = find_twin(given)
        if twin is not None:
            found.append((given.name, twin))
            continue
        inside = sorted(path for path in given.iterdir() if not path.name.startswith((".", "_")))
        class_found = [(path.stem if path.is_file() else path.name, path if path.is_file() else find_twin(path))
                       for path in inside if path.suffix == ".py" or path.is_dir()]
        missing = [name for name, twin in class_found if twin is None]
        if missing or not class_found:
            raise GradingError(f"{given}: {'no twin in ' + ', '.join(missing[:3]) if missing else 'no submissions'}: "
                               "each submission is a package folder, a .py file, or a folder holding one of them")
        found += class_found
    names, unique = {}, []
    for name, twin in found:
        names[name] = names.get(name, 0) + 1
        unique.append((name if names[name] == 1 else f"{name}-{names[name]}", twin))
    return unique


def grade(args):
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise GradingError(f"--out {out} already holds files: give a new or empty folder")
    rubric = rubric_of(args)
    found = submissions(args.submissions)
    out.mkdir(parents=True, exist_ok=True)
    folder = cache_of(args)
    if folder is None:                                # --no-cache: computed once for this grading, kept in DIR
        folder = out / ".reference-cache"
    folder = reference_cache.default_folder() if folder == reference_cache.DEFAULT else Path(folder)
    began = time.perf_counter()
    source = reference_cache.prepare(folder)
    print(f"Reference answers: {'read from' if source == 'cache' else 'computed and kept in'} {folder} "
          f"({time.perf_counter() - began:.1f} s)")
    options = ["--cache", str(folder), "--timeout", f"{args.timeout:g}", "--memory", str(args.memory)]
    options += ["--user", args.user] if args.user else []
    options += ["--topic", args.topic] if args.topic else ["--rubric", str(Path(args.rubric).resolve())] \
        if args.rubric else []
    env = dict(os.environ)
    if args.jobs > 1:                                  # N checks at once: one BLAS thread each
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    rows, began = [], time.perf_counter()
    from tqdm import tqdm
    with ThreadPoolExecutor(max_workers=args.jobs) as pool, \
            tqdm(total=len(found), unit="submission", desc="Grading", file=sys.stderr) as bar:
        futures = [pool.submit(grade_one, name, twin, out / name, options, env, args.timeout, rubric)
                   for name, twin in found]
        for future in as_completed(futures):
            rows.append(future.result())
            bar.update(1)
    seconds = time.perf_counter() - began
    rows.sort(key=lambda row: row["submission"])
    write_csv(out / "grades.csv", rows)
    passed = sum(row["ended"] == "passed" for row in rows)
    print(f"Graded {len(rows)} submissions in {seconds:.1f} s ({seconds / len(rows):.2f} s each, {args.jobs} at "
          f"a time): {passed} passed every row; mean score {sum(row['score'] for row in rows) / len(rows):.2f}. "
          f"Grades: {out / 'grades.csv'}")
    return 0


def grade_one(name, twin, folder, options, env, timeout, rubric):
    """One submission's check in a process of its own; its row of grades.csv."""
    folder.mkdir(parents=True)
    results = folder / "results.json"
    began = time.perf_counter()
    limit = max(600.0, 20 * timeout) if timeout else None
    with open(folder / "check.txt", "w") as log:
        try:
            done = subprocess.run([sys.executable, "-m", "compare", "check", str(Path(twin).resolve()), "--json",
                                   str(results.resolve()), *options], stdout=log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env, timeout=limit, cwd=folder)
            code = done.returncode
        except subprocess.TimeoutExpired:
            code = None
    seconds = time.perf_counter() - began
    row = {"submission": name, "score": 0, "max_score": _max_score(rubric), "failed_stage": "", "failed_row": "",
           "seconds": round(seconds, 2)}
    if code is None:
        row["ended"] = f"check ran past {limit:g} s and was ended"
    elif code in ENDED:
        row["ended"] = ENDED[code]
    else:
        row["ended"] = f"check ended with {'signal ' + str(-code) if code < 0 else 'exit status ' + str(code)}"
    try:
        verdict = json.loads(results.read_text()) if code is not None else None
    except (OSError, ValueError):
        verdict = None
    if verdict is not None:
        row["score"] = verdict["score"]
        row["max_score"] = verdict.get("extra_data", {}).get("max_score",
                                                             sum(test["max_score"] for test in verdict["tests"]))
        failed = next((test for test in verdict["tests"] if test["status"] == "failed"), None)
        if failed is not None:
            row["failed_stage"], _, row["failed_row"] = failed["name"].partition(": ")
    return row


def _max_score(rubric):
    from .reference import catalogue
    return sum(map(rubric, catalogue())) if rubric is not None else len(catalogue())


def write_csv(path, rows):
    handle, temporary = tempfile.mkstemp(prefix=".grades-", dir=path.parent)
    with os.fdopen(handle, "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(temporary, path)
