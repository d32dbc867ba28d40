"""Translate between numbarnn models and Keras 3's ``config.json`` and weight layout.

Keras 3 serializes every object as ``{"module", "class_name", "config",
"registered_name"}`` (layers also ``build_config``; the model
``compile_config``). Layer configs keep Keras's keys, which numbarnn's layers
share; this module converts what differs: dtypes (Keras's ``DTypePolicy``
dicts), initializers, regularizers, optimizers, losses and metrics (Keras's
module names), ``InputLayer`` (``batch_shape``), the functional graph (Keras's
``inbound_nodes`` of ``__keras_tensor__`` dicts with ``keras_history``), and
Keras options numbarnn lacks (accepted at the value that turns them off,
refused otherwise).

The weight file follows Keras's saving traversal: ``vars`` of the model at the
root, each layer of ``model.layers`` under ``layers/<snake_case class>[_N]``
(recurrent layers keep their weights in ``cell``; ``Bidirectional`` in
``forward_layer`` and ``backward_layer``; ``TimeDistributed`` in ``layer``),
and the optimizer under ``optimizer``: ``vars/0`` the step count, ``vars/1``
the learning rate, then its slots in Keras's order.

Nothing here evaluates or imports anything named in a file: class names are
looked up in numbarnn's own tables, or in the ``custom_objects`` the caller gives.
"""

import numpy as np

from .._serialization import snake_case
from .keras_file import WeightGroup

__all__ = ["model_to_keras", "model_from_keras", "weight_groups", "load_weight_groups", "optimizer_groups"]

_ANY = object()
# Keras options numbarnn has no counterpart for, with the values that leave them off.
_KERAS_ONLY = {
    "activity_regularizer": (None,), "kernel_constraint": (None,), "recurrent_constraint": (None,),
    "bias_constraint": (None,), "embeddings_constraint": (None,), "beta_constraint": (None,),
    "gamma_constraint": (None,), "quantization_config": (None,), "noise_shape": (None,),
    "rms_scaling": (False,), "synchronized": (False,), "renorm": (False,), "renorm_clipping": (None,),
    "renorm_momentum": _ANY, "lora_rank": (None,), "lora_alpha": _ANY, "autocast": (True,),
    "input_length": (None,), "sparse": (False,), "ragged": (False,), "optional": (False,),
}  # fmt: skip
_FLATTEN_KERAS_ONLY = {"data_format": ("channels_last", None)}
_OPTIMIZER_KERAS_ONLY = {
    "use_ema": (False,), "ema_momentum": _ANY, "ema_overwrite_frequency": (None,), "loss_scale_factor": (None,),
    "gradient_accumulation_steps": (None, 1),
}
_INITIALIZER_KERAS_ONLY = {"input_axes": (None,), "output_axes": (None,)}
_LOSS_KERAS_ONLY = {"reduction": ("sum_over_batch_size", "auto"), "dtype": _ANY}
_METRIC_KERAS_ONLY = {"dtype": _ANY}
# Optimizer slots as Keras creates them: names in one group are interleaved per weight, groups follow each other.
_SLOT_GROUPS = {"Adam": (("momentum", "velocity"), ("velocity_hat",)),
                "AdamW": (("momentum", "velocity"), ("velocity_hat",))}  # fmt: skip
_RECURRENT = ("LSTM", "GRU", "SimpleRNN")
# Layers whose Keras constructor takes no ``trainable`` argument.
_NO_TRAINABLE_KEY = ("SpatialDropout1D",)


def dtype_policy(name):
    """Keras's dtype policy dict for a dtype name ('float32', 'float64')."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": str(name)}, "registered_name": None}


def _object(module, class_name, config, registered_name=None):
    return {"module": module, "class_name": class_name, "config": config, "registered_name": registered_name}


# -- numbarnn -> Keras ------------------------------------------------------------------------
def _nested_to_keras(key, value):
    """A numbarnn config value as Keras writes it (initializers, regularizers and nested layers are dicts)."""
    if not (isinstance(value, dict) and "class_name" in value):
        return value
    if key.endswith("_initializer"):
        return _object("keras.initializers", value["class_name"], dict(value.get("config") or {}))
    if key.endswith("_regularizer"):
        return _object("keras.regularizers", value["class_name"], dict(value.get("config") or {}))
    if key in ("layer", "backward_layer"):
        return _layer_spec_to_keras(value["class_name"], value["config"])
    return value


def _layer_spec_to_keras(class_name, config, build_shape=None, registered_name=None, module="keras.layers"):
    config = dict(config)
    if class_name == "InputLayer":
        config = {"batch_shape": [config.get("batch_size"), *config["shape"]],
                  "dtype": config.get("dtype") or "float32", "sparse": False, "ragged": False,
                  "name": config["name"], "optional": False}  # fmt: skip
    else:
        config.pop("input_shape", None)
        if "dtype" in config:
            config["dtype"] = dtype_policy(config["dtype"])
        config = {k: _nested_to_keras(k, v) for k, v in config.items()}
    spec = _object(module, class_name, config, registered_name)
    if build_shape is not None:
        spec["build_config"] = {"input_shape": build_shape}
    return spec


def _batch_shape(shape):
    """``[None, *shape]``, or a list of them for a layer built on several inputs."""
    if shape and isinstance(shape[0], (list, tuple)):
        return [[None, *s] for s in shape]
    return [None, *shape]


def _layer_to_keras(layer, build=True):
    from ..layers import _CLASSES

    class_name = type(layer).__name__
    builtin = _CLASSES.get(class_name) is type(layer)
    config = layer.get_config()
    if class_name in _RECURRENT and builtin and layer.zero_output_for_mask:
        config["zero_output_for_mask"] = True
    shape = layer.built_input_shape if build and layer.built and class_name != "InputLayer" else None
    build_shape = None if shape is None else _batch_shape(shape)
    if class_name in _NO_TRAINABLE_KEY:
        config.pop("trainable", None)
    if builtin:
        return _layer_spec_to_keras(class_name, config, build_shape)
    module = type(layer).__module__
    return _layer_spec_to_keras(class_name, config, build_shape, registered_name=class_name, module=module)


def _model_input_layer(model):
    """The InputLayer of a Sequential (made from its input shape when it was given no Input)."""
    from ..layers import InputLayer

    if model._input_layer is not None:
        return model._input_layer
    return InputLayer(shape=model._input_shape, name="input_layer")


def _sequential_to_keras(model):
    input_layer = _model_input_layer(model)
    shape = [None, *model._input_shape]
    layers = [_layer_to_keras(input_layer)] + [_layer_to_keras(layer) for layer in model.layers]
    config = {"name": model.name, "trainable": True, "dtype": dtype_policy(model.layers[0].dtype.name),
              "layers": layers, "build_input_shape": shape}  # fmt: skip
    return {**_object("keras", "Sequential", config), "build_config": {"input_shape": shape}}


def _keras_tensor(t, index):
    name, node = index[id(t.call)]
    config = {"shape": list(t.shape), "dtype": t.dtype, "keras_history": [name, node, t.index]}
    return {"class_name": "__keras_tensor__", "config": config}


def _functional_to_keras(model):
    index = model._call_index()
    layers = []
    for layer in model.layers:
        spec = _layer_to_keras(layer)
        spec["name"] = layer.name
        nodes = []
        for call in [c for c in model._calls if c.layer is layer]:
            main = [_keras_tensor(t, index) for t in call.inputs[: call.n_main]]
            states = [_keras_tensor(t, index) for t in call.inputs[call.n_main :]]
            nodes.append({"args": [main[0] if call.single_input else main],
                          "kwargs": {"initial_state": states} if states else {}})  # fmt: skip
        spec["inbound_nodes"] = nodes
        layers.append(spec)

    def ref(t):
        return list(index[id(t.call)]) + [t.index]

    def struct(value):
        if isinstance(value, dict):
            return {k: ref(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [ref(v) for v in value]
        return ref(value)

    config = {"name": model.name, "trainable": True, "layers": layers,
              "input_layers": struct(model._inputs_struct), "output_layers": struct(model._outputs_struct)}  # fmt: skip
    return {**_object("keras.src.models.functional", "Functional", config, "Functional"),
            "build_config": {"input_shape": None}}  # fmt: skip


def _optimizer_to_keras(optimizer):
    config = optimizer.get_config()
    return _object("keras.optimizers", type(optimizer).__name__, config)


def _loss_to_keras(loss):
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, dict) and "class_name" not in loss:
        return {k: _loss_to_keras(v) for k, v in loss.items()}
    if isinstance(loss, list):
        return [_loss_to_keras(v) for v in loss]
    return _object("keras.losses", loss["class_name"], {**loss.get("config", {}), "reduction": "sum_over_batch_size"})


def _metrics_to_keras(metrics):
    if metrics is None or isinstance(metrics, str):
        return metrics
    if isinstance(metrics, dict) and "class_name" in metrics:
        return _object("keras.metrics", metrics["class_name"], dict(metrics.get("config") or {}))
    if isinstance(metrics, dict):
        return {k: _metrics_to_keras(v) for k, v in metrics.items()}
    return [_metrics_to_keras(m) for m in metrics]


def model_to_keras(model):
    """The ``config.json`` of a built numbarnn model.

    Parameters
    ----------
    model : Sequential or Model

    Returns
    -------
    dict
        ``module``, ``class_name``, ``config``, ``registered_name``, ``build_config``, and
        ``compile_config`` for a compiled model.
    """
    spec = _sequential_to_keras(model) if model.file_class == "Sequential" else _functional_to_keras(model)
    compile_config = model.get_compile_config()
    if compile_config is not None:
        spec["compile_config"] = {
            "optimizer": _optimizer_to_keras(model.optimizer),
            "loss": _loss_to_keras(compile_config["loss"]),
            "loss_weights": compile_config.get("loss_weights"),
            "metrics": _metrics_to_keras(compile_config["metrics"]) or None,
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False,
        }  # fmt: skip
    return spec


# -- Keras -> numbarnn ------------------------------------------------------------------------
def _spec_class(spec, what):
    if not isinstance(spec, dict):
        raise ValueError(f"a {what} must be a JSON object with a 'class_name'; got {type(spec).__name__}")
    class_name = spec.get("class_name")
    if not isinstance(class_name, str):
        raise ValueError(f"a {what} needs a string 'class_name'; got {class_name!r}")
    config = spec.get("config", {})
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise ValueError(f"{what} {class_name!r}: its 'config' must be a JSON object; got {type(config).__name__}")
    return class_name, config


def _custom(spec, custom_objects):
    for key in (spec.get("registered_name"), spec.get("class_name")):
        if isinstance(key, str) and key in custom_objects:
            return custom_objects[key]
    return None


def _drop_keras_only(config, table, where):
    out = {}
    for key, value in config.items():
        allowed = table.get(key)
        if allowed is None:
            out[key] = value
        elif allowed is not _ANY and value not in allowed:
            raise ValueError(f"{where}: Keras option {key}={value!r} is not supported by numbarnn")
    return out


def _read_dtype(value, where):
    if isinstance(value, dict):
        class_name, config = _spec_class(value, f"{where} dtype")
        if class_name not in ("DTypePolicy", "FloatDTypePolicy"):
            raise ValueError(f"{where}: dtype policy {class_name!r} is not supported (numbarnn computes in one dtype)")
        value = config.get("name")
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{where}: dtype must be a name such as 'float32'; got {value!r}")
    return value


def _read_object(spec, table, where):
    """An initializer or regularizer dict as numbarnn's ``{'class_name', 'config'}`` (strings pass)."""
    if spec is None or isinstance(spec, str):
        return spec
    class_name, config = _spec_class(spec, where)
    return {"class_name": class_name, "config": _drop_keras_only(config, table, f"{where} {class_name}")}


def _read_layer(spec, custom_objects, what="layer"):
    """A Keras layer spec as numbarnn's ``{'class_name', 'config'}``, or ``(class, config)`` for a custom one."""
    from ..layers import _CLASSES

    class_name, config = _spec_class(spec, what)
    where = f"layer {config.get('name', class_name)!r} ({class_name})"
    custom = _custom(spec, custom_objects)
    if class_name == "Lambda" and custom is None:
        raise ValueError(
            f"{where}: a Lambda layer holds Python code, and numbarnn never runs code from a file; "
            "rewrite it as a Layer subclass and pass it in custom_objects="
        )
    if custom is None and class_name not in _CLASSES:
        raise ValueError(
            f"{where}: unknown layer class {class_name!r} (registered name {spec.get('registered_name')!r}); "
            "numbarnn builds its own layers only, or classes given in custom_objects="
        )
    config = dict(config)
    if class_name == "InputLayer" and custom is None:
        shape = config.pop("batch_shape", None)
        if shape is None and "shape" in config:
            shape = [config.pop("batch_size", None), *config.pop("shape")]
        if not isinstance(shape, list) or not shape:
            raise ValueError(f"{where}: needs a 'batch_shape' list; got {shape!r}")
        config = _drop_keras_only(config, _KERAS_ONLY, where)
        dtype = _read_dtype(config.get("dtype"), where)
        return {"class_name": class_name, "config": {"batch_shape": shape, "dtype": dtype, "name": config.get("name")}}
    if "dtype" in config:
        config["dtype"] = _read_dtype(config["dtype"], where)
    for key in list(config):
        if key.endswith("_initializer"):
            config[key] = _read_object(config[key], _INITIALIZER_KERAS_ONLY, f"{where} {key}")
        elif key.endswith("_regularizer") and key != "activity_regularizer":
            config[key] = _read_object(config[key], {}, f"{where} {key}")
        elif key in ("layer", "backward_layer") and custom is None:
            config[key] = _read_layer(config[key], custom_objects, f"{where} {key}")
    if custom is not None:
        return custom, config
    zero_output = config.pop("zero_output_for_mask", False) if class_name in _RECURRENT else False
    config = _drop_keras_only(config, {**_KERAS_ONLY, **(_FLATTEN_KERAS_ONLY if class_name == "Flatten" else {})},
                              where)  # fmt: skip
    if class_name == "Bidirectional" and isinstance(config.get("layer"), dict):
        inner = config["layer"]["config"]
        if str(inner.get("name", "")).startswith("forward_"):  # Keras stores the forward layer's name
            config["layer"] = {**config["layer"], "config": {**inner, "name": inner["name"][len("forward_") :]}}
    spec = {"class_name": class_name, "config": config}
    if zero_output:
        spec["zero_output_for_mask"] = True
    return spec


def _make_layer(spec, custom_objects):
    from ..layers import deserialize

    read = _read_layer(spec, custom_objects)
    if isinstance(read, tuple):
        cls, config = read
        return cls.from_config(config)
    layer = deserialize({"class_name": read["class_name"], "config": read["config"]})
    if read.get("zero_output_for_mask"):
        layer.zero_output_for_mask = True
    return layer


def _shape_of(build_config):
    if isinstance(build_config, dict) and isinstance(build_config.get("input_shape"), list):
        return build_config["input_shape"]
    return None


def _sequential_from_keras(config, custom_objects, Sequential):
    specs = config.get("layers")
    if not isinstance(specs, list):
        raise ValueError(f"the Sequential config needs a 'layers' list; got {type(specs).__name__}")
    model = Sequential([_make_layer(spec, custom_objects) for spec in specs], name=config.get("name"))
    if not model.built:
        shape = config.get("build_input_shape") or _shape_of(config.get("build_config"))
        if shape is None and specs:
            shape = _shape_of(specs[0].get("build_config") if isinstance(specs[0], dict) else None)
        if shape is None:
            raise ValueError("the Sequential model has no InputLayer and no build_input_shape: its input is unknown")
        model.build(tuple(shape))
    return model


def _history(value, where):
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        value = (value.get("config") or {}).get("keras_history")
    if (not isinstance(value, list) or len(value) != 3 or not isinstance(value[0], str)
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:])):  # fmt: skip
        raise ValueError(f"{where}: expected a Keras tensor reference [layer name, node, index]; got {value!r}")
    return tuple(value)


def _node_inputs(node, where):
    """``(main refs, list input?, state refs)`` of one Keras inbound node."""
    if isinstance(node, list):  # Keras 2's form: [[name, node, index, kwargs], ...]
        refs = [tuple(r[:3]) for r in node]
        return refs, len(refs) > 1, []
    if not isinstance(node, dict):
        raise ValueError(f"{where}: an inbound node must be a JSON object; got {type(node).__name__}")
    args, kwargs = node.get("args", []), node.get("kwargs", {}) or {}
    if not isinstance(args, list) or len(args) != 1 or not isinstance(kwargs, dict):
        raise ValueError(f"{where}: expected one positional input in its inbound node; got {len(args)}")
    unknown = sorted(k for k, v in kwargs.items() if k not in ("initial_state", "training", "mask") or
                     (k == "mask" and v is not None))  # fmt: skip
    if unknown:
        raise ValueError(f"{where}: call arguments {unknown} are not supported")
    first = args[0]
    as_list = isinstance(first, list)
    main = [_history(t, where) for t in (first if as_list else [first])]
    states = [_history(t, where) for t in (kwargs.get("initial_state") or [])]
    return main, as_list, states


def _functional_from_keras(config, custom_objects, Model):
    from ..layers import InputLayer

    specs = config.get("layers")
    if not isinstance(specs, list):
        raise ValueError(f"the Functional config needs a 'layers' list; got {type(specs).__name__}")
    created, produced, pending = {}, {}, []
    for spec in specs:
        layer = _make_layer(spec, custom_objects)
        name = spec.get("name", layer.name)
        if name in created:
            raise ValueError(f"two layers are named {name!r}")
        created[name] = layer
        if isinstance(layer, InputLayer):
            produced[(name, 0)] = [layer.output]
        nodes = spec.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"layer {name!r}: 'inbound_nodes' must be a list")
        pending.extend((name, n, _node_inputs(node, f"layer {name!r}")) for n, node in enumerate(nodes))

    def tensor(ref):
        return produced[(ref[0], ref[1])][ref[2]]

    while pending:
        done = [p for p in pending if all((r[0], r[1]) in produced for r in p[2][0] + p[2][2])]
        if not done:
            raise ValueError(f"the model's graph cannot be rebuilt: layers {sorted({p[0] for p in pending})} read "
                             "tensors no layer makes")  # fmt: skip
        for item in done:
            name, n, (main, as_list, states) = item
            try:
                ins = [tensor(r) for r in main]
                st = [tensor(r) for r in states]
            except IndexError:
                raise ValueError(f"layer {name!r} reads an output index its source does not have") from None
            x = ins if as_list else ins[0]
            out = created[name](x, initial_state=st) if st else created[name](x)
            produced[(name, n)] = out if isinstance(out, list) else [out]
            pending.remove(item)

    def struct(value, what):
        if isinstance(value, dict):
            return {k: tensor(_history(v, what)) for k, v in value.items()}
        if isinstance(value, list) and value and isinstance(value[0], list):
            return [tensor(_history(v, what)) for v in value]
        return tensor(_history(value, what))

    try:
        inputs = struct(config.get("input_layers"), "input_layers")
        outputs = struct(config.get("output_layers"), "output_layers")
    except (KeyError, IndexError):
        raise ValueError("the model's input_layers or output_layers name tensors the graph does not make") from None
    return Model(inputs, outputs, name=config.get("name"))


def _optimizer_from_keras(spec, custom_objects):
    from .. import optimizers

    class_name, config = _spec_class(spec, "optimizer")
    custom = _custom(spec, custom_objects)
    if custom is not None:
        return custom.from_config(config)
    config = _drop_keras_only(config, _OPTIMIZER_KERAS_ONLY, f"optimizer {class_name!r}")
    if isinstance(config.get("learning_rate"), dict):
        raise ValueError(f"optimizer {class_name!r}: learning rate schedules are not supported; give a number")
    return optimizers.get({"class_name": class_name, "config": config})


def _loss_from_keras(loss):
    if loss is None or isinstance(loss, str):
        return loss
    if isinstance(loss, dict) and "class_name" not in loss:
        return {k: _loss_from_keras(v) for k, v in loss.items()}
    if isinstance(loss, list):
        return [_loss_from_keras(v) for v in loss]
    from .. import losses

    class_name, config = _spec_class(loss, "loss")
    config = _drop_keras_only(config, _LOSS_KERAS_ONLY, f"loss {class_name!r}")
    return losses.get({"class_name": class_name, "config": config})


def _metrics_from_keras(metrics):
    if metrics is None or isinstance(metrics, str):
        return metrics
    if isinstance(metrics, dict) and "class_name" in metrics:
        class_name, config = _spec_class(metrics, "metric")
        return {"class_name": class_name,
                "config": _drop_keras_only(config, _METRIC_KERAS_ONLY, f"metric {class_name!r}")}  # fmt: skip
    if isinstance(metrics, dict):
        return {k: _metrics_from_keras(v) for k, v in metrics.items()}
    if isinstance(metrics, list):
        return [_metrics_from_keras(m) for m in metrics]
    raise ValueError(f"metrics must be names, config dicts or lists of them; got {type(metrics).__name__}")


def model_from_keras(spec, model_classes, custom_objects=None, compile=True):
    """Build the numbarnn model a ``config.json`` describes (new weights; see :func:`load_weight_groups`).

    Parameters
    ----------
    spec : dict
        ``config.json``, as Keras 3 or numbarnn writes it.
    model_classes : dict
        ``{"Sequential": cls, "Functional": cls}``: the model classes to build (given by
        :mod:`numbarnn.models`, so that formats do not import models).
    custom_objects : dict of str to class, optional
        The user's own layer or optimizer classes by (registered or class) name.
    compile : bool, default=True
        Compile from ``compile_config`` when there is one.

    Returns
    -------
    Sequential or Model

    Raises
    ------
    ValueError
        The config names a class numbarnn does not know (and ``custom_objects`` does not
        give), a Lambda layer, an option numbarnn does not support, or is malformed.
    """
    custom_objects = dict(custom_objects or {})
    class_name, config = _spec_class(spec, "model")
    if class_name == "Sequential":
        model = _sequential_from_keras(config, custom_objects, model_classes["Sequential"])
    elif class_name in ("Functional", "Model"):
        model = _functional_from_keras(config, custom_objects, model_classes["Functional"])
    else:
        raise ValueError(f"unknown model class {class_name!r}: numbarnn loads Sequential and functional models")
    if config.get("trainable") is False:
        for layer in model.layers:
            layer.trainable = False
    compile_config = spec.get("compile_config")
    if compile and compile_config:
        if not isinstance(compile_config, dict) or "optimizer" not in compile_config:
            raise ValueError("compile_config must be a JSON object with an 'optimizer'")
        extra = [k for k in ("weighted_metrics",) if compile_config.get(k)]
        if extra:
            raise ValueError(f"compile_config: {extra} are not supported")
        model.compile(optimizer=_optimizer_from_keras(compile_config["optimizer"], custom_objects),
                      loss=_loss_from_keras(compile_config.get("loss")),
                      metrics=_metrics_from_keras(compile_config.get("metrics")) or None,
                      loss_weights=compile_config.get("loss_weights"))  # fmt: skip
    return model


# -- weights ----------------------------------------------------------------------------------
def _unique(name, used):
    if name in used:
        used[name] += 1
        return f"{name}_{used[name]}"
    used[name] = 0
    return name


def _layer_groups(layer, path):
    """``[(path, name, arrays)]`` for ``layer`` and its parts, as Keras's traversal names them."""
    from ..layers import Bidirectional, TimeDistributed
    from ..layers.recurrent import RecurrentLayer

    if isinstance(layer, RecurrentLayer):
        return [(path, layer.name, []), (f"{path}/cell", f"{snake_case(type(layer).__name__)}_cell", layer.weights)]
    if isinstance(layer, Bidirectional):
        return ([(path, layer.name, [])] + _layer_groups(layer.backward_layer, f"{path}/backward_layer")
                + _layer_groups(layer.forward_layer, f"{path}/forward_layer"))  # fmt: skip
    if isinstance(layer, TimeDistributed):
        return [(path, layer.name, [])] + _layer_groups(layer.layer, f"{path}/layer")
    return [(path, layer.name, layer.weights)]


def _model_groups(model):
    groups, used = [("", model.name, [])], {}
    for layer in model.layers:
        groups += _layer_groups(layer, f"layers/{_unique(snake_case(type(layer).__name__), used)}")
    return groups


def _slot_order(optimizer):
    """The optimizer's slot names, grouped as Keras creates them."""
    names = optimizer.slot_names
    groups = _SLOT_GROUPS.get(type(optimizer).__name__)
    if groups is None:
        return [(n,) for n in names]
    return [tuple(n for n in g if n in names) for g in groups if any(n in names for n in g)]


def optimizer_groups(optimizer, n_weights):
    """The optimizer's group: step count, learning rate, then its slots in Keras's order.

    Parameters
    ----------
    optimizer : Optimizer
    n_weights : int
        How many trainable weights the optimizer updates.

    Returns
    -------
    WeightGroup
        ``vars/0`` int64 scalar, ``vars/1`` float32 scalar, then one array per slot and weight.
    """
    arrays = [np.array(optimizer.iterations, np.int64), np.array(optimizer.learning_rate, np.float32)]
    if optimizer.built:
        slots = dict(zip(optimizer.slot_names, _split(optimizer.variables()[1:], len(optimizer.slot_names))))
        for group in _slot_order(optimizer):
            for i in range(n_weights):
                arrays.extend(slots[name][i] for name in group)
    return WeightGroup("optimizer", optimizer.name, arrays)


def _split(arrays, n):
    size = len(arrays) // n if n else 0
    return [arrays[k * size : (k + 1) * size] for k in range(n)]


def weight_groups(model, include_optimizer=True):
    """Every :class:`~.keras_file.WeightGroup` of ``model``'s weight file, parents first.

    Parameters
    ----------
    model : Sequential or Model
        Built.
    include_optimizer : bool, default=True
        Add the optimizer's state when the model is compiled.

    Returns
    -------
    list of WeightGroup
    """
    groups = [WeightGroup(path, name, list(arrays)) for path, name, arrays in _model_groups(model)]
    if include_optimizer and model.compiled:
        groups.append(optimizer_groups(model.optimizer, len(model.trainable_weights)))
    return groups


def load_weight_groups(model, weights, include_optimizer=True):
    """Set ``model``'s weights (and its optimizer's state) from an open weight file.

    Every array's shape is checked against the model before any is read or set.

    Parameters
    ----------
    model : Sequential or Model
        Built; compiled for the optimizer state to be restored.
    weights : WeightFile
    include_optimizer : bool, default=True

    Raises
    ------
    ValueError
        A group is missing, holds too many or too few arrays, or an array of the wrong
        shape; the file holds arrays the model has no place for; the optimizer state does
        not fit the optimizer. The message names the file and the group.
    """
    where = weights.where
    plan = _model_groups(model)
    for path, _, arrays in plan:
        stored = weights.groups.get(path, {})
        if path not in weights.group_names and arrays:
            raise ValueError(f"{where}: group {path or '/'!r} is missing (the model's weights there: {len(arrays)})")
        if len(stored) != len(arrays):
            raise ValueError(f"{where}: group {path or '/'!r} holds {len(stored)} arrays; the model has {len(arrays)} "
                             "there")  # fmt: skip
        for i, w in enumerate(arrays):
            shape = stored[i][0] if i in stored else None
            if shape != w.shape:
                raise ValueError(f"{where}: {path}/vars/{i} has shape {shape}; the model's weight there has {w.shape}")
    known = {path for path, _, _ in plan} | {"optimizer"}
    extra = sorted(p for p in weights.groups if p not in known)
    if extra:
        raise ValueError(f"{where}: arrays in groups {extra[:5]} that the model has no place for")
    values = [(w, a) for path, _, arrays in plan if arrays for w, a in zip(arrays, weights.read(path))]
    for w, a in values:
        w[...] = a
    if include_optimizer and model.compiled and "optimizer" in weights.groups:
        _load_optimizer(model, weights)


def _load_optimizer(model, weights):
    where, optimizer = weights.where, model.optimizer
    variables = model.trainable_weights
    stored = weights.groups["optimizer"]
    n_slots = len(optimizer.slot_names)
    expected = 2 + n_slots * len(variables)
    if len(stored) not in (2, expected):
        raise ValueError(f"{where}: the optimizer group holds {len(stored)} arrays; {type(optimizer).__name__} with "
                         f"{len(variables)} weights keeps {expected} (or 2 before its first step)")  # fmt: skip
    order = [(name, i) for group in _slot_order(optimizer) for i in range(len(variables)) for name in group]
    for k, (name, i) in enumerate(order, start=2):
        if k in stored and stored[k][0] != variables[i].shape:
            raise ValueError(f"{where}: optimizer/vars/{k} ({name} of weight {i}) has shape {stored[k][0]}; "
                             f"expected {variables[i].shape}")  # fmt: skip
    for k in (0, 1):
        if stored[k][0] != ():
            raise ValueError(f"{where}: optimizer/vars/{k} must be a scalar; it has shape {stored[k][0]}")
    arrays = weights.read("optimizer")
    learning_rate = float(arrays[1])
    if np.float32(optimizer.learning_rate) != np.float32(learning_rate):  # changed in training (a schedule)
        optimizer.learning_rate = learning_rate
    if len(arrays) != expected:  # saved before its first step: no slots yet
        optimizer.iterations = int(arrays[0])
        return
    slots = {name: [None] * len(variables) for name in optimizer.slot_names}
    for k, (name, i) in enumerate(order, start=2):
        slots[name][i] = arrays[k]
    flat = [arrays[0]] + [a for name in optimizer.slot_names for a in slots[name]]
    optimizer.set_variables(flat, variables)
