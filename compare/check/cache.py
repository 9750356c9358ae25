"""The reference answers kept on disk: computed once (importing TensorFlow, about 9 s), then read.

Every twin is held to the same answers (reference.py), so a class is graded from one computation.
The file is named by a key that changes when anything the answers come from changes: the source of
reference.py, numpy_impl and keras_impl, the codec, and the versions of Keras, its engine and NumPy.
It is written in the codec's plain form (wire.py: JSON and arrays of plain numbers, no pickle), whole
or not at all. A file that is not ours (another owner, writable by others), cut short, of another
format or of another key is not trusted: the answers are computed again and the file replaced.
The worker cannot write it: it may not write any file (worker.limit), and with --user it is
another user.

Where: --cache DIR, else $NUMPY_VS_KERAS_CACHE, else $XDG_CACHE_HOME/numpy-vs-keras/check, else
~/.cache/numpy-vs-keras/check. --no-cache computes the answers in every run.
"""
import hashlib
import importlib.metadata
import importlib.util
import os
import stat
import tempfile
from pathlib import Path

from . import reference, wire

DEFAULT = "default"            # run_check(cache_dir=DEFAULT): default_folder()
FORMAT = 1


def default_folder():
    if os.environ.get("NUMPY_VS_KERAS_CACHE"):
        return Path(os.environ["NUMPY_VS_KERAS_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "numpy-vs-keras" / "check"


def key():
    """sha256 of everything the answers depend on."""
    digest = hashlib.sha256(f"format {FORMAT}\n".encode())
    sources = [Path(reference.__file__), Path(wire.__file__)]
    for package in ("numpy_impl", "keras_impl"):        # found, not imported: keras_impl would import TensorFlow
        sources += sorted(Path(importlib.util.find_spec(package).origin).parent.glob("*.py"))
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for distribution in ("keras", "tensorflow", "numpy"):
        try:
            version = importlib.metadata.version(distribution)
        except importlib.metadata.PackageNotFoundError:
            version = "-"
        digest.update(f"{distribution} {version}\n".encode())
    digest.update(f"backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}\n".encode())
    return digest.hexdigest()


def path_for(folder, the_key=None):
    return Path(folder) / f"references-{(the_key or key())[:24]}.bin"


def prepare(folder=DEFAULT):
    """Install the reference answers: from the cache in `folder` if it holds this key's, else computed
    (and written there). folder None: computed, nothing read or written. Returns 'cache', 'computed' or
    'in memory' (installed before, with this key)."""
    the_key = key()
    if getattr(prepare, "installed_key", None) == the_key:
        return "in memory"
    path = None if folder is None else path_for(default_folder() if folder == DEFAULT else folder, the_key)
    bundle = load(path, the_key) if path is not None else None
    source = "cache"
    if bundle is None:
        bundle, source = _computed(), "computed"
        if path is not None:
            save(path, the_key, bundle)
    reference.install(bundle)
    prepare.installed_key = the_key
    return source


def _computed():
    """The answers (importing TensorFlow), and the catalogue: the name of every row numpy_impl's check
    shows, from which a rubric's maximum is counted (results.Rubric)."""
    import numpy_impl
    from .. import backends
    from ..quiet import import_keras_quietly
    from .stages import Checker
    backends.select("tensorflow")         # the references are Keras on TensorFlow, whatever KERAS_BACKEND says
    import_keras_quietly()
    import tensorflow as tf
    tf.get_logger().setLevel("ERROR")
    reference.install(None)               # computed afresh, whatever was installed before
    bundle = reference.compute_bundle()
    reference.install(bundle)
    checker = Checker(numpy_impl, emit=lambda line: None)
    if not checker.run():
        raise RuntimeError(f"numpy_impl fails its own check at {checker.failed_stage}: {checker.hint}")
    bundle["catalogue"] = [f"{row.stage}: {row.what}" for row in checker.rows]
    return bundle


def load(path, the_key):
    """The bundle in `path` if it is ours, whole, of this format and key; else None."""
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
            return None
        content = wire.decode(path.read_bytes())
    except (OSError, wire.WireError):
        return None
    if not isinstance(content, dict) or content.get("format") != FORMAT or content.get("key") != the_key:
        return None
    bundle = content.get("bundle")
    expected = ("reference", "dropout", "vocabulary", "vocabulary_weights", "loss_objects", "catalogue")
    if not isinstance(bundle, dict) or any(part not in bundle for part in expected):
        return None
    return bundle


def save(path, the_key, bundle):
    """Write the bundle whole or not at all; a folder that cannot be written is passed over (the
    answers were computed, and are used, all the same)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    except OSError:
        return False
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(wire.encode({"format": FORMAT, "key": the_key, "bundle": bundle}))
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
        return True
    except OSError:
        Path(temporary).unlink(missing_ok=True)
        return False
