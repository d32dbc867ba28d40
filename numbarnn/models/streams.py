"""Batches from Python generators, iterators and :class:`~numbarnn.utils.PyDataset`, one at a time.

``fit``, ``evaluate`` and ``predict`` take such a source in place of arrays, as
Keras 3 does: each item is one batch, ``(x, y)``, ``(x, y, sample_weight)`` or,
for ``predict``, ``x`` alone. A PyDataset is read by index (``steps`` or
``len(dataset)`` batches an epoch, ``on_epoch_end`` after each); an iterator
is read with ``next``, ``steps`` batches an epoch, or until it stops when
``steps`` is None. When a source runs out before an epoch ends, training stops
with a warning, as in Keras.
"""

import inspect
import warnings

from .._validation import check_int
from ..utils import PyDataset

__all__ = ["is_stream", "Stream"]


def is_stream(value):
    """True for a PyDataset, a generator or any other iterator (not an array or a list)."""
    return isinstance(value, PyDataset) or inspect.isgenerator(value) or (
        hasattr(value, "__next__") and hasattr(value, "__iter__")
    )


class Stream:
    """One source of batches, read epoch by epoch.

    Parameters
    ----------
    source : PyDataset or iterator
    steps : int, optional
        Batches an epoch; by default ``len(source)`` for a PyDataset, or until an iterator stops.
    what : str
        The argument's name, for messages ('x', 'validation_data').
    """

    def __init__(self, source, steps, what):
        self.source = source
        self.what = what
        self.indexed = isinstance(source, PyDataset)
        self.steps = None if steps is None else check_int(steps, f"steps for {what}", low=1)
        if self.indexed and self.steps is None:
            self.steps = len(source)
            if self.steps < 1:
                raise ValueError(f"{what} is a PyDataset of no batches (len() is {self.steps})")
        self.ran_out = False

    def batches(self):
        """The raw items of one epoch; sets :attr:`ran_out` when an iterator stops early."""
        if self.indexed:
            for i in range(self.steps):
                yield self.source[i]
            return
        n = 0
        while self.steps is None or n < self.steps:
            try:
                item = next(self.source)
            except StopIteration:
                if self.steps is not None or n == 0:
                    self.ran_out = True
                break
            n += 1
            yield item
        if self.steps is None and n:
            self.steps = n  # an iterator's first epoch sets how many batches make one

    def end_epoch(self):
        if self.indexed:
            self.source.on_epoch_end()

    def warn_ran_out(self, epochs):
        warnings.warn(
            f"{self.what} ran out of data; training stopped. Make sure it can give steps_per_epoch * epochs "
            f"batches ({self.steps} * {epochs}), or use a PyDataset, which is read afresh every epoch.",
            UserWarning,
            stacklevel=4,
        )


def split_batch(item, what, targets=True):
    """``(x, y, sample_weight)`` from one item of a source (``y`` and ``sample_weight`` may be None)."""
    if not targets and not isinstance(item, tuple):
        return item, None, None
    if not isinstance(item, tuple) or not 1 <= len(item) <= 3 or (targets and len(item) < 2):
        want = "(x, y) or (x, y, sample_weight)" if targets else "x, (x,), (x, y) or (x, y, sample_weight)"
        got = f"a tuple of {len(item)}" if isinstance(item, tuple) else type(item).__name__
        raise ValueError(f"each batch of {what} must be {want}; got {got}")
    x = item[0]
    y = item[1] if len(item) > 1 else None
    w = item[2] if len(item) > 2 else None
    return x, y, w
