"""Merge layers: combine a list of tensors of the same shape (Concatenate joins along an axis).

As Keras: ``Add``, ``Subtract`` (two inputs), ``Multiply``, ``Average`` act
elementwise; ``Concatenate(axis=-1)`` joins along ``axis``. Each has a
lowercase function (``add([a, b])``) that makes the layer and calls it. The
output mask is the AND of the input masks (None when no input has one).
"""

import numpy as np

from .._validation import check_int
from .base import Layer

__all__ = ["Add", "Subtract", "Multiply", "Average", "Concatenate",
           "add", "subtract", "multiply", "average", "concatenate"]  # fmt: skip


class _Merge(Layer):
    """Shared base: a list of inputs of one shape (Concatenate: equal except along its axis)."""

    takes_list = True
    n_inputs = None  # a fixed number of inputs, or None for two or more

    def check_input_shape(self, input_shapes):
        if not isinstance(input_shapes, (list, tuple)) or not all(isinstance(s, tuple) for s in input_shapes):
            raise TypeError(f"layer {self.name!r} ({type(self).__name__}) takes a list of tensors")
        n = len(input_shapes)
        if (self.n_inputs is not None and n != self.n_inputs) or n < 2:
            want = f"exactly {self.n_inputs}" if self.n_inputs is not None else "at least 2"
            raise ValueError(f"layer {self.name!r} ({type(self).__name__}) takes {want} inputs; got {n}")
        self._check_shapes([tuple(s) for s in input_shapes])

    def _check_shapes(self, shapes):
        if any(s != shapes[0] for s in shapes[1:]):
            raise ValueError(
                f"layer {self.name!r} ({type(self).__name__}) needs inputs of one shape; got {shapes}"
            )

    def build(self, input_shapes):
        self.check_input_shape(input_shapes)
        self.built = True
        self.built_input_shape = tuple(tuple(s) for s in input_shapes)

    def compute_output_shapes(self, input_shapes):
        return [tuple(input_shapes[0])]

    def compute_output_shape(self, input_shape):
        return self.compute_output_shapes(input_shape)[0]

    @staticmethod
    def _mask(masks):
        masks = [m for m in masks if m is not None]
        if not masks:
            return None
        out = masks[0]
        for m in masks[1:]:
            out = np.logical_and(out, m)
        return out

    def forward_many(self, inputs, masks, training, rng):
        xs = [np.asarray(x, dtype=self.dtype) for x in inputs]
        return [self._merge(xs)], [self._mask(masks)], xs

    def backward_many(self, cache, d_outputs):
        dy = d_outputs[0]
        return self._grads(cache, dy), []


class Add(_Merge):
    """Elementwise sum of a list of tensors of one shape, as Keras's ``Add``.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Add
    >>> Add()([np.ones((2, 3)), np.ones((2, 3))])[0].tolist()
    [2.0, 2.0, 2.0]
    """

    def _merge(self, xs):
        out = xs[0].copy()
        for x in xs[1:]:
            out += x
        return out

    def _grads(self, xs, dy):
        return [dy] * len(xs)


class Subtract(_Merge):
    """The first of two tensors minus the second, as Keras's ``Subtract``."""

    n_inputs = 2

    def _merge(self, xs):
        return xs[0] - xs[1]

    def _grads(self, xs, dy):
        return [dy, -dy]


class Multiply(_Merge):
    """Elementwise product of a list of tensors of one shape, as Keras's ``Multiply``."""

    def _merge(self, xs):
        out = xs[0].copy()
        for x in xs[1:]:
            out *= x
        return out

    def _grads(self, xs, dy):
        grads = []
        for i in range(len(xs)):
            g = dy.copy()
            for j, x in enumerate(xs):
                if j != i:
                    g *= x
            grads.append(g)
        return grads


class Average(_Merge):
    """Elementwise mean of a list of tensors of one shape, as Keras's ``Average``."""

    def _merge(self, xs):
        out = xs[0].copy()
        for x in xs[1:]:
            out += x
        return out / self.dtype.type(len(xs))

    def _grads(self, xs, dy):
        g = dy / self.dtype.type(len(xs))
        return [g] * len(xs)


class Concatenate(_Merge):
    """Join a list of tensors along ``axis`` (the last by default), as Keras's ``Concatenate``.

    Parameters
    ----------
    axis : int, default=-1
        The axis of the batched tensors to join along (not the batch axis, 0).

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn.layers import Concatenate
    >>> Concatenate()([np.ones((2, 3)), np.zeros((2, 4))]).shape
    (2, 7)
    """

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        self.axis = check_int(axis, "axis")
        if self.axis == 0:
            raise ValueError("Concatenate cannot join along the batch axis (axis=0)")

    def _sample_axis(self, ndim):
        axis = self.axis if self.axis < 0 else self.axis - 1  # the batch axis is not in a sample shape
        if not -ndim <= axis < ndim:
            raise ValueError(f"layer {self.name!r} (Concatenate): axis {self.axis} is out of range for samples "
                             f"of {ndim} axes")  # fmt: skip
        return axis % ndim

    def _check_shapes(self, shapes):
        ndims = {len(s) for s in shapes}
        if len(ndims) != 1:
            raise ValueError(f"layer {self.name!r} (Concatenate) needs inputs with one number of axes; got {shapes}")
        axis = self._sample_axis(len(shapes[0]))
        rest = {s[:axis] + s[axis + 1 :] for s in shapes}
        if len(rest) != 1:
            raise ValueError(
                f"layer {self.name!r} (Concatenate) needs inputs of one shape except along axis {self.axis}; got {shapes}"
            )

    def compute_output_shapes(self, input_shapes):
        shapes = [tuple(s) for s in input_shapes]
        axis = self._sample_axis(len(shapes[0]))
        sizes = [s[axis] for s in shapes]
        joined = None if any(v is None for v in sizes) else sum(sizes)
        return [shapes[0][:axis] + (joined,) + shapes[0][axis + 1 :]]

    def _merge(self, xs):
        return np.concatenate(xs, axis=self.axis)

    def _grads(self, xs, dy):
        bounds = np.cumsum([x.shape[self.axis] for x in xs])[:-1]
        return [np.ascontiguousarray(g) for g in np.split(dy, bounds, axis=self.axis)]

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _functional(cls, doc):
    def merge(inputs, **kwargs):
        return cls(**kwargs)(inputs)

    merge.__name__ = cls.__name__.lower()
    merge.__doc__ = doc
    return merge


add = _functional(Add, "``Add(**kwargs)(inputs)``: the elementwise sum of a list of tensors.")
subtract = _functional(Subtract, "``Subtract(**kwargs)(inputs)``: the first of two tensors minus the second.")
multiply = _functional(Multiply, "``Multiply(**kwargs)(inputs)``: the elementwise product of a list of tensors.")
average = _functional(Average, "``Average(**kwargs)(inputs)``: the elementwise mean of a list of tensors.")


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis, **kwargs)(inputs)``: a list of tensors joined along ``axis``."""
    return Concatenate(axis=axis, **kwargs)(inputs)
