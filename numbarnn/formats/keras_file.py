"""Keras 3's files, as JSON dicts and arrays: the ``.keras`` zip and the ``.weights.h5`` HDF5 file.

A ``.keras`` file is a zip (entries stored, as Keras writes them) of
``metadata.json`` (``{"keras_version", "date_saved"}``), ``config.json`` (the
serialized model) and ``model.weights.h5``. The HDF5 file holds one group per
saveable object, named by Keras's saving traversal (``layers/lstm/cell``,
``layers/bidirectional/forward_layer/cell``, ``optimizer``, ...); each has a
``vars`` subgroup (attribute ``name``: the object's name) holding the object's
own arrays as datasets ``0``, ``1``, ... A ``.weights.h5`` file is that HDF5
file alone.

Reading runs nothing from a file: JSON is parsed as data, and the HDF5 reader
follows only the file's own groups (a soft or external link, an array stored
in another file, a virtual dataset, a filter that would load a plugin, or a
non-numeric array is a ValueError naming the file and the path), and reads an
array only after the caller has checked its shape. h5py is imported when a
function here first needs it, so ``import numbarnn`` does not import it.

Files are written through a temporary file renamed into place (:mod:`.atomic`).
"""

import datetime
import io
import json
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field

import numpy as np

from .atomic import write_atomically

__all__ = [
    "KERAS_VERSION", "CONFIG_NAME", "METADATA_NAME", "WEIGHTS_NAME", "WeightGroup", "WeightFile",
    "identify", "write_model", "write_weights", "read_model", "open_weights",
]  # fmt: skip

#: The Keras release whose file layout this module writes (and reads; other Keras 3 releases agree).
KERAS_VERSION = "3.15.1"
CONFIG_NAME = "config.json"
METADATA_NAME = "metadata.json"
WEIGHTS_NAME = "model.weights.h5"

_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_MAX_JSON_BYTES = 64 * 2**20
_MAX_DEPTH = 64
_MAX_OBJECTS = 1_000_000
_INDEX = re.compile(r"(0|[1-9][0-9]{0,8})")
# HDF5's own filters (deflate, shuffle, fletcher32, szip, nbit, scale-offset); any other id would make
# the HDF5 library search the disk for a plugin, so such a dataset is refused before it is read.
_BUILTIN_FILTERS = {1, 2, 3, 4, 5, 6}


@dataclass
class WeightGroup:
    """One saveable object's arrays in a weights file.

    Attributes
    ----------
    path : str
        The object's group, as Keras names it: ``'layers/lstm/cell'``, ``'optimizer'``; ``''`` is the root.
    name : str
        The object's name, written as the ``name`` attribute of its ``vars`` group.
    arrays : list of ndarray
        Stored as ``<path>/vars/0``, ``<path>/vars/1``, ... (may be empty).
    """

    path: str
    name: str
    arrays: list = field(default_factory=list)


def _h5py():
    import h5py  # imported on first use: numbarnn's import does not load it

    return h5py


# -- which file is it --------------------------------------------------------------------------
def identify(filepath):
    """Tell a Keras ``.keras`` file, an HDF5 weights file and a numbarnn 0.1 file apart, by content.

    Parameters
    ----------
    filepath : str or path-like

    Returns
    -------
    {'keras', 'weights', 'numbarnn-0.1'}

    Raises
    ------
    ValueError
        The file is missing, empty, damaged, or none of these (the message names the file).
    """
    where = repr(os.fspath(filepath))
    try:
        with open(filepath, "rb") as f:
            head = f.read(8)
            if not head:
                raise ValueError(f"{where} is empty (0 bytes): not a model or weights file")
            # A zip is told by its first bytes; only a file that is not one may be HDF5 after a user block
            # (a .keras zip stores its weights uncompressed, so their HDF5 signature can fall on 512, 1024...).
            if head == _HDF5_MAGIC or (head[:4] not in _ZIP_MAGIC and _hdf5_userblock(f)):
                return "weights"
    except OSError as exc:
        raise ValueError(f"{where} cannot be read: {exc}") from exc
    if head[:4] not in _ZIP_MAGIC:
        raise ValueError(
            f"{where} is neither a Keras .keras file (a zip), nor a .weights.h5 file (HDF5), nor a numbarnn 0.1 "
            f"file: it starts with bytes {head!r}"
        )
    names = _zip_names(filepath)
    if CONFIG_NAME in names:
        return "keras"
    if "config.npy" in names:
        return "numbarnn-0.1"
    raise ValueError(f"{where} is a zip without {CONFIG_NAME}: not a Keras .keras file (it holds {sorted(names)[:10]})")


def _hdf5_userblock(f):
    for offset in (512, 1024, 2048, 4096):  # HDF5's superblock may follow a user block of these sizes
        f.seek(offset)
        if f.read(8) == _HDF5_MAGIC:
            return True
    return False


def _zip_names(filepath):
    try:
        with zipfile.ZipFile(filepath) as z:
            return set(z.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
        raise ValueError(f"{os.fspath(filepath)!r} is damaged: not a complete zip archive ({exc})") from exc


# -- writing ------------------------------------------------------------------------------------
def _h5_bytes(groups):
    h5py = _h5py()
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        for group in groups:
            parent = f.require_group(group.path) if group.path else f
            vars_group = parent.create_group("vars")
            vars_group.attrs["name"] = str(group.name)
            for i, array in enumerate(group.arrays):
                vars_group.create_dataset(str(i), data=np.asarray(array))
    return buffer.getvalue()


def write_model(filepath, config, groups):
    """Write a ``.keras`` file.

    Parameters
    ----------
    filepath : str or path-like
    config : dict
        The serialized model (``config.json``): ``module``, ``class_name``, ``config``, ...
    groups : list of WeightGroup
        The arrays of ``model.weights.h5``, parents before their children.
    """
    weights = _h5_bytes(groups)
    metadata = {"keras_version": KERAS_VERSION, "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S")}

    def fill(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(METADATA_NAME, json.dumps(metadata))
            z.writestr(CONFIG_NAME, json.dumps(config))
            z.writestr(WEIGHTS_NAME, weights)

    write_atomically(filepath, fill)


def write_weights(filepath, groups):
    """Write a ``.weights.h5`` file: the HDF5 file of :func:`write_model` alone (``groups`` as there)."""
    weights = _h5_bytes(groups)
    write_atomically(filepath, lambda f: f.write(weights))


# -- reading ------------------------------------------------------------------------------------
def _json_entry(z, name, where):
    info = z.getinfo(name)
    if info.file_size > _MAX_JSON_BYTES:
        raise ValueError(f"{where}: {name} declares {info.file_size} bytes, more than a model config can need")
    try:
        text = z.read(name).decode("utf-8")
        return json.loads(text)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{where} is damaged: {name} cannot be read from the zip ({exc})") from exc
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"{where}: {name} is not valid JSON ({exc})") from exc


def read_model(filepath):
    """Read a ``.keras`` file.

    Parameters
    ----------
    filepath : str or path-like

    Returns
    -------
    config : dict
        ``config.json``.
    metadata : dict
        ``metadata.json`` ({} when absent).
    weights : WeightFile
        ``model.weights.h5``, open (close it, or use it in a ``with`` block).

    Raises
    ------
    ValueError
        The file is not a complete ``.keras`` zip, ``config.json`` is missing or not a JSON
        object, or ``model.weights.h5`` is missing or not an HDF5 file of Keras's layout.
    """
    where = repr(os.fspath(filepath))
    try:
        with zipfile.ZipFile(filepath) as z:
            names = set(z.namelist())
            if CONFIG_NAME not in names:
                raise ValueError(f"{where} is a zip without {CONFIG_NAME}: not a Keras .keras file")
            config = _json_entry(z, CONFIG_NAME, where)
            metadata = _json_entry(z, METADATA_NAME, where) if METADATA_NAME in names else {}
            if WEIGHTS_NAME not in names:
                raise ValueError(f"{where} has no {WEIGHTS_NAME}: the model's weights are missing")
            try:
                data = z.read(WEIGHTS_NAME)
            except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
                raise ValueError(f"{where} is damaged: {WEIGHTS_NAME} cannot be read from the zip ({exc})") from exc
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"{where} is damaged: not a complete zip archive ({exc})") from exc
    if not isinstance(config, dict):
        raise ValueError(f"{where}: {CONFIG_NAME} holds a JSON {type(config).__name__}, not an object")
    if not isinstance(metadata, dict):
        metadata = {}
    return config, metadata, WeightFile(io.BytesIO(data), f"{where} ({WEIGHTS_NAME})")


def open_weights(filepath):
    """Open the weights of a ``.weights.h5`` file, or of a ``.keras`` file's ``model.weights.h5``.

    Returns
    -------
    WeightFile

    Raises
    ------
    ValueError
        As :func:`identify` and :func:`read_model`.
    """
    kind = identify(filepath)
    if kind == "keras":
        return read_model(filepath)[2]
    if kind != "weights":
        raise ValueError(f"{os.fspath(filepath)!r} is a {kind} file, not a Keras weights file")
    return WeightFile(os.fspath(filepath), repr(os.fspath(filepath)))


class WeightFile:
    """The arrays of a Keras HDF5 weights file, listed without reading them, read on request.

    Parameters
    ----------
    source : str or file-like
        A path, or a binary file object holding the HDF5 bytes.
    where : str
        How messages name the file.

    Attributes
    ----------
    groups : dict of str to dict of int to (tuple, numpy.dtype)
        For every group holding arrays (``'layers/dense'``), its arrays' indices mapped to
        their shape and dtype.
    group_names : set of str
        Every group with a ``vars`` subgroup, arrays or not.

    Raises
    ------
    ValueError
        Not an HDF5 file, or one holding anything but groups and numeric arrays at
        ``<group>/vars/<index>`` (links, external or virtual storage, plugin filters, strings, ...).
    """

    def __init__(self, source, where):
        h5py = _h5py()
        self.where = where
        try:
            self._file = h5py.File(source, "r")
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            raise ValueError(f"{where} is not a readable HDF5 file: {exc}") from exc
        self._datasets = {}
        self.groups = {}
        self.group_names = set()
        try:
            self._walk(self._file, "", 0, [0])
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Close the HDF5 file."""
        if getattr(self, "_file", None) is not None:
            self._file.close()
            self._file = None

    def _walk(self, group, path, depth, count):
        h5py = _h5py()
        if depth > _MAX_DEPTH:
            raise ValueError(f"{self.where}: groups nested deeper than {_MAX_DEPTH} levels at {path!r}")
        try:
            keys = list(group.keys())
        except (OSError, RuntimeError, KeyError, ValueError) as exc:
            raise ValueError(f"{self.where} is damaged: group {path or '/'!r} cannot be listed ({exc})") from exc
        for key in keys:
            count[0] += 1
            if count[0] > _MAX_OBJECTS:
                raise ValueError(f"{self.where} holds more than {_MAX_OBJECTS} objects")
            child = f"{path}/{key}" if path else key
            try:
                link = group.get(key, getlink=True)
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                raise ValueError(f"{self.where} is damaged: {child!r} cannot be read ({exc})") from exc
            if not isinstance(link, h5py.HardLink):
                raise ValueError(
                    f"{self.where}: {child!r} is a {type(link).__name__}, not an array or group of the file itself; "
                    "numbarnn does not follow links"
                )
            try:
                obj = group[key]
            except (OSError, RuntimeError, KeyError, ValueError) as exc:
                raise ValueError(f"{self.where} is damaged: {child!r} cannot be read ({exc})") from exc
            if isinstance(obj, h5py.Group):
                if key == "vars":
                    self.group_names.add(path)
                self._walk(obj, child, depth + 1, count)
            elif isinstance(obj, h5py.Dataset):
                self._add_dataset(obj, path, key, child)
            else:
                raise ValueError(f"{self.where}: {child!r} is a {type(obj).__name__}, neither a group nor an array")

    def _add_dataset(self, ds, parent, key, child):
        owner, _, last = parent.rpartition("/")
        if last != "vars" or not _INDEX.fullmatch(key):
            raise ValueError(f"{self.where}: unexpected array {child!r} (Keras's arrays sit at <group>/vars/<index>)")
        try:
            dtype, shape = ds.dtype, tuple(ds.shape) if ds.shape is not None else None
            external, virtual = ds.external, ds.is_virtual
            plist = ds.id.get_create_plist()
            filters = [plist.get_filter(i)[0] for i in range(plist.get_nfilters())]
        except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{self.where} is damaged: array {child!r} cannot be described ({exc})") from exc
        if external or virtual:
            raise ValueError(f"{self.where}: array {child!r} keeps its values in other files; numbarnn refuses it")
        unknown = [f for f in filters if f not in _BUILTIN_FILTERS]
        if unknown:
            raise ValueError(f"{self.where}: array {child!r} needs HDF5 filter plugin(s) {unknown}; numbarnn refuses it")
        if shape is None or dtype.kind not in "biuf" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"{self.where}: array {child!r} holds {dtype} values, not numbers")
        self._datasets[(owner, int(key))] = ds
        self.groups.setdefault(owner, {})[int(key)] = (shape, dtype)

    def read(self, path):
        """The arrays of group ``path``, in index order (shapes are the caller's to check first).

        Raises
        ------
        ValueError
            The indices are not 0, 1, ..., n-1, or an array cannot be read.
        """
        entries = self.groups.get(path, {})
        missing = [i for i in range(len(entries)) if i not in entries]
        if missing:
            raise ValueError(f"{self.where}: group {path!r} lacks array vars/{missing[0]} (it has {sorted(entries)})")
        out = []
        for i in range(len(entries)):
            try:
                out.append(np.asarray(self._datasets[(path, i)][()]))
            except (OSError, RuntimeError, KeyError, ValueError, TypeError) as exc:
                raise ValueError(f"{self.where} is damaged: {path}/vars/{i} cannot be read ({exc})") from exc
        return out
