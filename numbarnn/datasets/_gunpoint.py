"""The UCR GunPoint time series classification problem, with its standard split."""

import numpy as np

from ._base import open_data_file

SPLITS = ("train", "test")


def _read_gunpoint():
    """Return {"X_train", "y_train", "X_test", "y_test"} as read from the shipped .npz (no pickle)."""
    with open_data_file("gunpoint.npz") as fh, np.load(fh, allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    for split in SPLITS:
        # Stored 2-D (n, 150); returned as (n, 150, 1) single-feature sequences.
        arrays["X_" + split] = np.ascontiguousarray(arrays["X_" + split][:, :, np.newaxis], dtype=np.float64)
        arrays["y_" + split] = np.ascontiguousarray(arrays["y_" + split], dtype=np.int64)
    return arrays


def load_gunpoint(split=None, *, return_X_y=True):
    """Load the GunPoint classification problem: 200 hand-motion series of length 150, 2 classes.

    One female and one male actor either draw a replica gun from a hip
    holster, point it at a target for about a second and put it back
    ("Gun-Draw"), or point at the target with the index finger ("Point").
    Each series is the X coordinate of the centroid of the actor's right
    hand over 150 frames. The archive z-normalised every series (mean 0,
    sample standard deviation 1).

    Parameters
    ----------
    split : {None, "train", "test"}, default=None
        ``None`` loads both parts of the standard split; ``"train"`` or
        ``"test"`` loads one (case is ignored).
    return_X_y : bool, default=True
        If False, return a dict instead of a tuple (see Returns).

    Returns
    -------
    X_train, y_train, X_test, y_test : ndarrays
        With ``split=None``: ``X_train`` of shape (50, 150, 1) and ``X_test``
        of shape (150, 150, 1), dtype float64; ``y_train`` of shape (50,) and
        ``y_test`` of shape (150,), dtype int64.
    X, y : ndarrays
        With ``split="train"`` or ``"test"``: that part only, shapes as above.
    data : dict
        With ``return_X_y=False``: the same arrays under the keys ``"X_train"``,
        ``"y_train"``, ``"X_test"``, ``"y_test"`` (``split=None``) or ``"X"``,
        ``"y"`` (one split), plus ``"classes"``, the array ``[1, 2]``.

    Notes
    -----
    Labels: integers 1 and 2, exactly as the source file writes them (as the
    tokens ``1`` and ``2``). The source's description names the classes
    Gun-Draw and Point but does not say which number is which, so none is
    claimed here. The train part has 24 of class 1 and 26 of class 2; the test
    part 76 and 74.

    Source: the UCR Time Series Classification Archive (2018 release), as
    shipped in the sktime package, version 1.2.0 (BSD 3-Clause licence,
    copyright the sktime developers), files
    ``sktime/datasets/data/GunPoint/GunPoint_TRAIN.ts`` and ``GunPoint_TEST.ts``.
    Their values were parsed to float64 without change and saved in
    ``data/gunpoint.npz`` (plain arrays, loaded with ``allow_pickle=False``).

    Licence: the archive publishes its data sets openly for research use and
    attaches no formal licence; it asks users to cite it (below). The
    sktime licence notice is reproduced in this folder's README.md.

    Citation the archive asks for: Dau, H. A., Keogh, E., Kamgar, K., Yeh,
    C.-C. M., Zhu, Y., Gharghabi, S., Ratanamahatana, C. A., Chen, Y., Hu, B.,
    Begum, N., Bagnall, A., Mueen, A. and Batista, G. (2018). The UCR Time
    Series Classification Archive. https://www.cs.ucr.edu/~eamonn/time_series_data_2018/

    Examples
    --------
    >>> from numbarnn.datasets import load_gunpoint
    >>> X_train, y_train, X_test, y_test = load_gunpoint()
    >>> X_train.shape, X_test.shape, X_train.dtype
    ((50, 150, 1), (150, 150, 1), dtype('float64'))
    >>> y_train.dtype, sorted(set(y_train.tolist()))
    (dtype('int64'), [1, 2])
    >>> X, y = load_gunpoint(split="test")
    >>> X.shape, y.shape
    ((150, 150, 1), (150,))
    """
    if split is not None:
        key = split.lower() if isinstance(split, str) else split
        if key not in SPLITS:
            raise ValueError(f"split must be None, 'train' or 'test'; got {split!r}")
    arrays = _read_gunpoint()
    if split is None:
        names = ("X_train", "y_train", "X_test", "y_test")
        data = {name: arrays[name] for name in names}
    else:
        names = ("X", "y")
        data = {"X": arrays["X_" + key], "y": arrays["y_" + key]}
    if return_X_y:
        return tuple(data[name] for name in names)
    data["classes"] = np.array([1, 2], dtype=np.int64)
    return data
