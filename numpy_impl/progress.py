"""A Keras-style progress bar, standard library only.

    verbose=1:  1875/1875 [==============================] 2.1s 1.12ms/step - accuracy: 0.9123 - loss: 0.3012
    verbose=2:  1875/1875 - 2s - 1ms/step - accuracy: 0.9123 - loss: 0.3012     (one line at the end)
"""
import math
import sys
import time


class ProgressBar:
    def __init__(self, total_steps, width=30, stream=None, min_interval=0.1, interactive=True, start=None,
                 verbose=1):
        self.total = total_steps
        self.one_line = verbose == 2
        self.width = width
        self.stream = stream or sys.stdout
        self.min_interval = min_interval     # redraw at most 10 times a second
        self.start = time.perf_counter() if start is None else start
        self._last_draw = -math.inf           # never drawn: the first update draws
        # Redrawing with "\r" only works on a terminal; elsewhere (a log file) draw the end.
        self.interactive = interactive and getattr(self.stream, "isatty", lambda: False)()

    def update(self, step, values):
        now = time.perf_counter()
        if step < self.total and (not self.interactive or now - self._last_draw < self.min_interval):
            return
        self._last_draw = now
        elapsed = now - self.start
        done = int(self.width * step / self.total)
        bar = ("=" * done + ">" + "." * self.width)[:self.width]     # the head and the dots cut off when full
        if step < self.total:
            timing = f"ETA {elapsed / step * (self.total - step):.0f}s"
        else:
            timing = f"{elapsed:.1f}s {1000 * elapsed / step:.2f}ms/step"
        metrics = "".join(f" - {name}: {value:.4f}" for name, value in values.items())
        if self.one_line:
            self.stream.write(f"{step}/{self.total} - {elapsed:.0f}s - {1000 * elapsed / step:.0f}ms/step{metrics}\n")
            return
        digits = len(str(self.total))
        start = "\r" if self.interactive else ""          # a log file gets plain lines, no carriage returns
        line = f"{start}{step:>{digits}}/{self.total} [{bar}] {timing}{metrics}"
        self.stream.write(line + ("\n" if step >= self.total else ""))
        self.stream.flush()
