"""How long `python -m compare grade` takes for a class: N generated submissions on this machine.

    python -m benchmarks.grade_class --submissions 300 --jobs 2 --out /tmp/class

The class is made of copies of numpy_impl, as students hand them in: right ones, exercises not
started (`exercise --topic network`, every function a blank), the classic learners' mistakes
(no ReLU mask, the loss gradient not divided by the batch, SGD going uphill), and every attack on
the grader that tests/test_check_worker.py plants (check rewritten at import, a results.json
written, a fake table printed, os._exit, a segfault, memory without end, two hangs, TensorFlow's
gradients). It grades them with `grade --topic network` from a warm cache, then prints the wall
time, the time per submission, how each kind ended, and checks a sample of grades against single
`check` runs of the same submissions. benchmarks/test_grade_class.py runs it on a few submissions.
"""
import argparse
import csv
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from tests.test_check_worker import FAKE_TABLE, PATCH_CHECK, WRITE_RESULTS, submission

SWAP = {   # a learner's slip: (file, right text, wrong text)
    "no ReLU mask": ("activations.py", "grad_outputs *= self.outputs > 0", "grad_outputs *= self.outputs >= 0"),
    "loss gradient not divided by the batch": ("losses.py", "    grad_logits /= batch\n", "\n"),
    "SGD goes uphill": ("optimizers.py", "w -= step                             # w = w - lr * g",
                        "w += step                             # w = w - lr * g"),
}
# kind -> how many of every 20 submissions are of it (a class: mostly honest, a few hostile)
MIX = {"right": 4, "not started": 2, "no ReLU mask": 2, "loss gradient not divided by the batch": 2,
       "SGD goes uphill": 1, "rewrites check": 1, "writes results.json": 1, "prints a fake table": 1,
       "os._exit in fit": 1, "segfault in fit": 1, "memory without end": 1, "hangs": 1, "hangs, alarm ignored": 1,
       "TensorFlow's gradients": 1}
assert sum(MIX.values()) == 20


def make(kind, folder):
    if kind == "not started":
        subprocess.run([sys.executable, "-m", "compare", "exercise", str(folder), "--topic", "network"],
                       check=True, capture_output=True)
        return folder
    if kind in SWAP:
        submission(folder)
        file, right, wrong = SWAP[kind]
        source = (folder / file).read_text()
        assert right in source, (kind, right)
        (folder / file).write_text(source.replace(right, wrong, 1))
        return folder
    attacks = {"right": {}, "rewrites check": dict(relu_wrong=True, at_import=PATCH_CHECK),
               "writes results.json": dict(relu_wrong=True, at_import=WRITE_RESULTS.format(path=str(folder) + ".json")),
               "prints a fake table": dict(relu_wrong=True, at_import=FAKE_TABLE),
               "os._exit in fit": dict(in_fit="import os; os._exit(0)"),
               "segfault in fit": dict(in_fit="import ctypes; ctypes.string_at(0)"),
               "memory without end": dict(in_fit="blocks = []\nwhile True:\n    blocks.append(__import__('numpy')"
                                                 ".ones(1 << 24))"),
               "hangs": dict(in_fit="while True:\n    pass"),
               "hangs, alarm ignored": dict(in_fit="import signal, time\nsignal.signal(signal.SIGALRM, signal.SIG_IGN)"
                                                   "\nwhile True:\n    time.sleep(0.01)"),
               "TensorFlow's gradients": dict(relu_wrong=True, in_gradients="import tensorflow as tf\nresult = "
                                              "(result[0], [tf.constant(g).numpy() for g in result[1]])")}
    return submission(folder, **attacks[kind])


def make_class(root, count):
    kinds = [kind for kind, share in MIX.items() for _ in range(share)]
    made = {}
    for number in range(count):
        kind = kinds[number % len(kinds)]
        name = f"s{number:03d}"
        make(kind, root / name)
        made[name] = kind
    return made


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0, help="each call's limit (the hangs wait this long)")
    parser.add_argument("--memory", type=int, default=1024)
    parser.add_argument("--spot-checks", type=int, default=14, help="grades compared with single check runs")
    parser.add_argument("--out", help="a folder for the class and the grades (default: a temporary one)")
    args = parser.parse_args(argv)
    root = Path(args.out or tempfile.mkdtemp(prefix="grade-class-"))
    began = time.perf_counter()
    made = make_class(root / "class", args.submissions)
    print(f"Made {len(made)} submissions in {time.perf_counter() - began:.0f} s under {root / 'class'}")
    options = ["--topic", "network", "--timeout", f"{args.timeout:g}", "--memory", str(args.memory)]
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "compare", "grade", str(root / "class"), "--out", str(root / "grades"),
                    "--jobs", str(args.jobs), *options], check=True)
    seconds = time.perf_counter() - began
    with open(root / "grades" / "grades.csv") as table:
        rows = {row["submission"]: row for row in csv.DictReader(table)}
    print(f"\n{len(rows)} submissions graded in {seconds:.1f} s on {args.jobs} jobs: {seconds / len(rows):.2f} s "
          "per submission (the warm-up of the cache included)")
    print(f"\n{'kind':<40} {'n':>3} {'ended':<32} {'score':>7} {'seconds (median)':>17}")
    for kind in MIX:
        names = [name for name, made_kind in made.items() if made_kind == kind]
        if not names:
            continue
        ended = Counter(rows[name]["ended"] for name in names).most_common(1)[0][0]
        scores = sorted({rows[name]["score"] for name in names})
        times = sorted(float(rows[name]["seconds"]) for name in names)
        print(f"{kind:<40} {len(names):>3} {ended:<32} {'/'.join(scores):>7} {times[len(times) // 2]:>17.2f}")
    wrong = [name for name, kind in made.items() if kind != "right" and rows[name]["score"] == rows[name]["max_score"]]
    print(f"\nFull marks for a submission that is not right: {len(wrong)} {wrong[:5]}")
    sample = sorted({next(name for name, kind in made.items() if kind == each) for each in MIX if each in made.values()})
    sample = sample[:args.spot_checks]
    differ = []
    for name in sample:
        out = root / "alone" / name
        out.mkdir(parents=True)
        subprocess.run([sys.executable, "-m", "compare", "check", str(root / "class" / name), "--json",
                        str(out / "results.json"), "--cache", str(_cache()), *options], capture_output=True, cwd=out)
        alone = json.loads((out / "results.json").read_text())["score"]
        if float(rows[name]["score"]) != alone:
            differ.append((name, rows[name]["score"], alone))
    print(f"Spot checks against single check runs: {len(sample)} submissions (one of each kind), "
          f"{len(sample) - len(differ)} the same score{'; differ: ' + str(differ) if differ else ''}")
    return 1 if wrong or differ else 0


def _cache():
    from compare.check.cache import default_folder
    return default_folder()


if __name__ == "__main__":
    sys.exit(main())
