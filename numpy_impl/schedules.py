"""Learning-rate schedules with Keras 3's formulas (keras/src/optimizers/schedules/).

A schedule is a function of the optimizer's step count: `schedule(step) -> learning rate`.
Given as `learning_rate=` to any optimizer, it is called before each update with
the number of updates made so far (0 for the first), as Keras calls it with
`optimizer.iterations` before the increment. Weight decay uses the same rate.
"""
import math


class ExponentialDecay:
    """lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)

    staircase=True: the exponent is floor(step / decay_steps), a drop every decay_steps steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, decay_rate, staircase=False, name="ExponentialDecay"):
        if not decay_steps > 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps = float(initial_learning_rate), decay_steps
        self.decay_rate, self.staircase, self.name = float(decay_rate), bool(staircase), name

    def __call__(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p


class CosineDecay:
    """Half a cosine from the learning rate down to alpha times it, over decay_steps:

        lr(step) = lr_0 * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha),  s = min(step, decay_steps)

    With warmup_target: first a straight line from initial_learning_rate up to
    warmup_target over warmup_steps, then the cosine above from warmup_target,
    with s = step - warmup_steps.
    """

    def __init__(self, initial_learning_rate, decay_steps, alpha=0.0, name="CosineDecay", warmup_target=None,
                 warmup_steps=0):
        if not decay_steps > 0:
            raise ValueError(f"decay_steps must be > 0, got {decay_steps}")
        self.initial_learning_rate, self.decay_steps, self.alpha = float(initial_learning_rate), decay_steps, alpha
        self.name, self.warmup_steps = name, warmup_steps
        self.warmup_target = None if warmup_target is None else float(warmup_target)

    def _cosine(self, step, decay_from):
        completed_fraction = step / self.decay_steps
        cosine_decayed = 0.5 * (1.0 + math.cos(math.pi * completed_fraction))
        return decay_from * ((1 - self.alpha) * cosine_decayed + self.alpha)

    def __call__(self, step):
        if self.warmup_target is None:
            return self._cosine(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.decay_steps + self.warmup_steps)
        if step < self.warmup_steps:                                   # the straight line up
            completed_fraction = step / self.warmup_steps
            return (self.warmup_target - self.initial_learning_rate) * completed_fraction + self.initial_learning_rate
        return self._cosine(step - self.warmup_steps, self.warmup_target)


class PiecewiseConstantDecay:
    """values[0] up to and including boundaries[0], values[i] for boundaries[i-1] < step <= boundaries[i],
    values[-1] after the last boundary (one more value than boundaries)."""

    def __init__(self, boundaries, values, name="PiecewiseConstant"):
        if len(values) != len(boundaries) + 1:
            raise ValueError(f"give one more value than boundaries, got {len(boundaries)} boundaries "
                             f"and {len(values)} values")
        self.boundaries, self.values, self.name = list(boundaries), [float(v) for v in values], name

    def __call__(self, step):
        for boundary, value in zip(self.boundaries, self.values):
            if step <= boundary:
                return value
        return self.values[-1]


def from_spec(spec, learning_rate):
    """A schedule from a plain description, as build_model(schedule=...) takes it:
    {"name": "cosine", "decay_steps": N}, {"name": "exponential", "decay_steps": N, "decay_rate": r},
    or {"name": "piecewise", "boundaries": [...], "factors": [...]} (the values: learning_rate * each factor)."""
    spec = dict(spec)
    name = spec.pop("name")
    if name == "cosine":
        return CosineDecay(learning_rate, **spec)
    if name == "exponential":
        return ExponentialDecay(learning_rate, **spec)
    if name == "piecewise":
        return PiecewiseConstantDecay(spec["boundaries"], [learning_rate * factor for factor in spec["factors"]])
    raise ValueError(f"unknown schedule {name!r}: use cosine, exponential or piecewise")
