"""A Keras-style progress bar for ``fit``, ``evaluate`` and ``predict``.

On a terminal the bar redraws in place (at most every 0.05 s); elsewhere (logs,
notebooks captured to files) it writes one line when the epoch ends.
"""

import sys
import time


def _number(v):
    return f"{v:.3e}" if v != 0 and abs(v) < 1e-3 else f"{v:.4f}"


def format_logs(values):
    """'loss: 0.1234 - accuracy: 0.9000' from a dict of floats."""
    return " - ".join(f"{k}: {_number(v)}" for k, v in values.items())


class ProgressBar:
    """Progress over ``target`` steps; ``update(step, values)`` redraws, ``finish(values)`` ends the line.

    Parameters
    ----------
    target : int
        Number of steps (batches).
    verbose : {1, 2}
        1 draws a live bar, 2 writes one summary line when finished.
    stream : file-like, default=sys.stdout
    unit : str, default='step'
        What one step is, for the time per step.
    """

    def __init__(self, target, verbose=1, width=30, stream=None, unit="step"):
        self.target = int(target)
        self.unit = unit
        self.verbose = verbose
        self.width = width
        self.stream = stream or sys.stdout
        self.start = time.perf_counter()
        self._last_draw = 0.0
        self._live = verbose == 1 and getattr(self.stream, "isatty", lambda: False)()

    def _timing(self, step):
        elapsed = time.perf_counter() - self.start
        per_step = elapsed / max(step, 1)
        unit = f"{per_step * 1e3:.0f}ms/{self.unit}" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/{self.unit}"
        return elapsed, unit

    def _line(self, step, values):
        digits = len(str(self.target))
        filled = int(self.width * step / max(self.target, 1))
        bar = "=" * max(filled - 1, 0) + (">" if 0 < filled < self.width else "=" if filled else "")
        bar = bar.ljust(self.width, ".")
        elapsed, unit = self._timing(step)
        if step < self.target:
            eta = elapsed / max(step, 1) * (self.target - step)
            timing = f"ETA: {eta:.0f}s"
        else:
            timing = f"{elapsed:.0f}s {unit}"
        text = f"{step:>{digits}}/{self.target} [{bar}] - {timing}"
        if values:
            text += " - " + format_logs(values)
        return text

    def update(self, step, values=None):
        """Show progress after ``step`` steps, with running ``values`` (dict of floats)."""
        if not self._live:
            return
        now = time.perf_counter()
        if step < self.target and now - self._last_draw < 0.05:
            return
        self._last_draw = now
        self.stream.write("\r" + self._line(step, values))
        self.stream.flush()

    def finish(self, values=None):
        """Write the final line for this bar."""
        if self.verbose == 2:
            elapsed, unit = self._timing(self.target)
            text = f"{self.target}/{self.target} - {elapsed:.0f}s - {unit}"
            if values:
                text += " - " + format_logs(values)
            self.stream.write(text + "\n")
        else:
            self.stream.write(("\r" if self._live else "") + self._line(self.target, values) + "\n")
        self.stream.flush()
