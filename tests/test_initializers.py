"""Keras's initializers in numpy_impl: NumPy's draws, Keras's distributions.

The generators differ (NumPy's PCG64, Keras's per-backend streams), so the
numbers cannot match; the distributions must. Each is compared with Keras's
own draws of the same shape by a two-sample Kolmogorov-Smirnov statistic and
by its moments, and the truncated normals by their range: cut at two standard
deviations, and rescaled by 0.8796... so that the variance is scale / fan again.
"""
import math

import numpy as np
import pytest

import numpy_impl
from numpy_impl import initializers

keras = pytest.importorskip("keras")

SHAPE = (300, 200)                                   # 60,000 draws: fan_in 300, fan_out 200
# scale / fan for each: the variance both must draw with
KINDS = {"GlorotUniform": 1 / 250, "GlorotNormal": 1 / 250, "HeNormal": 2 / 300, "HeUniform": 2 / 300,
         "LecunNormal": 1 / 300, "RandomNormal": 0.05 ** 2}
TRUNCATED = ("GlorotNormal", "HeNormal", "LecunNormal")


def ks_statistic(a, b):
    """The largest gap between the two samples' empirical distribution functions."""
    a, b = np.sort(a), np.sort(b)
    grid = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, grid, side="right") / len(a)
                               - np.searchsorted(b, grid, side="right") / len(b))))


# the 0.1% critical value for two samples of n: 1.95 * sqrt(2 / n)
KS_BOUND = 1.95 * math.sqrt(2 / (SHAPE[0] * SHAPE[1]))


def draws(kind):
    mine = getattr(initializers, kind)()(*SHAPE, np.random.default_rng(1), "float64").ravel()
    theirs = np.asarray(getattr(keras.initializers, kind)(seed=1)(SHAPE, dtype="float32"), np.float64).ravel()
    return mine, theirs


@pytest.mark.parametrize("kind", list(KINDS))
def test_the_same_distribution_as_keras(kind):
    assert_same_distribution(*draws(kind), KINDS[kind])


def assert_same_distribution(mine, theirs, variance):
    """The two samples pass the KS test, and each has mean 0 and the variance it must draw with."""
    assert ks_statistic(mine, theirs) < KS_BOUND
    for sample in (mine, theirs):
        assert abs(sample.mean()) < 5 * math.sqrt(variance / sample.size)
        assert sample.var() == pytest.approx(variance, rel=0.03)       # the 0.8796 rescale shows here


@pytest.mark.parametrize("kind", TRUNCATED)
def test_truncated_at_two_standard_deviations(kind):
    mine, theirs = draws(kind)
    stddev = math.sqrt(KINDS[kind]) / initializers.TRUNCATION_RESCALE        # the normal before the cut
    for sample in (mine, theirs):
        assert np.abs(sample).max() <= 2 * stddev * (1 + 1e-6)
        assert np.abs(sample).max() > 1.99 * stddev                     # and the cut is reached


# VarianceScaling itself, in each mode and distribution: (scale, mode, distribution), the shape, and
# the variance scale / max(1, fan) both must draw with
VARIANCE_SCALING = {
    "scale 3, fan_out, untruncated normal": ((3.0, "fan_out", "untruncated_normal"), SHAPE, 3 / 200),
    "scale 0.5, fan_avg, uniform": ((0.5, "fan_avg", "uniform"), SHAPE, 0.5 / 250),
    "scale 2, fan_in, truncated normal": ((2.0, "fan_in", "truncated_normal"), SHAPE, 2 / 300),
    "a single input, fan_in 1": ((1.0, "fan_in", "untruncated_normal"), (1, 60000), 1.0),
}


@pytest.mark.parametrize("case", VARIANCE_SCALING)
def test_variance_scaling_draws_as_keras_in_every_mode_and_distribution(case):
    arguments, shape, variance = VARIANCE_SCALING[case]
    mine = initializers.VarianceScaling(*arguments)(*shape, np.random.default_rng(1), "float64").ravel()
    theirs = np.asarray(keras.initializers.VarianceScaling(*arguments, seed=1)(shape, dtype="float32"),
                        np.float64).ravel()
    assert_same_distribution(mine, theirs, variance)
    assert initializers.VarianceScaling(*arguments)(*shape, np.random.default_rng(1)).dtype == np.float32


@pytest.mark.parametrize("kind", ["VarianceScaling", "GlorotUniform", "GlorotNormal", "HeNormal", "HeUniform",
                                  "LecunNormal"])
def test_the_variance_scaling_family_keeps_keras_settings(kind):
    mine, theirs = getattr(initializers, kind)(), getattr(keras.initializers, kind)()
    assert (mine.scale, mine.mode, mine.distribution) == (theirs.scale, theirs.mode, theirs.distribution)


def test_variance_scaling_names_a_mode_or_distribution_it_does_not_know():
    with pytest.raises(ValueError, match=r"^mode must be 'fan_in', 'fan_out' or 'fan_avg', got 'fan_sum'$"):
        initializers.VarianceScaling(mode="fan_sum")
    with pytest.raises(ValueError, match=r"^distribution must be 'truncated_normal', 'untruncated_normal' or "
                                         r"'uniform', got 'normal'$"):
        initializers.VarianceScaling(distribution="normal")


def test_the_statistic_can_tell_distributions_apart():
    """Not vacuous: an untruncated normal of the same variance, or the rescale left out, fails."""
    _, theirs = draws("HeNormal")
    rng = np.random.default_rng(2)
    untruncated = rng.normal(0, math.sqrt(KINDS["HeNormal"]), theirs.size)
    unscaled = initializers.truncated_normal(theirs.size, math.sqrt(KINDS["HeNormal"]), rng)
    assert ks_statistic(untruncated, theirs) > KS_BOUND
    assert ks_statistic(unscaled, theirs) > KS_BOUND


def test_dense_takes_an_initializer_by_name_or_object():
    layer = numpy_impl.Dense(200, kernel_initializer="he_normal")
    layer.build((300,), np.random.default_rng(0), "float64")
    assert layer.kernel.var() == pytest.approx(2 / 300, rel=0.03) and not layer.bias.any()
    layer = numpy_impl.Dense(3, kernel_initializer=initializers.RandomNormal(stddev=0.5))
    layer.build((1000,), np.random.default_rng(0), "float32")
    assert layer.kernel.std() == pytest.approx(0.5, rel=0.05) and layer.kernel.dtype == np.float32
    with pytest.raises(ValueError, match=r"^unknown initializer 'orthogonal': use one of glorot_uniform, glorot_normal, "
                                         r"he_normal, he_uniform, lecun_normal, random_normal, "
                                         r"variance_scaling, zeros, ones$"):
        numpy_impl.Dense(3, kernel_initializer="orthogonal")


def test_build_model_hands_every_dense_layer_its_kernel_initializer():
    model = numpy_impl.build_model(input_dim=300, hidden=(200, 100), num_classes=10, dtype="float64",
                                   kernel_initializer="he_normal")
    kernels = [w for w in model.get_weights() if w.ndim == 2]
    assert [k.var() for k in kernels] == pytest.approx([2 / 300, 2 / 200, 2 / 100], rel=0.15)   # He: 2 / fan_in
    normalized = numpy_impl.build_model(input_dim=300, hidden=(200, 100), num_classes=10, dtype="float64",
                                        kernel_initializer="he_normal", batchnorm=True)
    assert [k.var() for k in normalized.get_weights() if k.ndim == 2] == pytest.approx([2 / 300, 2 / 200, 2 / 100],
                                                                                       rel=0.15)
    glorot = numpy_impl.build_model(input_dim=300, hidden=(200, 100), num_classes=10, dtype="float64")
    assert glorot.get_weights()[0].var() == pytest.approx(2 / 500, rel=0.03)        # the default: 2 / (in + out)


@pytest.mark.parametrize("stddev", [0.05, 1.0, 3.0])
def test_truncated_normal_is_the_normal_cut_at_two_standard_deviations(stddev):
    """Against the exact distribution, not a sample: CDF (Phi(x / s) - Phi(-2)) / (Phi(2) - Phi(-2)) on [-2s, 2s].

    At stddev 1 and more the first draw and the redraws both matter: a first draw off centre, or redraws
    from another normal, move the mean and the shape of the 4.6% that were redrawn.
    """
    n = 200_000
    values = np.sort(initializers.truncated_normal((n,), stddev, np.random.default_rng(5)))
    phi = np.vectorize(lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2))))
    cdf = (phi(values / stddev) - phi(-2.0)) / (phi(2.0) - phi(-2.0))
    ks = max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))
    assert ks < 1.95 / math.sqrt(n)                                    # the 0.1% critical value, one sample
    assert abs(values.mean()) < 5 * stddev * initializers.TRUNCATION_RESCALE / math.sqrt(n)


@pytest.mark.parametrize("kind", list(KINDS))
def test_draws_come_in_float32_unless_asked(kind):
    """Keras's floatx: init(fan_in, fan_out, rng) gives a float32 (fan_in, fan_out) kernel."""
    kernel = getattr(initializers, kind)()(3, 4, np.random.default_rng(0))
    assert kernel.dtype == np.float32 and kernel.shape == (3, 4)
    assert initializers.glorot_uniform(3, 4, np.random.default_rng(0)).dtype == np.float32   # the function too
    assert initializers.zeros((4,)).dtype == np.float32                                       # and the biases
