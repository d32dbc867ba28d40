"""What every model has, whatever its shape: weights, summary, files, layers by name, states.

:class:`BaseModel` sits between :class:`~numbarnn.models.trainer.Trainer`
(compile, fit, evaluate, predict) and the two model classes, ``Sequential``
(a stack) and ``Model`` (a functional graph). They supply ``layers``,
``graph``, ``get_config`` and ``_layer_output_shapes``.
"""

import os

from ..formats import archive, keras_config, keras_file, onnx_export
from ..layers.base import checked_weights
from .trainer import Trainer

__all__ = ["BaseModel", "check_suffix"]


class BaseModel(Trainer):
    """Shared base of ``Sequential`` and ``Model`` (see those)."""

    #: The class name written to model files.
    file_class = None

    def _require_built(self, what):
        if not self.built:
            raise ValueError(
                f"the model is not built yet, so {what} cannot run: give the first layer input_shape=, "
                f"start with an Input, call build, or fit the model first"
            )

    # -- weights -------------------------------------------------------------
    @property
    def weights(self):
        """All weight arrays (live), layer by layer, in Keras's order."""
        self._sync_host()
        return [w for layer in self.layers for w in layer.weights]

    @property
    def trainable_weights(self):
        """The weight arrays ``fit`` updates (live), in the order of :attr:`weights`."""
        self._sync_host()
        return [w for layer in self.layers for w in layer.trainable_weights]

    def get_weights(self):
        """Copies of every layer's weights, in Keras's order.

        Returns
        -------
        list of ndarray
        """
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        """Set every layer's weights from a list in Keras's order; checks all shapes before changing any."""
        self._require_built("set_weights")
        current = self.weights
        names = [f"{layer.name}/{n}" for layer in self.layers for n in layer.weight_names]
        for w, arr in zip(current, checked_weights(f"model {self.name!r}", names, current, weights)):
            w[...] = arr
        self._host_changed()

    def count_params(self):
        """Total number of weight values."""
        self._require_built("count_params")
        return sum(layer.count_params() for layer in self.layers)

    def get_layer(self, name=None, index=None):
        """The layer called ``name`` (or at position ``index`` of :attr:`layers`).

        Raises
        ------
        ValueError
            No such layer, or neither or both of ``name`` and ``index`` given.
        """
        if (name is None) == (index is None):
            raise ValueError("get_layer takes a name or an index, one of the two")
        layers = self.layers
        if index is not None:
            if not -len(layers) <= index < len(layers):
                raise ValueError(f"the model has {len(layers)} layers; there is no index {index}")
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named {name!r}; the layers are {[layer.name for layer in layers]}")

    def export(self, filepath, format="onnx", **kwargs):
        """Write the model as an ONNX file (Keras 3's spelling); see :func:`numbarnn.to_onnx`."""
        self._require_built("export")
        return onnx_export.export(self, filepath, format=format, **kwargs)

    def reset_states(self):
        """Forget the carried states of every stateful recurrent layer (Keras 2's name, kept for old scripts)."""
        for layer in self.layers:
            if getattr(layer, "stateful", False):
                layer.reset_states()

    # -- description ---------------------------------------------------------
    def summary(self, print_fn=None):
        """Print the layers, their output shapes and parameter counts, and the totals.

        Parameters
        ----------
        print_fn : callable, optional
            Called with each line; ``print`` by default.
        """
        print_fn = print_fn or print
        widths = (33, 26, 12)
        rule = "_" * sum(widths)
        print_fn(f'Model: "{self.name}"')
        print_fn(rule)
        print_fn("".join(h.ljust(w) for h, w in zip(("Layer (type)", "Output Shape", "Param #"), widths)))
        print_fn("=" * sum(widths))
        total = trainable = 0
        for layer, shapes in zip(self.layers, self._layer_output_shapes()):
            if shapes is not None:
                out = ", ".join("(None, " + ", ".join("None" if s is None else str(s) for s in shape) + ")"
                                for shape in shapes)  # fmt: skip
                n = layer.count_params() if layer.built else 0
                params = f"{n:,}"
            else:
                out, n, params = "?", 0, "0 (unbuilt)"
            total += n
            trainable += sum(w.size for w in layer.trainable_weights) if shapes is not None else 0
            cells = (f"{layer.name} ({type(layer).__name__})", out, params)
            print_fn("".join(c.ljust(w - 1) + " " for c, w in zip(cells, widths)).rstrip())
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {trainable:,}")
        print_fn(f"Non-trainable params: {total - trainable:,}")
        print_fn(rule)

    # -- files ---------------------------------------------------------------
    def save(self, filepath):
        """Save architecture, weights and optimizer state as a Keras 3 ``.keras`` file.

        The file is the zip Keras 3 writes (``metadata.json``, ``config.json``,
        ``model.weights.h5``; no pickle): ``numbarnn.load_model`` and
        ``keras.saving.load_model`` both load it.

        Parameters
        ----------
        filepath : str or path-like
            Must end in ``.keras``, as Keras requires.
        """
        check_suffix(filepath, ".keras", "save")
        self._require_built("save")
        self._sync_host()
        keras_file.write_model(filepath, keras_config.model_to_keras(self), keras_config.weight_groups(self))

    def save_weights(self, filepath):
        """Save the weights (and the optimizer's state, as Keras does) as a Keras 3 ``.weights.h5`` file.

        Parameters
        ----------
        filepath : str or path-like
            Must end in ``.weights.h5``, as Keras requires.
        """
        check_suffix(filepath, ".weights.h5", "save_weights")
        self._require_built("save_weights")
        self._sync_host()
        keras_file.write_weights(filepath, keras_config.weight_groups(self))

    def load_weights(self, filepath):
        """Load weights into this (built) model from a ``.weights.h5`` or ``.keras`` file (Keras's or numbarnn's).

        The optimizer's state is restored too when the file holds one and the model is
        compiled. Files of numbarnn 0.1 load as well.

        Raises
        ------
        ValueError
            The file is damaged, or its weights do not fit this model (the message names the
            file and the weight).
        """
        self._require_built("load_weights")
        if keras_file.identify(filepath) == "numbarnn-0.1":
            self.set_weights(archive.read_weights(filepath))
            return
        self._sync_host()  # (a file without optimizer state keeps the current one)
        with keras_file.open_weights(filepath) as weights:
            keras_config.load_weight_groups(self, weights)
        self._host_changed()


def check_suffix(filepath, suffix, what):
    """Refuse a path that does not end in ``suffix`` (Keras's rule for ``save`` and ``save_weights``)."""
    if not str(os.fspath(filepath)).endswith(suffix):
        raise ValueError(
            f"{what} writes a Keras 3 file, whose name must end in {suffix!r}; got {os.fspath(filepath)!r}"
        )
