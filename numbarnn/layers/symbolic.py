"""Symbolic tensors: what a layer returns when it is called on ``Input(...)``, as Keras's KerasTensor.

Calling a layer on symbolic tensors builds the layer (its weights, for the
sample shapes it sees) and records a :class:`LayerCall`: the layer, the
tensors it read and the tensors it produced. A functional ``Model(inputs,
outputs)`` walks these records back from its outputs to find its graph; the
same layer called twice records two calls and shares its weights.
"""

import numpy as np

__all__ = ["SymbolicTensor", "LayerCall", "flatten", "is_symbolic"]


class SymbolicTensor:
    """A placeholder for the batch that will flow through a point of a model.

    Attributes
    ----------
    shape : tuple
        With the batch axis first (None unless the batch size is fixed).
    dtype : str
    name : str
    call : LayerCall
        The call that produces it (an ``InputLayer``'s for a model input).
    index : int
        Which of that call's outputs it is.
    """

    def __init__(self, shape, dtype, call=None, index=0, name=None):
        self.shape = tuple(shape)
        self.dtype = str(np.dtype(dtype)) if dtype is not None else "float32"
        self.call = call
        self.index = index
        self.name = name or (f"{call.layer.name}_output_{index}" if call is not None else "tensor")

    @property
    def ndim(self):
        return len(self.shape)

    @property
    def layer(self):
        """The layer that produces this tensor."""
        return self.call.layer

    def __repr__(self):
        return f"<SymbolicTensor shape={self.shape}, dtype={self.dtype}, name={self.name}>"

    # Arrays cannot be made from a placeholder: say so rather than build an object array.
    def __array__(self, *args, **kwargs):
        raise TypeError(
            f"{self!r} is a symbolic tensor (the output of calling a layer on Input(...)): it holds no "
            "values. Build a Model(inputs, outputs) and call predict on arrays instead."
        )


class LayerCall:
    """One call of ``layer`` on symbolic ``inputs``, producing ``outputs``.

    Attributes
    ----------
    layer : Layer
    inputs : list of SymbolicTensor
        The main inputs, then (for a recurrent layer given ``initial_state``) the states.
    outputs : list of SymbolicTensor
    n_main : int
        How many of ``inputs`` are main inputs (the rest are initial states).
    single_input : bool
        The layer was called on one tensor rather than a list.
    """

    def __init__(self, layer, inputs, output_shapes, output_dtype, n_main, single_input):
        self.layer = layer
        self.inputs = list(inputs)
        self.n_main = n_main
        self.single_input = single_input
        self.outputs = [SymbolicTensor(s, output_dtype, self, i) for i, s in enumerate(output_shapes)]

    @property
    def is_input(self):
        return not self.inputs


def flatten(value):
    """The leaves of nested lists, tuples and dicts (dict values in key order), as a list."""
    if isinstance(value, dict):
        return [leaf for k in value for leaf in flatten(value[k])]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in flatten(v)]
    return [value]


def is_symbolic(value):
    """True when any leaf of ``value`` is a :class:`SymbolicTensor`."""
    return any(isinstance(v, SymbolicTensor) for v in flatten(value))
