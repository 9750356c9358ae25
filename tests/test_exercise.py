"""python -m compare exercise: generated from numpy_impl's source; check leads a learner through it."""
import ast
import re
import shutil
import sys
from pathlib import Path

import pytest

import numpy_impl
from compare import check, exercise
from compare.__main__ import main
from compare.quiet import import_keras_quietly

PACKAGE = Path(numpy_impl.__file__).parent


@pytest.fixture(autouse=True)
def no_bytecode(monkeypatch):
    # The tests rewrite exercise files within one second; never let a stale .pyc answer.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)


@pytest.fixture(scope="module", autouse=True)
def keras_loaded():
    import_keras_quietly()


def test_every_listed_function_exists_in_numpy_impl():
    for file, name, _ in exercise.functions_to_write():
        tree = ast.parse((PACKAGE / file).read_text())
        assert name in dict(exercise._functions(tree)), (file, name)


def test_bodies_are_blanked_and_docstrings_and_comments_kept(tmp_path):
    exercise.write_exercise(tmp_path / "ex")
    layers = (tmp_path / "ex" / "layers.py").read_text()
    assert "Dense.affine: z = x @ kernel + bias" in layers
    assert "np.matmul(self.inputs.T, grad_z" not in layers            # the answer is gone
    assert '"""From dL/dz to dL/dkernel, dL/dbias (stored) and dL/dx (returned).' in layers
    assert "# (in, B) @ (B, out)" in layers                           # the shape comment stays
    assert "def build(self, input_shape, rng, dtype):" in layers       # everything else unchanged
    activations = (tmp_path / "ex" / "activations.py").read_text()
    assert "logits.max(axis=1" not in activations
    # every file still parses, and each listed function now only raises
    for file, name, _ in exercise.functions_to_write():
        tree = ast.parse((tmp_path / "ex" / file).read_text())
        body = dict(exercise._functions(tree))[name].body
        assert isinstance(body[-1], ast.Raise) and "NotImplementedError" in ast.unparse(body[-1])
    untouched = {"__init__.py", "model.py", "initializers.py", "progress.py"}
    for name in untouched:
        assert (tmp_path / "ex" / name).read_text() == (PACKAGE / name).read_text()
    assert (tmp_path / "ex" / "README.md").exists()


# A learner's answers, written the plain way (new arrays, no buffers), in the order check asks.
ANSWERS = {
    "Dense.affine": "self.inputs = x\nz = x @ self.kernel\nreturn z + self.bias if self.use_bias else z",
    "ReLU.forward": "self.outputs = np.maximum(logits, 0)\nreturn self.outputs",
    "softmax": "exp = np.exp(logits - logits.max(axis=1, keepdims=True))\nreturn exp / exp.sum(axis=1, keepdims=True)",
    "categorical_crossentropy_from_logits": (
        "shifted = logits - logits.max(axis=1, keepdims=True)\n"
        "log_sum_exp = np.log(np.exp(shifted).sum(axis=1))\n"
        "loss = float(np.mean(log_sum_exp - (shifted * y_true).sum(axis=1)))\n"
        "probabilities = np.exp(shifted - log_sum_exp[:, None])\n"
        "return loss, probabilities, (probabilities - y_true) / len(logits)"),
    "Dense.backward_affine": (
        "self.grad_kernel = self.inputs.T @ grad_z\n"
        "if self.kernel_regularizer:\n"
        "    self.grad_kernel = self.grad_kernel + self.kernel_regularizer.gradient(self.kernel)\n"
        "self.grad_bias = grad_z.sum(axis=0) if self.use_bias else None\n"
        "return grad_z @ self.kernel.T if need_grad_inputs else None"),
    "ReLU.backward": "return grad_outputs * (self.outputs > 0)",
    "SGD.update": (
        "if self.velocities is None:\n"
        "    self.velocities = [np.zeros_like(w) for w in variables]\n"
        "for g, w, v in zip(grads, variables, self.velocities):\n"
        "    v *= self.momentum\n"
        "    v -= self.learning_rate * g\n"
        "    if self.nesterov:\n"
        "        w += self.momentum * v - self.learning_rate * g\n"
        "    else:\n"
        "        w += v"),
    "Dropout.forward": (
        "if not training or self.rate == 0:\n"
        "    self.mask = None\n"
        "    return x\n"
        "self.mask = self.draw_mask(x.shape)\n"
        "return x * self.mask * self.scale"),
    "Dropout.backward": (
        "if self.mask is None:\n"
        "    return grad_outputs\n"
        "return grad_outputs * self.mask * self.scale"),
    "Flatten.forward": "return x.reshape(len(x), -1)",
    "Adam.update": (
        "if self.momentums is None:\n"
        "    self.momentums = [np.zeros_like(w) for w in variables]\n"
        "    self.velocities = [np.zeros_like(w) for w in variables]\n"
        "    self.velocity_hats = [np.zeros_like(w) for w in variables]\n"
        "t = self.iterations + 1\n"
        "alpha = self.learning_rate * math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)\n"
        "for g, w, m, v, v_hat in zip(grads, variables, self.momentums, self.velocities, self.velocity_hats):\n"
        "    m += (g - m) * (1 - self.beta_1)\n"
        "    v += (g * g - v) * (1 - self.beta_2)\n"
        "    if self.amsgrad:\n"
        "        v_hat[...] = np.maximum(v_hat, v)\n"
        "        v = v_hat\n"
        "    w -= m * alpha / (np.sqrt(v) + self.epsilon)"),
    "RMSprop.update": (
        "if self.velocities is None:\n"
        "    self.velocities = [np.zeros_like(w) for w in variables]\n"
        "    self.average_gradients = [np.zeros_like(w) for w in variables]\n"
        "    self.momentums = [np.zeros_like(w) for w in variables]\n"
        "for g, w, v, a, buffer in zip(grads, variables, self.velocities, self.average_gradients, self.momentums):\n"
        "    v[...] = self.rho * v + (1 - self.rho) * g * g\n"
        "    if self.centered:\n"
        "        a[...] = self.rho * a + (1 - self.rho) * g\n"
        "        increment = self.learning_rate * g / np.sqrt(v - a * a + self.epsilon)\n"
        "    else:\n"
        "        increment = self.learning_rate * g / np.sqrt(v + self.epsilon)\n"
        "    if self.momentum > 0:\n"
        "        buffer[...] = self.momentum * buffer + increment\n"
        "        w -= buffer\n"
        "    else:\n"
        "        w -= increment"),
    "Optimizer.decay_weights": (
        "for w in variables:\n"
        "    w -= self.learning_rate * self.weight_decay * w"),
    "Adagrad.update": (
        "if self.accumulators is None:\n"
        "    self.accumulators = [np.full_like(w, self.initial_accumulator_value) for w in variables]\n"
        "for g, w, a in zip(grads, variables, self.accumulators):\n"
        "    a += g ** 2\n"
        "    w -= self.learning_rate * g / np.sqrt(a + self.epsilon)"),
    "Optimizer.clip": (
        "if self.clipnorm:\n"
        "    return [g * self.clipnorm / max(np.linalg.norm(g), self.clipnorm) for g in grads]\n"
        "if self.global_clipnorm:\n"
        "    total = np.sqrt(sum(np.sum(g ** 2) for g in grads))\n"
        "    return [g * self.global_clipnorm / max(total, self.global_clipnorm) for g in grads]\n"
        "return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]"),
    "BatchNormalization.forward": (
        "if not training:\n"
        "    return self.normalize(x, self.moving_mean, self.moving_variance)\n"
        "mean = x.mean(axis=0)\n"
        "variance = ((x - mean) ** 2).mean(axis=0)\n"
        "self.moving_mean[...] = self.moving_mean * self.momentum + mean * (1.0 - self.momentum)\n"
        "self.moving_variance[...] = self.moving_variance * self.momentum + variance * (1.0 - self.momentum)\n"
        "return self.normalize(x, mean, variance)"),
    "Normalization.normalize": (
        "self.inv_std = 1.0 / np.sqrt(variance + self.epsilon)\n"
        "self.x_hat = (x - mean) * self.inv_std\n"
        "inv = self.inv_std * self.gamma\n"
        "return x * inv + (self.beta - mean * inv)"),
    "Normalization.backward": (
        "self.grad_gamma[...] = (grad_outputs * self.x_hat).sum(axis=0)\n"
        "self.grad_beta[...] = grad_outputs.sum(axis=0)\n"
        "if not need_grad_inputs:\n"
        "    return None\n"
        "g = grad_outputs * self.gamma\n"
        "mean_g = g.mean(axis=self.axis, keepdims=True)\n"
        "mean_gx = (g * self.x_hat).mean(axis=self.axis, keepdims=True)\n"
        "return (g - mean_g - self.x_hat * mean_gx) * self.inv_std"),
    "LayerNormalization.forward": (
        "mean = x.mean(axis=1, keepdims=True)\n"
        "variance = ((x - mean) ** 2).mean(axis=1, keepdims=True)\n"
        "return self.normalize(x, mean, variance)"),
    "glorot_uniform": (
        "limit = np.sqrt(6.0 / (fan_in + fan_out))\n"
        "return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)"),
    "VarianceScaling.__call__": (
        "fan = {'fan_in': fan_in, 'fan_out': fan_out, 'fan_avg': (fan_in + fan_out) / 2.0}[self.mode]\n"
        "variance = self.scale / max(1.0, fan)\n"
        "if self.distribution == 'uniform':\n"
        "    limit = math.sqrt(3.0 * variance)\n"
        "    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)\n"
        "if self.distribution == 'untruncated_normal':\n"
        "    return rng.normal(0.0, math.sqrt(variance), size=(fan_in, fan_out)).astype(dtype)\n"
        "return truncated_normal((fan_in, fan_out), math.sqrt(variance) / TRUNCATION_RESCALE, rng).astype(dtype)"),
    "truncated_normal": (
        "values = rng.normal(0.0, stddev, size=shape)\n"
        "while True:\n"
        "    outside = np.abs(values) > 2 * stddev\n"
        "    if not outside.any():\n"
        "        return values\n"
        "    values[outside] = rng.normal(0.0, stddev, size=int(outside.sum()))"),
    "L2.gradient": "return 2 * self.l2 * kernel",
    "L2.__call__": "return self.l2 * float((kernel * kernel).sum())",
    "L1.gradient": "return self.l1 * np.sign(kernel)",
    "L1.__call__": "return self.l1 * float(np.abs(kernel).sum())",
    "CosineDecay._cosine": (
        "fraction = step / self.decay_steps\n"
        "return decay_from * ((1 - self.alpha) * 0.5 * (1.0 + math.cos(math.pi * fraction)) + self.alpha)"),
    "ExponentialDecay.__call__": (
        "exponent = step / self.decay_steps\n"
        "if self.staircase:\n"
        "    exponent = math.floor(exponent)\n"
        "return self.initial_learning_rate * self.decay_rate ** exponent"),
    "PiecewiseConstantDecay.__call__": (
        "index = sum(step > boundary for boundary in self.boundaries)\n"
        "return self.values[index]"),
    "sparse_categorical_crossentropy_from_logits": (
        "rows = np.arange(len(logits))\n"
        "shifted = logits - logits.max(axis=1, keepdims=True)\n"
        "log_sum_exp = np.log(np.exp(shifted).sum(axis=1))\n"
        "loss = float(np.mean(log_sum_exp - shifted[rows, labels]))\n"
        "probabilities = np.exp(shifted - log_sum_exp[:, None])\n"
        "grad_logits = probabilities.copy()\n"
        "grad_logits[rows, labels] -= 1\n"
        "return loss, probabilities, grad_logits / len(logits)"),
    "CategoricalCrossentropy.crossentropy": (
        "if self.from_logits:\n"
        "    return -(y_true * _log_softmax(y_pred)).sum(axis=-1)\n"
        "p = np.clip(y_pred / y_pred.sum(axis=-1, keepdims=True), EPSILON, 1 - EPSILON)\n"
        "return -(y_true * np.log(p)).sum(axis=-1)"),
    "SparseCategoricalCrossentropy.crossentropy": (
        "z = y_pred if self.from_logits else np.log(np.clip(y_pred, EPSILON, 1 - EPSILON))\n"
        "return -_log_softmax(z)[np.arange(len(z)), labels]"),
    "Softmax.backward": (
        "p = self.outputs\n"
        "return p * (grad_outputs - (grad_outputs * p).sum(axis=1, keepdims=True))"),
    # the activations topic
    "Sigmoid.forward": "self.outputs = sigmoid(logits)\nreturn self.outputs",
    "sigmoid": "e = np.exp(-np.abs(logits))\nreturn np.where(logits >= 0, 1 / (1 + e), e / (1 + e))",
    "Sigmoid.backward": "return grad_outputs * self.outputs * (1 - self.outputs)",
    "Tanh.forward": "self.outputs = np.tanh(logits)\nreturn self.outputs",
    "Tanh.backward": "return grad_outputs * (1 - self.outputs ** 2)",
    "LeakyReLU.forward": (
        "self.positive = logits > 0\n"
        "self.outputs = np.where(self.positive, logits, self.negative_slope * logits)\n"
        "return self.outputs"),
    "LeakyReLU.backward": "return grad_outputs * np.where(self.positive, 1.0, self.negative_slope)",
    "ELU.forward": (
        "self.positive = logits > 0\n"
        "self.outputs = np.where(self.positive, logits, self.alpha * np.expm1(np.minimum(logits, 0)))\n"
        "return self.outputs"),
    "ELU.backward": "return grad_outputs * np.where(self.positive, 1.0, self.outputs + self.alpha)",
    "SELU.forward": "self.outputs = self.SCALE * super().forward(logits)\nreturn self.outputs",
    "SELU.backward": (
        "return grad_outputs * np.where(self.positive, self.SCALE, self.outputs + self.SCALE * self.alpha)"),
    "Softplus.forward": (
        "self.logits = logits.copy()\n"
        "self.outputs = np.maximum(logits, 0) + np.log1p(np.exp(-np.abs(logits)))\n"
        "return self.outputs"),
    "Softplus.backward": "return grad_outputs * sigmoid(self.logits)",
    "Softsign.forward": (
        "self.denominator = 1 + np.abs(logits)\nself.outputs = logits / self.denominator\nreturn self.outputs"),
    "Softsign.backward": "return grad_outputs / self.denominator ** 2",
    "SiLU.forward": (
        "self.logits, self.s = logits.copy(), sigmoid(logits)\nself.outputs = logits * self.s\nreturn self.outputs"),
    "SiLU.backward": "return grad_outputs * self.s * (1 + self.logits * (1 - self.s))",
    "GELU.forward": (
        "self.logits = z = logits.copy()\n"
        "self.cdf = 0.5 * (1 + erf(z / math.sqrt(2)))\n"
        "self.outputs = z * self.cdf\n"
        "return self.outputs"),
    "erf": "return np.vectorize(math.erf, otypes=[np.float64])(x).astype(x.dtype)",
    "GELU.backward": (
        "z = self.logits\n"
        "return grad_outputs * (self.cdf + z * np.exp(-z * z / 2) / math.sqrt(2 * math.pi))"),
    # regularization's EarlyStopping, and the graphs topic
    "EarlyStopping.on_epoch_end": (
        "current = (logs or {}).get(self.monitor)\n"
        "if current is None:\n"
        "    raise ValueError(f'EarlyStopping monitors {self.monitor!r}, which fit does not report')\n"
        "if epoch < self.start_from_epoch:\n"
        "    return\n"
        "if self.restore_best_weights and self.best_weights is None:\n"
        "    self.best_weights, self.best_epoch = self.model.get_weights(), epoch\n"
        "self.wait += 1\n"
        "if self._is_improvement(current, self.best):\n"
        "    self.best, self.best_epoch = current, epoch\n"
        "    if self.restore_best_weights:\n"
        "        self.best_weights = self.model.get_weights()\n"
        "    if self.baseline is None or self._is_improvement(current, self.baseline):\n"
        "        self.wait = 0\n"
        "    return\n"
        "if self.wait >= self.patience and epoch > 0:\n"
        "    self.stopped_epoch = epoch\n"
        "    self.model.stop_training = True"),
    "Model.backward": (
        "grads = {id(self.nodes[-1].output): grad_logits}\n"
        "for index in reversed(range(len(self.nodes))):\n"
        "    node = self.nodes[index]\n"
        "    g = grads.pop(id(node.output), None)\n"
        "    if g is None:\n"
        "        continue\n"
        "    need = self.weights_below[index]\n"
        "    if index == len(self.nodes) - 1:\n"
        "        result = node.layer.backward_affine(g, need_grad_inputs=need)\n"
        "    else:\n"
        "        result = node.layer.backward(g, need_grad_inputs=need)\n"
        "    if not need:\n"
        "        continue\n"
        "    for tensor, gradient in zip(node.inputs, result if node.merges else [result]):\n"
        "        if self._needs_gradient.get(id(tensor), False):\n"
        "            key = id(tensor)\n"
        "            grads[key] = grads[key] + gradient if key in grads else gradient"),
    # the losses topic
    "Loss.head": (
        "outputs = activation.forward(logits)\n"
        "loss = float(np.mean(self.per_sample(y_true, outputs)))\n"
        "grad = activation.backward(self.gradient(y_true, outputs)) if gradient else None\n"
        "return loss, outputs, grad"),
    "MeanSquaredError.per_sample": "return ((y_true - y_pred) ** 2).mean(axis=-1)",
    "MeanSquaredError.gradient": "return 2 * (y_pred - y_true) / y_pred.size",
    "MeanAbsoluteError.per_sample": "return np.abs(y_true - y_pred).mean(axis=-1)",
    "MeanAbsoluteError.gradient": "return np.sign(y_pred - y_true) / y_pred.size",
    "BinaryCrossentropy.head": (
        "if not (self.from_logits or activation.name == 'sigmoid'):\n"
        "    return super().head(activation, logits, y_true, gradient)\n"
        "loss = float(np.mean(sigmoid_crossentropy_with_logits(logits, y_true).mean(axis=-1)))\n"
        "grad = (activations.sigmoid(logits) - y_true) / logits.size if gradient else None\n"
        "return loss, activation.forward(logits), grad"),
    "sigmoid_crossentropy_with_logits": (
        "return np.maximum(logits, 0) - logits * y_true + np.log1p(np.exp(-np.abs(logits)))"),
    "BinaryCrossentropy.per_sample": (
        "if self.from_logits:\n"
        "    return sigmoid_crossentropy_with_logits(y_pred, y_true).mean(axis=-1)\n"
        "p = np.clip(y_pred, EPSILON, 1 - EPSILON)\n"
        "return (-(y_true * np.log(p) + (1 - y_true) * np.log(1 - p))).mean(axis=-1)"),
    "BinaryCrossentropy.gradient": (
        "if self.from_logits:\n"
        "    return (activations.sigmoid(y_pred) - y_true) / y_pred.size\n"
        "p = np.clip(y_pred, EPSILON, 1 - EPSILON)\n"
        "inside = (y_pred >= EPSILON) & (y_pred <= 1 - EPSILON)\n"
        "return np.where(inside, (p - y_true) / (p * (1 - p)), 0.0) / y_pred.size"),
}

# The stage at which check names each function of a topic, in order.
NETWORK_STAGES = ["forward", "forward", "forward", "loss", "gradients", "gradients", "optimizer", "more of Keras"]
TOPIC_STAGES = {
    "network": NETWORK_STAGES,
    "optimizers": ["more of Keras"] * 8,
    "regularization": ["dropout"] * 2 + ["more of Keras"] * 5,
    "normalization": ["more of Keras"] * 4,
    "initializers": ["API", "sanity", "sanity"],
    "activations": ["more of Keras"] * 20,
    "losses": ["more of Keras"] * 9,
    "graphs": ["more of Keras"],
    "all": ["flatten"] + ["more of Keras"] * 3,       # only the functions no other topic walks (see below)
}


def fill_in(folder, file, name):
    """Replace the NotImplementedError of `name` with the learner's answer."""
    path = folder / file
    source = path.read_text()
    node = dict(exercise._functions(ast.parse(source)))[name]
    raise_node = node.body[-1]
    indent = " " * raise_node.col_offset
    lines = source.splitlines(keepends=True)
    answer = "".join(f"{indent}{line}\n" for line in ANSWERS[name].splitlines())
    lines[raise_node.lineno - 1:raise_node.end_lineno] = [answer]
    path.write_text("".join(lines))


def check_folder(folder):
    passed, checker = check.run_check(str(folder), emit=lambda line: None, module=check.load_twin(str(folder)))
    return passed, checker


@pytest.mark.slow
@pytest.mark.parametrize("topic", list(exercise.TOPICS))
def test_check_names_each_function_in_turn_and_passes_when_all_are_written(tmp_path, topic):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder, topic)
    stages = []
    # 'all' holds every other topic's functions, each walked there; here check runs only where 'all' has
    # a function of its own (a check run is about ten seconds), and once more at the end
    walked = {f for other in exercise.TOPICS if other != "all" for f in exercise.functions_to_write(other)}
    for file, name, what in exercise.functions_to_write(topic):
        if topic == "all" and (file, name, what) in walked:
            fill_in(folder, file, name)
            continue
        passed, checker = check_folder(folder)
        assert not passed
        assert checker.hint.startswith(f"{name} ({file}:"), (name, checker.hint)
        stages.append(checker.failed_stage)
        fill_in(folder, file, name)
    assert stages == TOPIC_STAGES[topic]
    passed, checker = check_folder(folder)
    assert passed, checker.hint


def test_every_topic_blanks_its_functions_and_leaves_the_rest_whole(tmp_path):
    for topic in exercise.TOPICS:
        folder = tmp_path / topic
        exercise.write_exercise(folder, topic)
        blanked = {file for file, _, _ in exercise.functions_to_write(topic)}
        for path in PACKAGE.glob("*.py"):
            text = (folder / path.name).read_text()
            if path.name not in blanked:
                assert text == path.read_text(), (topic, path.name)
                continue
            functions = dict(exercise._functions(ast.parse(text)))
            for file, name, what in exercise.functions_to_write(topic):
                if file == path.name:
                    body = functions[name].body
                    assert isinstance(body[-1], ast.Raise) and what[:30] in ast.unparse(body[-1]), (topic, name)
        assert f"topic: {topic}" in (folder / "README.md").read_text()
    # the 'all' topic holds every other topic's functions
    every = set(exercise.functions_to_write("all"))
    assert all(set(exercise.functions_to_write(t)) <= every for t in exercise.TOPICS)


def test_each_blank_names_the_trap_keras_sets():
    what = {name: text for _, name, text in exercise.functions_to_write("all")}
    assert "OUTSIDE the root" in what["Adam.update"] and "bias correction" in what["Adam.update"]
    assert "INSIDE the square root" in what["RMSprop.update"]
    assert "2 * l2 * kernel" in what["L2.gradient"] and "no 1/2" in what["L2.__call__"]
    assert "(1 / (1 - rate))" in what["Dropout.forward"] and "not the keep probability" in what["Dropout.forward"]


def test_check_catches_a_backward_pass_that_forgets_the_l2_gradient(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder)
    for file, name, _ in exercise.functions_to_write():
        fill_in(folder, file, name)
    layers = folder / "layers.py"
    text = layers.read_text()
    forgetful = text.replace("        if self.kernel_regularizer:\n"
                             "            self.grad_kernel = self.grad_kernel + "
                             "self.kernel_regularizer.gradient(self.kernel)\n", "")
    assert forgetful != text
    layers.write_text(forgetful)
    passed, checker = check_folder(folder)
    assert not passed and checker.failed_stage == "more of Keras" and "L2" in checker.hint


def test_copying_the_package_back_in_passes(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder)
    assert not check_folder(folder)[0]
    for file in {file for file, _, _ in exercise.functions_to_write()}:
        shutil.copy(PACKAGE / file, folder / file)
    assert check_folder(folder)[0]


def test_cli_fresh_exercise_fails_naming_the_first_function(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["exercise", str(folder)]) == 0
    assert "python -m compare check" in capsys.readouterr().out
    assert main(["check", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "Dense.affine (layers.py:" in captured.out and "not written yet" in captured.out
    assert "failed at stage 'forward'" in captured.err


@pytest.mark.parametrize("kind", ["not empty", "a file", "no parent"])
def test_cli_exercise_refuses_a_bad_folder_and_writes_nothing(tmp_path, capsys, kind):
    target = tmp_path / "ex"
    if kind == "not empty":
        target.mkdir()
        (target / "mine.py").write_text("# my work\n")
    elif kind == "a file":
        target.write_text("not a folder\n")
    else:
        target = tmp_path / "missing" / "ex"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert main(["exercise", str(target)]) == 1
    captured = capsys.readouterr()
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err and "error:" in lines[0]
    assert sorted(p.name for p in tmp_path.rglob("*")) == before        # nothing half-written


def test_an_empty_folder_is_fine(tmp_path):
    (tmp_path / "ex").mkdir()
    exercise.write_exercise(tmp_path / "ex")
    assert (tmp_path / "ex" / "layers.py").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_cli_topic_optimizers_names_adam_first(tmp_path, capsys):
    folder = tmp_path / "ex"
    assert main(["exercise", str(folder), "--topic", "optimizers"]) == 0
    out = capsys.readouterr().out
    assert "Adam.update" in out and "RMSprop.update" in out and "Dense.affine" not in out
    listed = [line.strip() for line in out.splitlines() if re.match(r"  \d+\. ", line)]
    assert listed == [f"{number}. {file}: {name}" for number, (file, name, _) in
                      enumerate(exercise.functions_to_write("optimizers"), 1)]
    assert listed[0] == "1. optimizers.py: Adam.update" and "numpy_impl with 8 functions to write:" in out
    assert main(["check", str(folder)]) == 1
    captured = capsys.readouterr()
    assert "Adam.update (optimizers.py:" in captured.out and "failed at stage 'more of Keras'" in captured.err


def test_cli_unknown_topic_is_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["exercise", str(tmp_path / "ex"), "--topic", "everything"])
    assert exit_info.value.code == 2
    assert "invalid choice: 'everything'" in capsys.readouterr().err
    assert not (tmp_path / "ex").exists()
    # the same refusal from Python, where argparse's choices do not stand guard
    with pytest.raises(exercise.ExerciseError) as refused:
        exercise.write_exercise(tmp_path / "ex", topic="everything")
    assert str(refused.value) == ("unknown topic 'everything': use one of network, optimizers, regularization, "
                                  "normalization, initializers, activations, losses, graphs, all")
    assert not (tmp_path / "ex").exists()


def test_the_docs_table_lists_each_topics_functions():
    # docs/check.md's table of topics, row by row: a function added to a topic shows in its docs
    rows = {}
    for line in (Path(__file__).parents[1] / "docs" / "check.md").read_text().splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| `") and len(cells) == 3:
            rows[cells[0].split("`")[1]] = re.findall(r"`([^`]+)`", cells[1])
    assert set(rows) == set(exercise.TOPICS)
    for topic in exercise.TOPICS:
        if topic != "all":
            assert rows[topic] == [name for _, name, _ in exercise.functions_to_write(topic)], topic


# ---- from the mutation sample of exercise.py (docs/testing.md, 2026-11-27, seed 89) -------------------

def test_a_blank_raises_exactly_what_to_compute_and_refuses_a_function_numpy_impl_lacks():
    what = "a long description " * 12 + "that wraps onto several lines of the raise, and must come back whole."
    source = 'def f(x):\n    """Doc."""\n    return x  # the shapes\n'
    namespace = {}
    exec(exercise.blank_functions(source, {"f": what}), namespace)
    with pytest.raises(NotImplementedError) as raised:
        namespace["f"](1)
    assert str(raised.value) == f"f: {what}"
    with pytest.raises(exercise.ExerciseError, match=r"^numpy_impl has no g, h: update compare/exercise.py's list$"):
        exercise.blank_functions(source, {"f": what, "g": what, "h": what})


def test_each_file_and_the_readme_name_the_folder_and_each_function_on_its_own_line(tmp_path):
    folder = tmp_path / "ex"
    exercise.write_exercise(folder, "regularization")
    assert (folder / "layers.py").read_text().splitlines()[1] == (
        f"# Write the functions that raise NotImplementedError, then run: python -m compare check {folder}")
    readme = (folder / "README.md").read_text().splitlines()
    functions = exercise.functions_to_write("regularization")
    for number, (file, name, what) in enumerate(functions, 1):
        assert f"{number}. `{file}`: `{name}`: {what}" in readme


def test_a_failure_while_writing_leaves_nothing_behind(tmp_path, monkeypatch):
    def broken(directory, topic):
        raise OSError("disk full")
    monkeypatch.setattr(exercise, "_readme", broken)
    with pytest.raises(OSError, match="disk full"):
        exercise.write_exercise(tmp_path / "ex")
    assert list(tmp_path.iterdir()) == []                    # no exercise, and no half-written staging folder
