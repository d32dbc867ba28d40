"""What a Keras name that numbarnn does not provide says: an AttributeError (an ImportError in
``from numbarnn.x import Y``) naming it and what to use instead.

Each Keras-named module ends with ``__getattr__ = missing_names(__name__)``.
Dunder names (``__wrapped__``, ``__path__``) raise a plain AttributeError, so
``hasattr``, pickling and introspection behave as for any module.
"""

import dis
import sys

__all__ = ["NotProvidedError", "NotProvidedImportError", "missing_names"]

#: What to use instead of a Keras name numbarnn does not provide.
HINTS = {
    "Conv2D": "numbarnn is for sequences: its convolution is Conv1D",
    "Conv3D": "numbarnn is for sequences: its convolution is Conv1D",
    "MaxPooling2D": "use MaxPooling1D",
    "AveragePooling2D": "use AveragePooling1D",
    "MultiHeadAttention": "numbarnn provides recurrent layers (LSTM, GRU, SimpleRNN), not attention",
    "Attention": "numbarnn provides recurrent layers (LSTM, GRU, SimpleRNN), not attention",
    "ConvLSTM2D": "use Conv1D and LSTM layers",
    "StackedRNNCells": "stack LSTM/GRU layers with return_sequences=True",
    "RNN": "use LSTM, GRU or SimpleRNN directly (custom cells are not supported)",
    "LSTMCell": "use the LSTM layer (custom cells are not supported)",
    "GRUCell": "use the GRU layer (custom cells are not supported)",
    "SimpleRNNCell": "use the SimpleRNN layer (custom cells are not supported)",
    "TextVectorization": "build an integer vocabulary with numpy or scikit-learn, then Embedding",
    "TimeseriesGenerator": "cut windows with numpy (numpy.lib.stride_tricks.sliding_window_view) and fit on arrays",
    "timeseries_dataset_from_array": "cut windows with numpy (numpy.lib.stride_tricks.sliding_window_view)",
    "plot_model": "print model.summary()",
    "ops": "write the computation with numpy, or as a Layer subclass",
    "applications": "numbarnn has no pretrained image models",
    "mixed_precision": "use dtype='float32' (the default) or 'float64'",
    "distribution": "use the estimators with a Dask cluster or n_jobs for parallel fits",
    "Lambda": "write a Layer subclass (Lambda runs arbitrary code and cannot be saved safely)",
    "image": "numbarnn works on sequences, not images",
    "text": "build an integer vocabulary with numpy or scikit-learn, then Embedding",
}


class NotProvidedError(AttributeError):
    """A Keras name numbarnn does not provide (looked up as an attribute)."""


class NotProvidedImportError(ImportError):
    """A Keras name numbarnn does not provide (in ``from numbarnn.x import Y``)."""


def _message(module, name):
    hint = HINTS.get(name, "see the 'Keras features not provided' list in numbarnn's README")
    keras = "keras" + module[len("numbarnn"):]
    return f"numbarnn does not provide {keras}.{name} (as {module}.{name}): {hint}"


def _in_from_import():
    """Whether the caller of the module's ``__getattr__`` is running ``from module import name``."""
    frame = sys._getframe(2)
    try:
        code, offset = frame.f_code, frame.f_lasti
        for ins in dis.get_instructions(code):
            if ins.offset == offset:
                return ins.opname == "IMPORT_FROM"
    except (AttributeError, ValueError):
        pass
    return False


def missing_names(module, lazy=None):
    """A module ``__getattr__`` that explains the Keras names ``module`` does not provide.

    ``lazy`` maps names the module loads on first use to the module (relative to
    ``module``'s package) that holds them.
    """

    def __getattr__(name):
        if lazy and name in lazy:
            import importlib

            return getattr(importlib.import_module(lazy[name], module), name)
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if _in_from_import():
            raise NotProvidedImportError(_message(module, name), name=name)
        raise NotProvidedError(_message(module, name))

    return __getattr__
