"""Resolve names, dicts and objects to instances, and back to JSON-friendly configs.

Optimizers, losses, metrics, initializers and regularizers are each given as a
string (``'adam'``, ``'glorot_uniform'``), a config dict
(``{'class_name': 'Adam', 'config': {...}}``) or an instance, as in Keras.
"""

import re


def snake_case(name):
    """Keras's rule: 'GlorotUniform' -> 'glorot_uniform', 'Conv1D' -> 'conv1d', 'MaxPooling1D' -> 'max_pooling1d'."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def serialize(obj):
    """Return ``{'class_name': ..., 'config': ...}`` for an object with ``get_config``."""
    if obj is None:
        return None
    return {"class_name": type(obj).__name__, "config": obj.get_config()}


def resolve(identifier, what, registry, base, allow_none=True):
    """Turn ``identifier`` into an instance of ``base``.

    Parameters
    ----------
    identifier : str, dict, instance of ``base`` or None
    what : str
        The argument's name, for error messages.
    registry : dict
        Lower-case names (and lower-case class names) to a class or a zero-argument factory.
    base : type
    allow_none : bool, default=True
    """
    if identifier is None:
        if allow_none:
            return None
        raise ValueError(f"{what} must be given; got None")
    if isinstance(identifier, base):
        return identifier
    if isinstance(identifier, str):
        key = identifier.lower()
        if key not in registry:
            names = sorted({k for k in registry if "_" in k or k.islower()})
            raise ValueError(f"unknown {what} {identifier!r}; expected one of {names}")
        return registry[key]()
    if isinstance(identifier, dict):
        if "class_name" not in identifier:
            raise ValueError(f"a {what} given as a dict needs a 'class_name' key; got {sorted(identifier)}")
        key = str(identifier["class_name"]).lower()
        if key not in registry:
            raise ValueError(f"unknown {what} class {identifier['class_name']!r}")
        cls = registry[key]
        config = identifier.get("config") or {}
        return cls.from_config(config) if hasattr(cls, "from_config") else cls(**config)
    raise TypeError(
        f"{what} must be a name, a config dict or a {base.__name__} instance; got {type(identifier).__name__}"
    )


def make_registry(*classes, aliases=None):
    """Registry keyed by each class's lower-case name and snake_case name, plus ``aliases``."""
    registry = {}
    for cls in classes:
        registry[cls.__name__.lower()] = cls
        registry[snake_case(cls.__name__)] = cls
    registry.update(aliases or {})
    return registry
