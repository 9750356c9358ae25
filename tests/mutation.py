"""Mutation testing of numpy_impl and of `compare check` with mutmut, in parts a session can run (docs/testing.md).

    python -m tests.mutation sample SHARE [--seed S] [FILE ...]   names of a seeded random share of the
                                                                   mutants not run yet, for `mutmut run`
    python -m tests.mutation table                                  run / killed / survived per file
    python -m tests.mutation survivors [FILE ...]                   each survivor, with its changed lines

Every command reads mutmut's own records in mutants/ (its `.meta` files, JSON), so
run `mutmut run` once first (any mutant: `mutmut run "numpy_impl.models.*"`) to
write them. A survivor's change is found by comparing, in mutants/, the mutant's
function with mutmut's copy of the original (`..._mutmut_orig`).
"""
import argparse
import ast
import difflib
import json
import random
import signal
from pathlib import Path

# The mutated folders (pyproject.toml's only_mutate), and how their files are named here: "layers" for
# numpy_impl/layers.py, "check/stages" for compare/check/stages.py, "compare/gradcheck" for compare/gradcheck.py.
MUTATED = {Path("mutants") / "numpy_impl": "", Path("mutants") / "compare" / "check": "check/",
           Path("mutants") / "compare": "compare/"}
KILLED_CODES = {1, 3}          # mutmut's codes for a failing test; timeouts, "no tests" and the rest count apart


def meta_files():
    """{file name here: mutmut's .meta file for it}; the mutated copy is that path without ".meta"."""
    return {prefix + meta.name.removesuffix(".py.meta"): meta
            for folder, prefix in MUTATED.items() for meta in sorted(folder.glob("*.py.meta"))}


def records():
    """{file name here: {mutant name: exit code or None}} from mutmut's .meta files."""
    found = {stem: json.loads(meta.read_text())["exit_code_by_key"] for stem, meta in meta_files().items()}
    if not found:
        raise SystemExit("no mutmut records in mutants/: run `mutmut run \"numpy_impl.models.*\"` first")
    return found


def sample(share, seed, files):
    rng = random.Random(seed)
    names = []
    for stem, codes in records().items():
        if files and stem not in files:
            continue
        not_run = sorted(name for name, code in codes.items() if code is None)
        names += rng.sample(not_run, round(share * len(not_run)))
    print("\n".join(names))


def table():
    print(f"{'file':<22}{'mutants':>9}{'run':>6}{'killed':>8}{'survived':>10}{'other':>7}{'score':>8}")
    totals = [0, 0, 0, 0, 0]
    for stem, codes in records().items():
        run = [code for code in codes.values() if code is not None]
        killed = sum(code in KILLED_CODES for code in run)
        survived = sum(code == 0 for code in run)
        row = [len(codes), len(run), killed, survived, len(run) - killed - survived]
        totals = [t + r for t, r in zip(totals, row)]
        score = f"{killed / (killed + survived):.0%}" if killed + survived else "-"
        print(f"{stem + '.py':<22}" + "".join(f"{v:>{w}}" for v, w in zip(row, (9, 6, 8, 10, 7))) + f"{score:>8}")
    print(f"{'all':<22}" + "".join(f"{v:>{w}}" for v, w in zip(totals, (9, 6, 8, 10, 7)))
          + f"{totals[2] / max(1, totals[2] + totals[3]):>8.0%}")


def functions(path):
    """{function name: its source lines} for every function in a mutated file."""
    source = path.read_text()
    lines = source.splitlines()
    return {node.name: lines[node.lineno - 1:node.end_lineno] for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.FunctionDef)}


def survivors(files):
    metas = meta_files()
    for stem, codes in records().items():
        if files and stem not in files:
            continue
        names = sorted(name for name, code in codes.items() if code == 0)
        if not names:
            continue
        source = functions(metas[stem].with_suffix(""))
        for name in names:
            function = name.rsplit(".", 1)[1]
            original = source.get(function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig", [])
            changed = [line.strip() for line in difflib.unified_diff(original[1:], source.get(function, [])[1:],
                                                                      lineterm="", n=0)
                       if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            print(name)
            for line in changed or ["(a default argument on the def line)"]:
                print("    " + line[:150])


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.mutation", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    picking = commands.add_parser("sample", help="a seeded random share of the mutants not run yet")
    picking.add_argument("share", type=float)
    picking.add_argument("--seed", type=int, default=19)
    picking.add_argument("files", nargs="*", help="files by name (layers, optimizers, check/stages, ...); default: all")
    commands.add_parser("table", help="run / killed / survived per file")
    listing = commands.add_parser("survivors", help="each survivor and its changed lines")
    listing.add_argument("files", nargs="*")
    # argparse takes SHARE and FILE... in one go, so files after `--seed S` come back unparsed: fold them in
    args, rest = parser.parse_known_args(argv)
    if rest and (args.command != "sample" or any(word.startswith("-") for word in rest)):
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    args.files = getattr(args, "files", []) + rest
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)                    # `... | head` ends quietly
    if args.command == "sample":
        sample(args.share, args.seed, set(args.files))
    elif args.command == "table":
        table()
    else:
        survivors(set(args.files))


if __name__ == "__main__":
    main()
