"""The command line of check, grade and autograder: their options, and what each command does."""
import os
import sys
import time
from pathlib import Path

from . import cache as reference_cache
from .guard import DEFAULT_TIMEOUT
from .remote import DEFAULT_MEMORY_MB
from .results import TOPIC_ROWS, Rubric


class GradingError(ValueError):
    """Bad input to check, grade or autograder: said in one line, exit 2."""


def add_twin_options(parser, number):
    """The options check and grade share. number: the CLI's checked-number parser factory."""
    parser.add_argument("--timeout", type=number(float, 0.0, True), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help="how long one call into the twin (fit, predict, ...) may take before check gives up "
                             "on it and ends the twin's process; 0 for no limit")
    parser.add_argument("--memory", type=number(int, 256, True), default=DEFAULT_MEMORY_MB, metavar="MB",
                        help="the address space the twin's process may use (Linux and macOS)")
    parser.add_argument("--user", metavar="NAME", help="run the twin's process as this unprivileged user (check "
                        "must run as root, as Gradescope runs it): then it cannot write check's files at all")
    parser.add_argument("--cache", metavar="DIR", help="where the reference answers are kept (default: "
                        f"{reference_cache.default_folder()}, or $NUMPY_VS_KERAS_CACHE)")
    parser.add_argument("--no-cache", action="store_true", help="compute the reference answers afresh, "
                        "reading and writing no cache (imports TensorFlow: about 9 s more)")
    scoring = parser.add_mutually_exclusive_group()
    scoring.add_argument("--topic", choices=list(TOPIC_ROWS), help="score only this exercise topic's rows, a point "
                         "each (every stage still runs, and a failure before them scores 0 of their points)")
    scoring.add_argument("--rubric", metavar="FILE", help='points per row from a JSON or TOML file: {"points": '
                         '{"gradients": 2, "more: 3 steps, Adam": 5}}, keyed by the start of a row\'s name '
                         '"stage: what"; "*" for every other row (default 0)')
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def rubric_of(args):
    if getattr(args, "topic", None):
        return Rubric.topic(args.topic)
    if getattr(args, "rubric", None):
        return Rubric.read(args.rubric)
    return None


def cache_of(args):
    return None if args.no_cache else (args.cache or reference_cache.DEFAULT)


def harden():
    """This process may not be traced or read by another of the same user (Linux: PR_SET_DUMPABLE 0),
    so that a twin's process cannot reach into check's memory."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            ctypes.CDLL(None, use_errno=True).prctl(4, 0, 0, 0, 0)     # PR_SET_DUMPABLE = 4
        except (OSError, AttributeError):
            pass


def run_check_command(args, check_json_path):
    """Exit 0 if every stage passes, 1 if one fails; a twin that cannot be loaded raises CheckError (exit 2).
    results.json (--json) is written last, by this process, whatever the twin did."""
    from ..twins import TwinError
    from .results import gradescope, write_json
    from .run import run_check
    from .stages import STAGES
    if args.json:
        check_json_path(args.json)
    rubric = rubric_of(args)
    harden()
    began = time.perf_counter()
    try:
        passed, checker = run_check(args.twin, timeout=args.timeout, memory_mb=args.memory, user=args.user,
                                    cache_dir=cache_of(args))
    except TwinError as error:
        if args.json:                     # an autograder still gets a verdict: 0 points, and why
            write_json(args.json, gradescope(args.twin, time.perf_counter() - began, error=error, rubric=rubric,
                                             catalogue=_catalogue()))
        raise
    verdict = gradescope(args.twin, checker.seconds, checker, stages=STAGES, rubric=rubric, catalogue=_catalogue())
    if args.json:
        write_json(args.json, verdict)
        print(f"Gradescope results: {args.json}")
    if rubric is not None:
        print(f"Score: {verdict['score']:g} of {verdict['extra_data']['max_score']:g} ({rubric.name})")
    if not passed:
        failed = next(row for row in checker.rows if not row.passed)
        print(f"python -m compare check: {args.twin} failed at stage '{checker.failed_stage}' "
              f"({failed.what}): see 'Where to look' above", file=sys.stderr)
    return 0 if passed else 1


def _catalogue():
    from .reference import catalogue
    return catalogue()


def add_grade_parser(commands, parser_class, formatter_class, number):
    grade = commands.add_parser(
        "grade", formatter_class=formatter_class,
        help="check a whole class: every submission in a process of its own, N at a time, into grades.csv",
        description="Check every submission (a twin folder, a .py file, or a folder of such), each in a "
                    "process of its own with its twin in a worker process, N at a time, from one computation "
                    "of the reference answers. Writes DIR/<submission>/results.json (Gradescope's format) "
                    "and check.txt (the table), and DIR/grades.csv: submission, score, max_score, first "
                    "failing stage and row, seconds, how it ended.",
        epilog="Example: python -m compare grade submissions/ --topic network --out grades/ --jobs 2")
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION",
                       help="a twin's package folder, a .py file, or a folder holding such")
    grade.add_argument("--out", required=True, metavar="DIR", help="a new (or empty) folder for the grades")
    grade.add_argument("--jobs", type=number(int, 1, True), default=os.cpu_count() or 1, metavar="N",
                       help="submissions checked at once (default: the cores, here %(default)s)")
    add_twin_options(grade, number)
    autograder = commands.add_parser(
        "autograder", formatter_class=formatter_class,
        help="write Gradescope's autograder zip: setup.sh, run_autograder and this package's wheel",
        description="Write a zip for Gradescope's autograder: setup.sh installs this package from the wheel "
                    "inside, with its dependencies pinned to the versions installed here, and computes the "
                    "reference answers once; run_autograder checks /autograder/submission as an unprivileged "
                    "user and writes /autograder/results/results.json.",
        epilog="Example: python -m compare autograder --topic network --out autograder.zip")
    autograder.add_argument("--out", default="autograder.zip", metavar="ZIP", help="the zip to write")
    autograder.add_argument("--timeout", type=number(float, 0.0, True), default=DEFAULT_TIMEOUT, metavar="SECONDS",
                            help="each call's time limit in the autograder")
    scoring = autograder.add_mutually_exclusive_group()
    scoring.add_argument("--topic", choices=list(TOPIC_ROWS), help="score only this exercise topic's rows")
    scoring.add_argument("--rubric", metavar="FILE", help="points per row (JSON or TOML), copied into the zip")
    autograder.add_argument("--debug", action="store_true", help="show full tracebacks on errors")


def run_grade_command(args):
    from .grade import grade
    rubric_of(args)                       # a bad --topic or --rubric is said before anything runs
    return grade(args)


def run_autograder_command(args):
    from .autograder import write_autograder
    if args.rubric:
        Rubric.read(args.rubric)
    path = write_autograder(Path(args.out), topic=args.topic, rubric=args.rubric, timeout=args.timeout)
    print(f"Wrote {path}: upload it as Gradescope's autograder (docs/check.md, 'Grading a class').")
    return 0

