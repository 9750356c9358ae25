"""bench knows when to distrust itself: a neighbour spinning on a core is seen and said in one
line; a quiet run says nothing. And its floor counts only the work a step does."""
import subprocess
import sys

from pathlib import Path

import numpy as np
import pytest

from compare import bench


def small_bench(log):
    rng = np.random.default_rng(0)
    x = rng.random((6000, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 6000)]
    return bench.run_bench(x, y, backends=(), batch_sizes=(64,), epochs=4, log=log)


@pytest.mark.slow
@pytest.mark.alone
def test_a_spinning_neighbour_is_seen_and_said():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        lines = []
        result = small_bench(lines.append)
    finally:
        spinner.kill()
        spinner.wait()
    assert result["others_cpu_share"] > bench.BUSY_SHARE               # one core of two: about 50%
    assert result["noise_warning"] and "other processes used" in result["noise_warning"]
    assert sum("warning: the machine was busy" in line for line in lines) == 1


@pytest.mark.slow
@pytest.mark.alone
def test_a_quiet_run_gives_no_warning():
    lines = []
    result = small_bench(lines.append)
    assert result["others_cpu_share"] is not None and result["others_cpu_share"] < bench.BUSY_SHARE
    assert result["noise_warning"] is None and not any("warning" in line for line in lines)


def test_the_warning_reads_the_spread_too():
    def row(batch_size, **spreads):
        return {"batch_size": batch_size, **{name: {"spread": spread, "seconds_per_epoch": 0.9}
                                             for name, spread in spreads.items()}}
    quiet = row(32, numpy=0.05)
    assert bench.noise_warning(0.01, [quiet]) is None
    noisy = row(32, numpy=0.6)
    assert "the 1 settings' epochs spread by 60% in the median, up to 60% (numpy at batch 32)" \
        in bench.noise_warning(0.01, [noisy])
    # a slow spell widens most settings' spreads: said, naming the widest
    spell = [row(32, numpy=0.3, numpy_1thread=0.5, other=0.1), row(1024, numpy=0.7, numpy_1thread=0.2)]
    assert "the 5 settings' epochs spread by 30% in the median, up to 70% (numpy at batch 1024)" \
        in bench.noise_warning(0.01, spell)
    # one engine's own hiccup widens its spread alone: nothing said of the machine
    hiccup = [row(32, numpy=0.05, numpy_1thread=0.9, other=0.1), row(1024, numpy=0.2, numpy_1thread=0.25)]
    assert bench.noise_warning(0.01, hiccup) is None
    # epochs of a few hundredths of a second spread from timer jitter alone: not a busy machine
    short = {"batch_size": 64, "numpy": {"spread": 0.67, "seconds_per_epoch": 0.05}}
    assert bench.noise_warning(0.01, [short]) is None
    assert "other processes used 40%" in bench.noise_warning(0.4, [quiet])
    assert bench.noise_warning(None, [quiet]) is None                      # no /proc: nothing to say


def test_the_floor_leaves_out_the_first_layers_input_gradient():
    # 784-128-10, one sample: forward 2*(784*128 + 128*10), dL/dW the same, dL/dx of the second layer only
    assert bench.epoch_flops(1, [784, 128, 10]) == 2 * (784 * 128 + 128 * 10) * 2 + 2 * 128 * 10
    # below the old 6 * n * sum(in * out), by the first layer's dL/dx: 28% of the work at 784-128-128-10
    sizes = [784, 128, 128, 10]
    old = 6 * sum(a * b for a, b in zip(sizes, sizes[1:]))
    assert 1 - bench.epoch_flops(1, sizes) / old == pytest.approx(784 * 128 * 2 / old)


def test_numpys_limit_makes_the_twins_products_into_kept_arrays(monkeypatch):
    # NumPy's own limit: per batch, the products the twin makes (forward, dL/dW, dL/dx but the
    # first layer's), each into an array kept from batch to batch, as the twin's layers do
    calls = []

    def matmul(a, b, out=None):
        calls.append((a.shape, b.shape, out is not None and id(out)))
        return np.matmul(a, b, out=out)
    monkeypatch.setattr(bench, "np", type(sys)("numpy"))
    bench.np.__dict__.update(np.__dict__)
    bench.np.matmul = matmul
    x = np.ones((10, 6), np.float32)                             # batches of 4, 4 and 2 rows
    epoch = bench.matmul_epoch(x, [6, 5, 3], batch_size=4)
    epoch()
    epoch()
    shapes = [((4, 6), (6, 5)), ((4, 5), (5, 3)), ((5, 4), (4, 3)), ((4, 3), (3, 5)), ((6, 4), (4, 5))] * 2
    shapes += [((2, 6), (6, 5)), ((2, 5), (5, 3)), ((5, 2), (2, 3)), ((2, 3), (3, 5)), ((6, 2), (2, 5))]
    assert [(a, b) for a, b, _ in calls] == shapes * 2
    assert all(calls) and all(out for _, _, out in calls)
    first, second = [out for _, _, out in calls[:5]], [out for _, _, out in calls[5:10]]
    assert first == second and len(set(first)) == 5              # the same five arrays, batch after batch


def test_one_blas_thread_is_one_thread_and_then_as_before():
    from threadpoolctl import threadpool_info

    def numpy_threads():
        return [pool["num_threads"] for pool in threadpool_info() if bench.is_numpys(pool)]
    before = numpy_threads()
    with bench.blas_threads(1):
        assert numpy_threads() and set(numpy_threads()) == {1}
    assert numpy_threads() == before
    with bench.blas_threads(None):
        assert numpy_threads() == before


def test_numpys_blas_is_told_by_where_it_lives_not_by_a_word_in_its_path(tmp_path):
    import numpy
    home = Path(numpy.__file__).resolve().parent
    assert bench.is_numpys({"filepath": str(home.parent / "numpy.libs" / "libscipy_openblas64_.so")})
    assert not bench.is_numpys({"filepath": str(home.parent / "scipy.libs" / "libscipy_openblas.so")})
    assert not bench.is_numpys({"filepath": "/home/me/numpy-vs-keras/.venv/lib/site-packages/scipy.libs/libopenblas.so"})
    assert not bench.is_numpys({"filepath": None})


def test_the_breakdown_times_every_part_and_leaves_training_as_it_was():
    import numpy_impl
    from numpy_impl import layers
    rng = np.random.default_rng(1)
    x = rng.random((640, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 640)]
    order = rng.permutation(640)
    timed, plain = numpy_impl.build_model(seed=3), numpy_impl.build_model(seed=3)
    parts = bench.epoch_breakdown(timed, x, y, order, 32)
    plain.fit(x[order], y[order], batch_size=32, verbose=0)           # shuffled by its own seed, as the timed one
    # the stopwatches changed nothing the twin computes, and are gone afterwards
    for mine, theirs in zip(timed.get_weights(), plain.get_weights()):
        np.testing.assert_array_equal(mine, theirs)
    assert layers.np is np and "compute_gradients" not in vars(timed) and "apply" not in vars(timed.optimizer)
    assert set(parts) == {"matmul", "elementwise", "optimizer", "python", "total"}
    assert min(parts.values()) > 0                       # each part was timed: a stopwatch left out reads 0
    assert parts["matmul"] + parts["elementwise"] + parts["optimizer"] + parts["python"] == pytest.approx(parts["total"])


def test_an_epoch_is_timed_as_a_user_runs_fit(monkeypatch):
    """timed_epoch times fit's epoch, shuffled as fit's default shuffles, from on_epoch_begin to
    on_epoch_end: what fit does once per call (here: 100 s of it, on a fake clock) is left out,
    as a user's fit(epochs=N) pays it once."""
    from numpy_impl.callbacks import Callback
    clock = iter([1000.0, 1002.5])                 # perf_counter at the epoch's start, then its end
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(clock))
    calls = []

    class Model:
        def fit(self, x, y, callbacks=(), **options):
            calls.append(({**options}, len(x)))
            (stopwatch,) = callbacks
            stopwatch.on_epoch_begin(0)            # (100 s of per-call work before this would not count)
            stopwatch.on_epoch_end(0, {})

    rng = np.random.default_rng(0)
    x, y = rng.random((50, 4)), rng.random((50, 2))
    assert bench.timed_epoch(Model(), x, y, None, 16, bench.epoch_stopwatch(Callback)) == 2.5
    (options, samples), = calls
    assert samples == 50 and options == {"batch_size": 16, "epochs": 1, "verbose": 0}   # shuffle: fit's default
    clock = iter([0.0, 1.0])
    bench.timed_epoch(Model(), x, y, np.arange(7), 16, bench.epoch_stopwatch(Callback))
    assert calls[-1][1] == 7                        # order: the samples trained on


def test_the_stopwatch_times_keras_and_numpy_impl_epochs():
    """The same stopwatch inside both fits: numpy_impl calls on_epoch_begin as Keras does."""
    keras = pytest.importorskip("keras")
    import keras_impl
    import numpy_impl
    rng = np.random.default_rng(2)
    x = rng.random((96, 784), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 96)]
    for model, base in ((numpy_impl.build_model(seed=0), numpy_impl.callbacks.Callback),
                        (keras_impl.build_model(seed=0), keras.callbacks.Callback)):
        stopwatch = bench.epoch_stopwatch(base)
        assert isinstance(stopwatch, base) and stopwatch.seconds is None
        assert bench.timed_epoch(model, x, y, None, 32, stopwatch) == stopwatch.seconds > 0
