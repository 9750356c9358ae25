"""A network small enough to compute by hand: 2 inputs -> 2 ReLU units -> 2-class softmax."""
import math

import numpy as np
import pytest

from numpy_impl import SGD, Dense, Input, Sequential


@pytest.fixture
def tiny():
    model = Sequential([Input(shape=(2,)), Dense(2, activation="relu"), Dense(2, activation="softmax")],
                       dtype="float64")
    model.compile(optimizer=SGD(learning_rate=0.1), metrics=["accuracy"])
    model.set_weights([
        np.array([[1.0, -1.0], [0.5, 1.0]]), np.array([0.0, 0.5]),   # hidden kernel, bias
        np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0.0, 0.0]),    # output kernel (identity), bias
    ])
    return model


x = np.array([[1.0, 2.0]])
y = np.array([[1.0, 0.0]])

# hidden:  z1 = [1*1 + 2*0.5 + 0,  1*(-1) + 2*1 + 0.5] = [2, 1.5];  relu -> [2, 1.5]
# output:  logits = [2, 1.5];  softmax -> p0 = 1 / (1 + e^-0.5), p1 = 1 - p0
P0 = 1 / (1 + math.exp(-0.5))          # 0.6224593...
P1 = 1 - P0                            # 0.3775406...
LOSS = -math.log(P0)                   # 0.4740769...


def test_forward_pass_by_hand(tiny):
    np.testing.assert_allclose(tiny.predict(x), [[P0, P1]], rtol=1e-12)
    loss, accuracy = tiny.evaluate(x, y)
    assert loss == pytest.approx(LOSS, rel=1e-12)
    assert accuracy == 1.0


def test_one_sgd_step_by_hand(tiny):
    # d loss / d logits = p - y = [-P1, P1]     (batch of one: no division)
    g = np.array([-P1, P1])
    # output layer: d kernel = h.T @ g with h = [2, 1.5];  d bias = g
    # back to h: g @ identity.T = g; relu passes it (both z1 > 0)
    # hidden layer: d kernel = x.T @ g with x = [1, 2];  d bias = g
    expected = [
        np.array([[1.0, -1.0], [0.5, 1.0]]) - 0.1 * np.outer([1.0, 2.0], g),
        np.array([0.0, 0.5]) - 0.1 * g,
        np.eye(2) - 0.1 * np.outer([2.0, 1.5], g),
        np.zeros(2) - 0.1 * g,
    ]
    history = tiny.fit(x, y, batch_size=1, epochs=1, verbose=0)
    for got, want in zip(tiny.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    # History's loss is taken before the update
    assert history.history["loss"] == [pytest.approx(LOSS, rel=1e-12)]


def test_relu_blocks_gradient_of_inactive_unit(tiny):
    # make the second hidden unit inactive: z1[1] = -1 + 2 + b = -0.5 when b = -1.5
    weights = tiny.get_weights()
    weights[1] = np.array([0.0, -1.5])
    tiny.set_weights(weights)
    before = tiny.get_weights()
    tiny.fit(x, y, batch_size=1, epochs=1, verbose=0)
    after = tiny.get_weights()
    # the dead unit's incoming kernel column and bias do not move
    np.testing.assert_array_equal(after[0][:, 1], before[0][:, 1])
    assert after[1][1] == before[1][1]
    # the live unit's do
    assert not np.allclose(after[0][:, 0], before[0][:, 0])
