"""Dask wrappers for the estimators: train over, and predict on, 3-D Dask arrays of sequences.

:class:`Incremental` and :class:`ParallelPostFit` are dask-ml's wrappers of the
same names, changed where dask-ml assumes 2-D ``(samples, columns)`` arrays:

- ``Incremental.fit`` / ``partial_fit`` hand each block of ``X`` (all its steps
  and features) with the matching rows of ``y`` (and of ``sample_weight``) to
  the estimator's ``partial_fit``, one block after the other;
- ``predict``, ``predict_proba``, ``predict_log_proba``, ``transform`` and
  ``score`` map the estimator over the blocks, with the output's meta and
  chunks found by running the method on one sample of ``X``'s shape and dtype.

A Dask array must be chunked along its first axis (samples) only:
``X.rechunk({1: -1, 2: -1})`` joins the chunks of the other axes. (Nothing is
rechunked silently, since that multiplies each block's memory.) NumPy input,
and dask-ml's other inputs (Dask DataFrames), go to dask-ml's wrappers
unchanged. Needs the ``dask`` extra: ``pip install "numbarnn[dask]"``.

dask-ml's ``HyperbandSearchCV`` does not work here: with dask and distributed
2025.3 or newer it fails for any estimator ("Attempting to use an asynchronous
Client in a synchronous context of `dask.compute`"), and with any version its
``train_test_split`` declares the parts of a 3-D array 1-D ("could not
broadcast input array from shape (16, 6, 3) into shape (16,)").
"""

try:
    import dask
    import dask.array as da
    from dask_ml import wrappers as dask_ml_wrappers
    from dask_ml.metrics import check_scoring
except ImportError as exc:
    raise ImportError(
        f'numbarnn.dask needs dask and dask-ml: pip install "numbarnn[dask]"; importing them failed: {exc}'
    ) from exc

import numpy as np
from sklearn.base import is_classifier, is_regressor
from sklearn.metrics import accuracy_score, r2_score
from sklearn.utils import check_random_state

__all__ = ["Incremental", "ParallelPostFit"]


def _check_blocks(X, name="X"):
    """Refuse a Dask array chunked along any axis but the first."""
    if X.ndim < 2:
        raise ValueError(f"{name} must have 2 or 3 dimensions (samples, steps[, features]); got shape {X.shape}")
    split = [axis for axis in range(1, X.ndim) if X.numblocks[axis] > 1]
    if split:
        raise ValueError(
            f"{name} must be chunked along its first axis (samples) only; {name} of shape {X.shape} has chunks "
            f"{X.chunksize} (blocks {X.numblocks}), split along axis {split}: rechunk it with "
            f"{name}.rechunk({{{', '.join(f'{a}: -1' for a in range(1, X.ndim))}}})"
        )
    return X


def _rows_like(X, a, name):
    """``a`` (a Dask or NumPy array) as a Dask array whose row blocks are ``X``'s, its other axes whole.

    A NumPy ``a`` is cut into its blocks here (a graph of slices, not one array
    that every block's task would read); with unknown chunk sizes of ``X``,
    ``a`` must be a Dask array with the same row blocks already.
    """
    known = not np.isnan(X.chunks[0]).any()
    if not isinstance(a, da.Array):
        a = np.asarray(a)
        if a.ndim == 0:
            raise ValueError(f"{name} must have one value per sample; got a scalar")
        if known and a.shape[0] != X.shape[0]:
            raise ValueError(f"X and {name} must hold the same number of samples; got {X.shape[0]} and {a.shape[0]}")
        if known:
            return da.from_array(a, chunks=(X.chunks[0],) + a.shape[1:])
        a = da.from_array(a, chunks=-1)
    if known and not np.isnan(a.shape[0]):
        if a.shape[0] != X.shape[0]:
            raise ValueError(f"X and {name} must hold the same number of samples; got {X.shape[0]} and {a.shape[0]}")
        return a.rechunk({0: X.chunks[0], **{axis: -1 for axis in range(1, a.ndim)}})
    if a.numblocks[0] != X.numblocks[0] or any(n > 1 for n in a.numblocks[1:]):
        raise ValueError(
            f"X or {name} has unknown chunk sizes; {name} must then be a Dask array with the same row blocks as X "
            f"(X has {X.numblocks[0]}, {name} {a.numblocks[0]}); X.compute_chunk_sizes() makes them known"
        )
    return a


def _partial_fit(model, X, y, kwargs):
    """One ``partial_fit`` call on one block (a task); returns the model it trained."""
    model.partial_fit(X, y, **kwargs)
    return model


def _call(block, estimator, method):
    """``estimator.method`` on one block (a task)."""
    return getattr(estimator, method)(block)


class ParallelPostFit(dask_ml_wrappers.ParallelPostFit):
    """dask-ml's ``ParallelPostFit`` for sequence estimators: blockwise prediction on 2-D or 3-D Dask arrays.

    ``fit`` fits the wrapped estimator as it is (on NumPy data, typically); the
    methods below then run it on each block of a Dask array ``X`` of shape
    (n_samples, n_timesteps, n_features), or (n_samples, n_timesteps), chunked
    along the samples only (a ValueError names any other chunking), and return
    Dask arrays chunked as ``X``'s rows. NumPy input goes straight to the
    estimator and returns its NumPy result. The estimators predict in batches
    of 256 samples: row chunks of a multiple of 256 give the bits of one call
    on the whole array; other chunks may differ in the last bits (float32).

    Parameters
    ----------
    estimator : estimator
        A fitted or unfitted :class:`~numbarnn.RNNRegressor`, :class:`~numbarnn.RNNClassifier`,
        or Pipeline ending in one (any scikit-learn estimator taking such arrays works).
    scoring : str or callable, optional
        Scorer for :meth:`score`; None uses accuracy for classifiers and R² for regressors.
    predict_meta, predict_proba_meta, transform_meta : ndarray, optional
        Empty arrays of the output's type and dtype; by default each method is
        run on one sample of zeros of ``X``'s shape and dtype, which also gives
        the output's shape. (The meta given replaces only the type and dtype.)

    Examples
    --------
    >>> import dask.array as da
    >>> import numpy as np
    >>> from numbarnn import RNNClassifier
    >>> from numbarnn.dask import ParallelPostFit
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(60, 5, 2))
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = ParallelPostFit(RNNClassifier(hidden_layer_sizes=(4,), random_state=0)).partial_fit(X, y, classes=[0, 1])
    >>> dX = da.from_array(X, chunks=(20, 5, 2))
    >>> clf.predict_proba(dX)
    dask.array<predict_proba, shape=(60, 2), dtype=float64, chunksize=(20, 2), chunktype=numpy.ndarray>
    >>> np.array_equal(clf.predict(dX).compute(), clf.predict(X))
    True
    """

    def _check_array(self, X):
        if isinstance(X, da.Array):
            return _check_blocks(X)
        return super()._check_array(X)

    def _map(self, method, X, meta=None):
        """``estimator.method`` on each block of the Dask array ``X`` (other input: the estimator's result)."""
        estimator = self._postfit_estimator
        self._check_method(method)
        if not isinstance(X, da.Array):
            return None
        X = self._check_array(X)
        # One sample of X's shape and dtype gives the output's trailing shape, dtype and type.
        sample = getattr(estimator, method)(np.zeros((1,) + X.shape[1:], dtype=X.dtype))
        if meta is None:
            meta = sample[:0]
        ndim = sample.ndim
        return X.map_blocks(
            _call,
            token=method,
            estimator=estimator,
            method=method,
            meta=meta,
            dtype=meta.dtype,
            chunks=(X.chunks[0],) + tuple((s,) for s in sample.shape[1:]),
            drop_axis=list(range(ndim, X.ndim)) if ndim < X.ndim else None,
            new_axis=list(range(X.ndim, ndim)) if ndim > X.ndim else None,
        )

    def predict(self, X):
        """Predict for ``X``, blockwise for a Dask array.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
            Dask arrays chunked along the samples only.

        Returns
        -------
        y : dask.array.Array for Dask input (rows chunked as ``X``'s), else the estimator's result
            Shape and dtype as the estimator's ``predict`` gives them: (n_samples,)
            labels or float64 targets, (n_samples, n_outputs), or with ``output='sequence'``
            (n_samples, n_timesteps[, n_outputs]).
        """
        result = self._map("predict", X, self.predict_meta)
        return super().predict(X) if result is None else result

    def predict_proba(self, X):
        """Class probabilities for ``X``, blockwise for a Dask array.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)

        Returns
        -------
        proba : dask.array.Array of float64 for Dask input, else ndarray
            Shape (n_samples, n_classes); with ``output='sequence'``, (n_samples, n_timesteps, n_classes).
        """
        result = self._map("predict_proba", X, self.predict_proba_meta)
        return super().predict_proba(X) if result is None else result

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba` (the estimator's ``predict_log_proba``, blockwise).

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)

        Returns
        -------
        log_proba : dask.array.Array of float64 for Dask input, else ndarray
            Shaped as :meth:`predict_proba`'s result.
        """
        result = self._map("predict_log_proba", X)
        return self._postfit_estimator.predict_log_proba(X) if result is None else result

    def transform(self, X):
        """Transform ``X`` (e.g. with a :class:`~numbarnn.SequenceScaler`), blockwise for a Dask array.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)

        Returns
        -------
        Xt : dask.array.Array for Dask input, else the estimator's result
        """
        result = self._map("transform", X, self.transform_meta)
        return super().transform(X) if result is None else result

    def score(self, X, y, compute=True):
        """Score on ``X`` and ``y``: with a Dask ``X``, only the predictions and ``y`` are gathered.

        Without ``scoring``, a classifier's score is the accuracy over all
        predicted labels (every step with ``output='sequence'``), a regressor's
        R², as the estimators' own ``score`` gives them on NumPy input.

        Parameters
        ----------
        X : dask.array.Array or array-like of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
        y : dask.array.Array or array-like of shape (n_samples,) or as the estimator's targets
        compute : bool, default=True
            False returns the score as a ``dask.delayed`` object (Dask ``X`` without ``scoring``).

        Returns
        -------
        score : float
        """
        estimator = self._postfit_estimator
        if self.scoring or not isinstance(X, da.Array) or not (is_classifier(estimator) or is_regressor(estimator)):
            return super().score(X, y, compute=compute)
        pred = self.predict(X)
        y = _rows_like(pred, y, "y")

        def metric(truth, predicted):
            if is_classifier(estimator):
                return float(accuracy_score(np.ravel(truth), np.ravel(predicted)))
            return float(r2_score(truth, predicted))

        value = dask.delayed(metric, pure=True)(y, pred)
        return value.compute() if compute else value


class Incremental(ParallelPostFit, dask_ml_wrappers.Incremental):
    """dask-ml's ``Incremental`` for sequence estimators: ``partial_fit`` over the blocks of 2-D or 3-D Dask arrays.

    ``fit`` trains a clone of the estimator, ``partial_fit`` continues the one
    trained so far (``estimator_``). With a Dask ``X`` of shape (n_samples,
    n_timesteps, n_features) or (n_samples, n_timesteps), chunked along the
    samples only, each block goes whole, as an ndarray, with the same rows of
    ``y`` (and of ``sample_weight``), to the estimator's ``partial_fit``, one
    block after the other, in a random order with ``shuffle_blocks``. For
    :class:`~numbarnn.RNNRegressor` and :class:`~numbarnn.RNNClassifier`, each
    block is one epoch over its samples in batches of the estimator's
    ``batch_size`` (shuffled within the block with its ``shuffle``): a pass over
    ``X`` trains one epoch over all of it. One block at a time must fit in a
    worker's memory, never all of ``X``. Prediction and scoring are those of
    :class:`ParallelPostFit`.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        :class:`~numbarnn.RNNRegressor` or :class:`~numbarnn.RNNClassifier`.
    scoring : str or callable, optional
        Scorer for :meth:`score`; None uses accuracy for classifiers and R² for regressors.
    shuffle_blocks : bool, default=True
        Visit the blocks in a random order (drawn from ``random_state``), else in order.
    random_state : int, RandomState instance or None, default=None
        Seeds the order of the blocks.
    assume_equal_chunks : bool, default=True
        Unused (kept for dask-ml's signature): ``y`` and ``sample_weight`` are rechunked to ``X``'s rows.
    predict_meta, predict_proba_meta, transform_meta : ndarray, optional
        As for :class:`ParallelPostFit`.

    Attributes
    ----------
    estimator_ : estimator
        The trained estimator; its fitted attributes (``classes_``, ``model_``,
        ``n_features_in_`` ...) are also set on the wrapper.

    Examples
    --------
    >>> import dask.array as da
    >>> from numbarnn import RNNClassifier
    >>> from numbarnn.dask import Incremental
    >>> X = da.random.default_rng(0).normal(size=(90, 5, 2), chunks=(30, 5, 2)).astype("float32")
    >>> y = (X[:, :, 0].sum(axis=1) > 0).astype(int)
    >>> clf = Incremental(RNNClassifier(hidden_layer_sizes=(4,), random_state=0), random_state=0)
    >>> clf.fit(X, y, classes=[0, 1]).estimator_.n_iter_  # one partial_fit per block
    3
    >>> clf.predict(X).shape
    (90,)
    """

    def fit(self, X, y=None, **fit_kwargs):
        """Train a clone of ``estimator`` with one ``partial_fit`` call per block of ``X``.

        For :class:`~numbarnn.RNNRegressor` and :class:`~numbarnn.RNNClassifier`,
        each call is one epoch over the block's samples in mini-batches of the
        estimator's ``batch_size`` (``max_iter``, ``tol`` and early stopping do
        not apply): one pass over ``X`` is one epoch over all of it; call
        :meth:`partial_fit` for more.

        Parameters
        ----------
        X : dask.array.Array of shape (n_samples, n_timesteps, n_features) or (n_samples, n_timesteps)
            Chunked along the samples only; or a NumPy array (one ``partial_fit`` call).
        y : dask.array.Array or ndarray of shape (n_samples,) or as the estimator's targets
            Rechunked to ``X``'s row blocks.
        **fit_kwargs
            Passed to each ``partial_fit`` call (``classes=`` on the first call
            of a classifier); ``sample_weight``, of shape (n_samples,), is cut
            into ``X``'s row blocks.

        Returns
        -------
        self
        """
        return super().fit(X, y, **fit_kwargs)

    def partial_fit(self, X, y=None, **fit_kwargs):
        """Continue training ``estimator_`` (a clone of ``estimator`` at first): one ``partial_fit`` call per block.

        Each call is one epoch over the block's samples in mini-batches of the
        estimator's ``batch_size``, as in :meth:`fit`.

        Parameters
        ----------
        X, y, **fit_kwargs
            As for :meth:`fit`.

        Returns
        -------
        self
        """
        return super().partial_fit(X, y, **fit_kwargs)

    def _fit_for_estimator(self, estimator, X, y, **fit_kwargs):
        """``partial_fit`` on each block of a Dask ``X`` in turn; other input goes to dask-ml's wrapper.

        Each block is one ``dask.compute``: a worker computes the block and trains
        the model it is sent, and only the model comes back. So one block at a
        time is held, whatever the scheduler's appetite for computing blocks
        ahead (in one graph, idle workers would compute the later blocks
        and hold them until the chain of ``partial_fit`` calls reached them).
        """
        if not isinstance(X, da.Array):
            return super()._fit_for_estimator(estimator, X, y, **fit_kwargs)
        check_scoring(estimator, self.scoring)
        X = self._check_array(X)
        X_blocks = X.to_delayed().ravel()
        y_blocks = _rows_like(X, y, "y").to_delayed().ravel()
        weights = fit_kwargs.pop("sample_weight", None)
        w_blocks = None if weights is None else _rows_like(X, weights, "sample_weight").to_delayed().ravel()
        order = np.arange(len(X_blocks))
        if self.shuffle_blocks:
            check_random_state(self.random_state).shuffle(order)
        for i in order:
            kwargs = fit_kwargs if w_blocks is None else {**fit_kwargs, "sample_weight": w_blocks[i]}
            (estimator,) = dask.compute(dask.delayed(_partial_fit)(estimator, X_blocks[i], y_blocks[i], kwargs))
        self.estimator_ = estimator
        for name, value in vars(estimator).items():
            if name.endswith("_"):
                setattr(self, name, value)
        return self
