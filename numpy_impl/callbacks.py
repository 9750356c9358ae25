"""What `fit` reports back, as Keras's callbacks do: the History of each epoch, and divergence."""


class History:
    """What `fit` returns, as in Keras: `history.history["loss"][epoch]`, ..."""

    def __init__(self):
        self.epoch = []
        self.history = {}

    def record(self, epoch, logs):
        self.epoch.append(epoch)
        for key, value in logs.items():
            self.history.setdefault(key, []).append(value)


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite: the weights have blown up."""

    def __init__(self, epoch, batch, loss):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(f"training diverged: loss {loss} at epoch {epoch}, batch {batch}")
