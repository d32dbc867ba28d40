"""A whole model on the CUDA device: forward, loss and its gradient, backward,
regularisers, clipping and the optimizer update, with the weights and the
optimizer's slots resident in device memory.

:class:`DeviceModel` wraps a built model whose layers form a chain of the
layers :mod:`numbarnn.cuda.layers` supports (a ``Sequential``, or a functional
``Model`` shaped like one). One training step (:meth:`DeviceModel.train_step`)
mirrors ``Trainer._train_step`` on the CPU:

1. the host uploads the batch (inputs, one-hot or dense targets, the per-row
   loss scale built from the sample weights and masks) and the dropout masks
   it draws from the fit's generator in the CPU's order;
2. every layer runs forward on the device, the loss kernel gives each row's
   value and the gradient on the predictions, every layer runs backward;
3. the regulariser gradients are added, the gradients clipped as the
   optimizer asks, and the optimizer updates the device weights and slots.

What comes back to the host per batch: the loss (a float, for the logs and the
non-finite check), the regularisers' penalty (floats) and, only when metrics
were compiled, the predictions. The weights and the slots come back when
:meth:`DeviceModel.pull` is called (the model does it when its weights are read,
saved or pickled, and when ``fit`` ends).

The loss of a batch: each row's value times its scale, summed. The scale is
``weight / count`` (``count`` the number of unmasked loss terms), or, for the
estimators' exact weighted mean, ``weight * mask / sum(weight * mask)``. The
gradient on a row is its loss gradient times the same scale, which is the CPU's
gradient (on the CPU the estimators' path multiplies the sample weights in the
weight-gradient sums instead: the same numbers, up to rounding).
"""

import math

import numpy as np
from numba import cuda

from .. import losses as losses_module
from .. import optimizers as optimizers_module
from ..regularizers import Regularizer
from . import common, ops
from .layers import make_twin, unsupported_reason
from .reshape import cast

__all__ = ["DeviceModel", "check_model"]


def check_layers(layers):
    """Raise ValueError naming the first layer of ``layers`` (a chain) that cannot run on device='cuda'."""
    for i, layer in enumerate(layers):
        reason = unsupported_reason(layer, i)
        if reason is not None:
            raise ValueError(
                f"layer {layer.name!r} cannot run on device='cuda': {reason}. Use device='cpu' for this model "
                "(the device runs Dense, Dropout, LSTM, GRU, SimpleRNN and Bidirectional layers, and Masking or "
                "Embedding as the first layer)"
            )


def check_model(model, heads=None, optimizer=None):
    """Raise ValueError unless ``model`` (built or not) can train and predict on device='cuda'.

    Checks the shape of the graph (a chain: one input, one output), each layer,
    and the loss and optimizer about to be compiled (``heads``, ``optimizer``),
    or else the compiled ones.

    Parameters
    ----------
    model : Sequential or Model
    heads : list of the trainer's output heads, optional
    optimizer : Optimizer, optional
    """
    layers = model.graph.chain_layers()
    if layers is None:
        raise ValueError(
            "device='cuda' runs models whose layers form a chain (one input, one output, each layer reading "
            "the one before); use device='cpu' for this model"
        )
    check_layers(layers)
    if heads is None and model.compiled:
        heads, optimizer = model._heads, model.optimizer
    if heads is not None:
        if len(heads) != 1 or heads[0].loss is None:
            raise ValueError("device='cuda' needs a model with one output and a loss")
        _loss_kind(heads[0].loss)
        _check_optimizer(optimizer)


_LOSS_KINDS = {
    losses_module.MeanSquaredError: "mse",
    losses_module.MeanAbsoluteError: "mae",
    losses_module.Huber: "huber",
    losses_module.BinaryCrossentropy: "binary_crossentropy",
    losses_module.CategoricalCrossentropy: "categorical_crossentropy",
    losses_module.SparseCategoricalCrossentropy: "categorical_crossentropy",
}


def _loss_kind(loss):
    kind = _LOSS_KINDS.get(type(loss))
    if kind is None:
        raise ValueError(
            f"loss {getattr(loss, 'name', loss)!r} ({type(loss).__name__}) has no CUDA implementation; the device "
            "trains with mse, mae, huber, binary_crossentropy, categorical_crossentropy and "
            "sparse_categorical_crossentropy (or use device='cpu')"
        )
    return kind


_OPTIMIZERS = (optimizers_module.SGD, optimizers_module.RMSprop, optimizers_module.Adam)


def _check_optimizer(optimizer):
    if type(optimizer) not in (*_OPTIMIZERS, optimizers_module.AdamW):
        raise ValueError(
            f"optimizer {type(optimizer).__name__} has no CUDA implementation; the device trains with SGD, "
            "RMSprop, Adam and AdamW (or use device='cpu')"
        )


def _regularized(layer):
    """``[(position in layer.weights, Regularizer)]`` for a layer (Bidirectional: both directions)."""
    subs = [layer.forward_layer, layer.backward_layer] if hasattr(layer, "forward_layer") else [layer]
    out, offset = [], 0
    for sub in subs:
        for name, reg in getattr(sub, "_regularizers", {}).items():
            if not isinstance(reg, Regularizer) or type(reg).gradient is not Regularizer.gradient:
                raise ValueError(f"regularizer {reg!r} of layer {sub.name!r} has no CUDA implementation")
            out.append((offset + sub._weight_names.index(name), reg))
        offset += len(sub.weights)
    return out


class DeviceModel:
    """A built model's layers, weights and optimizer state on the CUDA device.

    Parameters
    ----------
    model : Sequential or Model
        Built and compiled; :func:`check_model` passes.
    """

    def __init__(self, model):
        check_model(model)
        self.model = model
        self.layers = model.graph.chain_layers()
        self.twins = [make_twin(layer) for layer in self.layers]
        self.dtype = np.dtype(self.layers[-1].dtype)
        self._slots = None
        self._slot_key = None
        self.push()

    def matches(self, model):
        """Whether this device copy still has ``model``'s layers (a Sequential may have gained or lost some)."""
        layers = model.graph.chain_layers()
        return layers is not None and len(layers) == len(self.layers) and all(
            a is b and len(a.weights) == len(t.weights) for a, b, t in zip(layers, self.layers, self.twins)
        )

    # -- host <-> device -----------------------------------------------------
    def _variables(self):
        """``(twin, device weights, host weights)`` of every trainable layer, in model.trainable_weights order."""
        out = []
        by_layer = {id(t.layer): t for t in self.twins}
        for layer in self.model.layers:
            twin = by_layer.get(id(layer))
            if twin is not None and layer.trainable_weights:
                out.append((twin, twin.trainable_weights, layer.trainable_weights))
        return out

    def push(self):
        """Copy the host weights and the optimizer's slots to the device."""
        for twin in self.twins:
            twin.push()
        self._push_slots()

    def _push_slots(self):
        opt = self.model.optimizer
        variables = [w for _, _, host in self._variables() for w in host]
        if opt._slots is None or opt._n_variables != len(variables):
            opt.build(variables)
        self._slots = {name: [cuda.to_device(s) for s in arrays] for name, arrays in opt._slots.items()}

    def pull(self):
        """Copy the device weights and the optimizer's slots into the host arrays (in place)."""
        for twin in self.twins:
            twin.pull()
        opt = self.model.optimizer
        if self._slots is not None and opt._slots is not None:
            for name, arrays in self._slots.items():
                for d, h in zip(arrays, opt._slots[name]):
                    h[...] = d.copy_to_host()

    def snapshot(self):
        """Device copies of every weight and slot, for :meth:`restore` (nothing goes to the host)."""
        weights = [[_copy(w) for w in twin.weights] for twin in self.twins]
        slots = {name: [_copy(s) for s in arrays] for name, arrays in (self._slots or {}).items()}
        return weights, slots

    def restore(self, snapshot):
        """Put back the weights and slots of a :meth:`snapshot`."""
        weights, slots = snapshot
        for twin, saved in zip(self.twins, weights):
            for d, s in zip(twin.weights, saved):
                ops.copy(s, d)
        for name, arrays in slots.items():
            for d, s in zip(self._slots[name], arrays):
                ops.copy(s, d)

    # -- forward -------------------------------------------------------------
    def forward(self, x, mask, training, rng):
        """Run every layer; return ``(prediction on the device, output mask (host) or None, caches)``.

        Parameters
        ----------
        x : ndarray
            The host batch (float, or indices for a leading Embedding).
        mask : ndarray of bool of shape (batch, steps), or None
        training : bool
        rng : numpy Generator-like
            Draws the dropout masks (training only).
        """
        caches = []
        value = x
        for i, twin in enumerate(self.twins):
            if i == 0 and not getattr(twin, "host_input", False):
                value = cuda.to_device(np.ascontiguousarray(value, dtype=twin.dtype))
            came = None
            if i > 0 and twin.converts_input and np.dtype(value.dtype) != twin.dtype:
                came = np.dtype(value.dtype)  # the host layer converts its input: so does its twin
                value = _cast(value, twin.dtype)
            value, mask, cache = twin.forward(value, mask, training, rng)
            caches.append((came, cache))
        if not self.twins:
            value = cuda.to_device(np.ascontiguousarray(x, dtype=self.dtype))
        return value, mask, caches

    def predict(self, x, mask=None):
        """The model's output for host batch ``x``, as a host array."""
        pred, _, _ = self.forward(x, mask, False, None)
        return pred.copy_to_host()

    # -- training ------------------------------------------------------------
    def loss_scale(self, head, values_shape, wb, out_mask, exact):
        """The per-row scale of the loss terms (float64, shape ``values_shape``) and the metric weights.

        Returns
        -------
        scale : ndarray of shape values_shape
        weights : ndarray of shape values_shape
            What the CPU passes to the metrics.
        """
        ndim = len(values_shape)
        m = out_mask if out_mask is not None and out_mask.ndim == ndim else None
        if exact and (wb is None or wb.ndim == 1):
            B = values_shape[0]
            w = np.ones(B, np.float64) if wb is None else wb.astype(np.float64)
            mm = m.astype(np.float64) if m is not None else np.ones(values_shape, np.float64)
            weights = w.reshape((B,) + (1,) * (ndim - 1)) * mm
            denominator = float(weights.sum())
            scale = np.zeros(values_shape) if denominator == 0 else weights / denominator
            return scale, weights
        weights = np.ones(values_shape, np.float64) if wb is None else np.broadcast_to(
            wb.reshape(wb.shape + (1,) * (ndim - wb.ndim)), values_shape
        ).astype(np.float64)
        if m is not None:
            weights = weights * m
            count = max(int(m.sum()), 1)
        else:
            count = int(np.prod(values_shape))
        scale = weights / count
        if head.weight is not None:
            scale = scale * head.weight
        return scale, weights

    def train_step(self, xb, yb, wb, mb, rng, exact):
        """One optimizer step on a host batch.

        Parameters
        ----------
        xb, yb : ndarray
            The batch's inputs and (checked) targets, host arrays.
        wb : ndarray of shape (batch,) or (batch, steps), or None
            Sample weights.
        mb : ndarray of bool of shape (batch, steps), or None
            Input mask.
        rng : numpy Generator-like
            The fit's generator (dropout masks).
        exact : bool
            The estimators' weighted-mean loss (see ``Trainer._use_exact_row_sums``).

        Returns
        -------
        total : float
            The batch loss including the regularisers' penalty, before the update.
        value : float
            The loss without the penalty.
        pred : DeviceNDArray
            The batch's predictions (training mode).
        weights : ndarray
            The loss-term weights the metrics take.
        non_finite : bool
            The loss is not finite; nothing was updated.
        """
        model = self.model
        head = model._heads[0]
        loss = head.loss
        pred, out_mask, caches = self.forward(xb, mb, True, rng)
        shape = tuple(pred.shape)
        K = shape[-1]
        lead = shape[:-1]
        n = int(np.prod(lead))
        if getattr(loss, "sparse", False):
            y = losses_module.one_hot(yb, K, self.dtype)
        else:
            y = np.ascontiguousarray(yb, dtype=self.dtype)
        scale, weights = self.loss_scale(head, lead, wb, out_mask, exact)
        values = cuda.device_array((n,), self.dtype)
        grad = cuda.device_array((n, K), self.dtype)
        ops.loss_rows(
            _loss_kind(loss), cuda.to_device(y.reshape(n, K)), pred.reshape(n, K),
            cuda.to_device(np.ascontiguousarray(scale.reshape(n), dtype=self.dtype)), values, grad,
            from_logits=getattr(loss, "from_logits", False), delta=getattr(loss, "delta", 1.0),
        )  # fmt: skip
        value = ops.sum_all(values)
        variables = self._variables()
        total = value + self.penalty()
        if not math.isfinite(total):
            return total, value, pred, weights, True
        grads = self.backward(caches, grad.reshape(shape))
        self.apply_gradients(grads, [w for _, dw, _ in variables for w in dw])
        return total, value, pred, weights, False

    def penalty(self):
        """The regularisers' penalty of the device weights (a float), as ``LayerGraph.regularization_penalty``."""
        return sum(
            ops.penalty(twin.weights[i], reg.l1, reg.l2) for twin in self.twins for i, reg in _regularized(twin.layer)
        )

    def backward(self, caches, d_pred):
        """Backpropagate ``d_pred``; return one device gradient per trainable weight (model order), penalties added."""
        by_layer = {}
        d = d_pred
        for twin, (came, cache) in zip(reversed(self.twins), reversed(caches)):
            if d is None:
                break
            if np.dtype(d.dtype) != twin.out_dtype:
                d = _cast(d, twin.out_dtype)
            d, grads = twin.backward(cache, d)
            by_layer[id(twin.layer)] = grads
            if d is not None and came is not None:
                d = _cast(d, came)
        out = []
        for twin, dw, _ in self._variables():
            grads = by_layer.get(id(twin.layer))
            if grads is None:  # a layer no gradient reached
                grads = [ops.zeros(tuple(w.shape), w.dtype) for w in dw]
            for i, reg in _regularized(twin.layer):
                ops.add_penalty_gradient(dw[i], grads[i], reg.l1, reg.l2)
            out.extend(grads)
        return out

    def apply_gradients(self, grads, variables):
        """The optimizer's update of the device ``variables`` from ``grads``, as ``Optimizer.apply`` on the host."""
        opt = self.model.optimizer
        key = (id(opt), len(variables))
        if self._slot_key != key:
            if opt._slots is None or opt._n_variables != len(variables):
                self._push_slots()
            self._slot_key = key
        self._clip(opt, grads)
        lr = float(opt.learning_rate)
        slots = self._slots
        dummy = common.or_dummy(None, 1, self.dtype)[0]  # an unused slot
        t = opt.iterations + 1
        for i, (g, v) in enumerate(zip(grads, variables)):
            if opt.weight_decay:
                ops.decay(v, lr * opt.weight_decay)
            if isinstance(opt, optimizers_module.Adam):
                alpha = lr * math.sqrt(1 - opt.beta_2**t) / (1 - opt.beta_1**t)
                vhat = slots["velocity_hat"][i] if opt.amsgrad else dummy
                ops.adam_update(
                    v, g, slots["momentum"][i], slots["velocity"][i], vhat, alpha, opt.beta_1, opt.beta_2,
                    opt.epsilon, opt.amsgrad,
                )  # fmt: skip
            elif isinstance(opt, optimizers_module.RMSprop):
                mom = slots["momentum"][i] if opt.momentum else dummy
                avg = slots["average_gradient"][i] if opt.centered else dummy
                ops.rmsprop_update(
                    v, g, slots["velocity"][i], mom, avg, lr, opt.rho, opt.momentum, opt.epsilon, opt.centered
                )
            else:
                m = slots["momentum"][i] if opt.momentum else dummy
                ops.sgd_update(v, g, m, lr, opt.momentum, opt.nesterov)
        opt.iterations += 1

    @staticmethod
    def _clip(opt, grads):
        if opt.clipvalue is not None:
            for g in grads:
                ops.clip_values(g, opt.clipvalue)
        elif opt.clipnorm is not None:
            for g in grads:
                norm = math.sqrt(ops.sum_squares(g))
                if norm > opt.clipnorm:
                    ops.scale(g, opt.clipnorm / norm, g)
        elif opt.global_clipnorm is not None:
            norm = math.sqrt(sum(ops.sum_squares(g) for g in grads))
            if norm > opt.global_clipnorm:
                for g in grads:
                    ops.scale(g, opt.global_clipnorm / norm, g)


def _cast(a, dtype):
    out = cuda.device_array(tuple(a.shape), dtype)
    cast(a, out)
    return out


def _copy(a):
    out = cuda.device_array(a.shape, a.dtype)
    ops.copy(a, out)
    return out

