"""scikit-learn estimators: RNNRegressor and RNNClassifier, recurrent networks that behave like MLPs.

One base class does the work: it checks the parameters and data in ``fit``,
builds a :class:`~numbarnn.Sequential` (stacked LSTM, GRU or SimpleRNN layers
and a Dense head), trains it on a copy, and assigns the fitted attributes only
when training completes, so a failed or interrupted ``fit`` leaves the
estimator as it was. The two subclasses add what differs: the targets, the
output layer and loss, and the score.
"""

import copy
import numbers
import sys
import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state, column_or_1d
from sklearn.utils.class_weight import compute_class_weight
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_array, check_is_fitted, validate_data

from . import initializers, optimizers, regularizers
from ._progress import ProgressBar
from ._sequences import is_ragged, pad_ragged, pad_targets
from ._validation import (
    Boolean,
    Interval,
    NoneOr,
    Options,
    check_float,
    check_int,
    check_sample_weight,
    validate_params,
)
from .callbacks import Callback
from .layers import GRU, LSTM, Bidirectional, Dense, SimpleRNN
from .models import Sequential

__all__ = ["RNNRegressor", "RNNClassifier"]

_LAYER_CLASSES = {"lstm": LSTM, "gru": GRU, "simple": SimpleRNN}
_OPTIMIZER_CLASSES = {"adam": optimizers.Adam, "rmsprop": optimizers.RMSprop, "sgd": optimizers.SGD}


def _check_hidden_layer_sizes(value, name):
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value,)
    try:
        sizes = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of ints; got {value!r}") from None
    if not sizes:
        raise ValueError(f"{name} must hold at least one layer size")
    return tuple(check_int(s, f"{name} entries", low=1) for s in sizes)


def _check_batch_size(value, name):
    if isinstance(value, str):
        if value != "auto":
            raise ValueError(f"{name} must be a positive int or 'auto'; got {value!r}")
        return
    if not (isinstance(value, numbers.Integral) and not isinstance(value, bool)):
        raise TypeError(f"{name} must be a positive int or 'auto'; got {value!r}")
    check_int(value, name, low=1)


class _EpochMonitor(Callback):
    """Per-epoch bookkeeping as scikit-learn's MLP does it: loss curve, tolerance, early stopping."""

    def __init__(self, est, validation, prior, total_epochs):
        super().__init__()
        self.est = est
        self.validation = validation
        self.loss_curve = list(prior.get("loss_curve", []))
        self.validation_scores = list(prior.get("validation_scores", []))
        self.best_loss = prior.get("best_loss", np.inf)
        self.best_score = prior.get("best_validation_score", -np.inf)
        self.best_weights = None
        self.no_improvement = 0
        self.epochs = 0
        self.stopped = False
        self.bar = ProgressBar(total_epochs, 1, stream=sys.stdout, unit="epoch") if est.verbose else None

    def on_epoch_end(self, epoch, logs=None):
        est, loss = self.est, float(logs["loss"])
        self.epochs += 1
        self.loss_curve.append(loss)
        if self.validation is not None:
            X, mask, y = self.validation
            score = est._score_encoded(self.model, X, mask, y)
            self.validation_scores.append(score)
            if score < self.best_score + est.tol:
                self.no_improvement += 1
            else:
                self.no_improvement = 0
            if score > self.best_score:
                self.best_score = score
                self.best_weights = self.model.get_weights()
        else:
            if loss > self.best_loss - est.tol:
                self.no_improvement += 1
            else:
                self.no_improvement = 0
            self.best_loss = min(self.best_loss, loss)
        if self.bar is not None:
            values = {"loss": loss}
            if self.validation_scores:
                values["validation score"] = self.validation_scores[-1]
            self.bar.update(self.epochs, values)
        if self.no_improvement > est.n_iter_no_change:
            self.stopped = True
            self.model.stop_training = True


class _BaseRNN(BaseEstimator):
    """Shared base of :class:`RNNRegressor` and :class:`RNNClassifier` (see those)."""

    def __init__(
        self,
        cell="lstm",
        hidden_layer_sizes=(64,),
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        alpha=0.0,
        optimizer="adam",
        learning_rate_init=1e-3,
        batch_size="auto",
        max_iter=200,
        shuffle=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        clipnorm=None,
        output="last",
        random_state=None,
        verbose=0,
        warm_start=False,
        dtype="float32",
        device="cpu",
    ):
        self.cell = cell
        self.hidden_layer_sizes = hidden_layer_sizes
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.alpha = alpha
        self.optimizer = optimizer
        self.learning_rate_init = learning_rate_init
        self.batch_size = batch_size
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.clipnorm = clipnorm
        self.output = output
        self.random_state = random_state
        self.verbose = verbose
        self.warm_start = warm_start
        self.dtype = dtype
        self.device = device

    # What each constructor parameter may be, checked in fit (random_state by check_random_state).
    _parameter_constraints = {
        "cell": Options(_LAYER_CLASSES),
        "hidden_layer_sizes": _check_hidden_layer_sizes,
        "bidirectional": Boolean(),
        "dropout": Interval(float, 0.0, 1.0, closed="left"),
        "recurrent_dropout": Interval(float, 0.0, 1.0, closed="left"),
        "alpha": Interval(float, 0.0, None),
        "optimizer": Options(_OPTIMIZER_CLASSES),
        "learning_rate_init": Interval(float, 0.0, None, closed="neither"),
        "batch_size": _check_batch_size,
        "max_iter": Interval(int, 1, None),
        "shuffle": Boolean(),
        "tol": Interval(float, 0.0, None),
        "early_stopping": Boolean(),
        "validation_fraction": Interval(float, 0.0, 1.0, closed="neither"),
        "n_iter_no_change": Interval(int, 1, None),
        "clipnorm": NoneOr(Interval(float, 0.0, None, closed="neither")),
        "output": Options(("last", "sequence")),
        "verbose": Interval(int, 0, None),
        "warm_start": Boolean(),
        "dtype": Options(("float32", "float64", np.float32, np.float64)),
        "device": Options(("cpu", "cuda")),
    }

    # -- parameters ---------------------------------------------------------
    def _validate_params(self):
        validate_params(self.get_params(deep=False), self._parameter_constraints)
        return _check_hidden_layer_sizes(self.hidden_layer_sizes, "hidden_layer_sizes")

    # -- input ----------------------------------------------------------------
    def _check_X(self, X, reset):
        """Return (X3 (samples, steps, features), mask or None, kind); set n_features_in_ when ``reset``.

        ``kind`` is '2d', '3d' or 'ragged' (a list of sequences of different lengths).
        """
        dtype = np.dtype(self.dtype)
        if X is None:
            raise ValueError(f"{type(self).__name__} needs X; got None")
        if not sp.issparse(X) and is_ragged(X):
            X3, mask = pad_ragged(X, dtype)
            kind = "ragged"
        else:
            nd = None if sp.issparse(X) else getattr(X, "ndim", None)
            if nd is None and not sp.issparse(X):
                nd = np.asarray(X).ndim
            if nd == 3:
                X3 = check_array(X, allow_nd=True, dtype=dtype, ensure_min_features=1, input_name="X")
                if X3.shape[1] == 0 or X3.shape[2] == 0:
                    raise ValueError(f"X must have at least one step and one feature; got shape {X3.shape}")
                mask, kind = None, "3d"
            else:
                fitted_2d = getattr(self, "_input_kind", "2d") == "2d"
                if reset or fitted_2d:
                    X2 = validate_data(self, X, reset=reset, dtype=dtype)
                else:
                    X2 = check_array(X, dtype=dtype, input_name="X")
                X3, mask, kind = X2[:, :, None], None, "2d"
        n_features = X3.shape[1] if kind == "2d" else X3.shape[2]
        if reset:
            self._input_kind = kind
            self.n_features_in_ = n_features
            if kind != "2d" and hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
        elif self._input_kind == "2d" and kind != "2d":
            if X3.shape[1:] != (self.n_features_in_, 1):
                raise ValueError(
                    f"X has shape {np.shape(X) if kind == '3d' else 'a list of sequences'}, but "
                    f"{type(self).__name__} was fitted on 2-D input of {self.n_features_in_} steps"
                )
        elif self._input_kind != "2d" and X3.shape[2] != self.n_features_in_:
            raise ValueError(
                f"X has {X3.shape[2]} features per step, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features per step as input"
            )
        return np.ascontiguousarray(X3), mask, kind

    def _check_sample_weight(self, sample_weight, n):
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
            if sample_weight.ndim == 0:
                sample_weight = np.full(n, sample_weight)
        w = check_sample_weight(sample_weight, n, per_step=False)
        if w is not None and w.sum() <= 0:
            raise ValueError("sample_weight must not be all zeros")
        return w

    # -- model ------------------------------------------------------------------
    def _build_model(self, sizes, n_features, n_outputs, activation, loss, rng, batch_size):
        """The network, compiled, and the generator its fits draw shuffling and dropout from."""
        dtype = np.dtype(self.dtype).name
        # MLP's penalty: alpha * ||W||^2 / (2 * batch size) per batch, so its gradient is alpha * W / batch size.
        reg = regularizers.L2(0.5 * self.alpha / batch_size) if self.alpha > 0 else None
        # Every seed is drawn here, in one fixed order: each layer's kernels, the head's, then each
        # backward direction's, then the training generator's.
        layer_seeds = [(int(rng.randint(2**31 - 1)), int(rng.randint(2**31 - 1))) for _ in sizes]
        head_seed = int(rng.randint(2**31 - 1))
        backward_seeds = [(int(rng.randint(2**31 - 1)), int(rng.randint(2**31 - 1))) for _ in sizes] \
            if self.bidirectional else None  # fmt: skip
        generator = np.random.default_rng(int(rng.randint(2**31 - 1)))

        def recurrent(i, units, seeds, **extra):
            return _LAYER_CLASSES[self.cell](
                units,
                return_sequences=(i < len(sizes) - 1) or self.output == "sequence",
                dropout=self.dropout,
                recurrent_dropout=self.recurrent_dropout,
                kernel_initializer=initializers.GlorotUniform(seeds[0]),
                recurrent_initializer=initializers.Orthogonal(seed=seeds[1]),
                kernel_regularizer=reg,
                recurrent_regularizer=reg,
                dtype=dtype,
                **extra,
            )

        layers = []
        for i, units in enumerate(sizes):
            shape = {"input_shape": (None, n_features)} if i == 0 else {}
            layer = recurrent(i, units, layer_seeds[i], **shape)
            if self.bidirectional:
                backward = recurrent(i, units, backward_seeds[i], go_backwards=True)
                layer = Bidirectional(layer, backward_layer=backward)
            layers.append(layer)
        layers.append(
            Dense(n_outputs, activation=activation, kernel_initializer=initializers.GlorotUniform(head_seed),
                  kernel_regularizer=reg, dtype=dtype)  # fmt: skip
        )
        model = Sequential(layers)
        opt_class = _OPTIMIZER_CLASSES[self.optimizer]
        extra = {"momentum": 0.9, "nesterov": True} if self.optimizer == "sgd" else {}
        opt = opt_class(learning_rate=self.learning_rate_init, clipnorm=self.clipnorm, **extra)
        model.compile(optimizer=opt, loss=loss, device=self.device)
        model._use_exact_row_sums()  # weighted fits equal fits on repeated rows; row order does not matter
        return model, generator

    @staticmethod
    def _copy_model(model, generator):
        """Independent copies of the model (weights, optimizer state) and its generator, for a rollback."""
        clone = copy.deepcopy(model)
        clone.history = None
        return clone, copy.deepcopy(generator)

    # -- fitting ----------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the model to sequences ``X`` and targets ``y``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_timesteps) or (n_samples, n_timesteps, n_features), or list of arrays
            A 2-D array is read as one feature per step; a list holds sequences of
            shape (n_timesteps_i, n_features) of different lengths (padded and masked inside).
        y : array-like
            See the class docstring for the shapes.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=False)

    def _fit(self, X, y, sample_weight, incremental, classes=None):
        saved = dict(self.__dict__)
        try:
            return self._fit_inner(X, y, sample_weight, incremental, classes)
        except BaseException:
            # Transactional: nothing of a failed or interrupted fit stays on the estimator.
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _fit_inner(self, X, y, sample_weight, incremental, classes):
        sizes = self._validate_params()
        if y is None:
            raise ValueError(f"{type(self).__name__} requires y to be passed, but the target y is None.")
        continuing = (incremental or self.warm_start) and hasattr(self, "model_")
        X3, mask, kind = self._check_X(X, reset=not continuing)
        ragged = kind == "ragged"
        lengths = mask.sum(axis=1) if mask is not None else None
        y_enc, n_outputs, activation, loss = self._encode_targets(y, X3, lengths, ragged, continuing, classes)
        n = X3.shape[0]
        sw = self._check_sample_weight(sample_weight, n)
        sw = self._add_class_weight(sw, y_enc, n)  # each batch's loss is the weighted mean of its samples'

        rng = check_random_state(self.random_state)
        if continuing:
            # (a model fitted before the generator moved onto the estimator continues from a fresh one)
            model, generator = self._copy_model(self.model_, getattr(self, "_generator", None))
            if model.device != self.device:
                model._set_device(self.device)
            if generator is None:
                generator = np.random.default_rng(rng.randint(2**31 - 1))
            prior = {"loss_curve": self.loss_curve_, "validation_scores": self.validation_scores_ or [],
                     "best_loss": self.best_loss_ if self.best_loss_ is not None else np.inf,
                     "best_validation_score": self.best_validation_score_ or -np.inf}  # fmt: skip
            n_iter, t = self.n_iter_, self.t_
        else:
            model, generator = self._build_model(sizes, X3.shape[2], n_outputs, activation, loss, rng,
                                                 self._batch_size(n))  # fmt: skip
            prior, n_iter, t = {}, 0, 0

        validation = None
        train_idx = np.arange(n)
        if self.early_stopping and not incremental:
            stratify = y_enc if (self._is_classifier() and self.output == "last") else None
            train_idx, val_idx = train_test_split(train_idx, test_size=self.validation_fraction,
                                                  random_state=rng.randint(2**31 - 1), stratify=stratify)  # fmt: skip
            validation = (X3[val_idx], None if mask is None else mask[val_idx], y_enc[val_idx])
            if len(train_idx) == 0 or len(val_idx) == 0:
                raise ValueError(f"validation_fraction={self.validation_fraction} leaves no training or validation data")

        epochs = 1 if incremental else self.max_iter
        monitor = _EpochMonitor(self, validation, prior, epochs)
        if validation is None:  # the data as given: no copy
            Xt, yt, wt, mt = X3, y_enc, sw, mask
        else:
            Xt, yt = X3[train_idx], y_enc[train_idx]
            wt = None if sw is None else sw[train_idx]
            mt = None if mask is None else mask[train_idx]
        model.fit(
            Xt,
            yt,
            batch_size=self._batch_size(len(Xt)),
            epochs=epochs,
            verbose=0,
            shuffle=bool(self.shuffle),
            sample_weight=wt,
            callbacks=[monitor],
            mask=mt,
            seed=generator,
        )
        if monitor.bar is not None:
            monitor.bar.target = monitor.epochs
            monitor.bar.finish({"loss": monitor.loss_curve[-1]})
        if validation is not None and monitor.best_weights is not None:
            model.set_weights(monitor.best_weights)  # as MLP: keep the best validation epoch
        if not incremental and not monitor.stopped and monitor.epochs == self.max_iter:
            warnings.warn(
                f"{type(self).__name__}: maximum iterations ({self.max_iter}) reached and the optimization "
                f"hasn't converged yet.",
                ConvergenceWarning,
                stacklevel=3,
            )
        model.history = None

        # Training completed: assign the fitted attributes together.
        self.model_ = model
        self._generator = generator
        self.loss_curve_ = monitor.loss_curve
        self.n_iter_ = n_iter + monitor.epochs
        self.t_ = t + monitor.epochs * len(train_idx)
        self.n_outputs_ = n_outputs
        if validation is not None or (continuing and self.validation_scores_ is not None):
            self.validation_scores_ = monitor.validation_scores
            self.best_validation_score_ = float(monitor.best_score)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = float(min(monitor.loss_curve))
        return self

    def _batch_size(self, n):
        """Samples per batch for ``n`` samples: ``batch_size``, or min(200, n) for 'auto', at most ``n``."""
        return min(200 if self.batch_size == "auto" else self.batch_size, n)

    def _is_classifier(self):
        return isinstance(self, ClassifierMixin)

    def _add_class_weight(self, sw, y_enc, n):
        return sw

    def _raw_predict(self, X):
        check_is_fitted(self, "model_")
        X3, mask, _ = self._check_X(X, reset=False)
        return self.model_.predict(X3, batch_size=256, verbose=0, mask=mask), mask

    def _score_encoded(self, model, X, mask, y):
        raise NotImplementedError

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.three_d_array = True
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = False
        return tags


class RNNRegressor(RegressorMixin, _BaseRNN):
    """Recurrent-network regressor (LSTM, GRU or SimpleRNN layers and a linear head), trained on MSE.

    Parameters
    ----------
    cell : {'lstm', 'gru', 'simple'}, default='lstm'
        Recurrent cell.
    hidden_layer_sizes : tuple of int, default=(64,)
        Units of each recurrent layer, stacked in order.
    bidirectional : bool, default=False
        Read the sequences both ways (each layer wrapped in Bidirectional, outputs concatenated).
    dropout, recurrent_dropout : float in [0, 1), default=0.0
        Dropout on the inputs and on the recurrent state of every recurrent layer while training.
    alpha : float, default=0.0
        L2 penalty on every kernel, as MLP's: ``alpha * sum(w**2) / (2 * batch_size)``
        added to each batch's loss.
    optimizer : {'adam', 'rmsprop', 'sgd'}, default='adam'
        'sgd' uses Nesterov momentum 0.9, as MLP's default.
    learning_rate_init : float, default=1e-3
    batch_size : int or 'auto', default='auto'
        Samples per batch (at most the number of samples); 'auto' is
        ``min(200, n_samples)``, as MLP's. Each batch's loss is the weighted mean
        of its samples' losses, and the gradient sums over its rows are taken in
        float64, so a fit with integer ``sample_weight`` equals a fit on the rows
        repeated, and the order of the rows in a batch does not matter.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with early stopping)
        has not improved by ``tol`` for more than ``n_iter_no_change`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop on its score and keep the best epoch's weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    clipnorm : float, optional
        Clip each gradient array to this norm.
    output : {'last', 'sequence'}, default='last'
        One prediction per sequence, or one per time step.
    random_state : int, RandomState instance or None, default=None
        Fixes the initial weights, the shuffling, dropout and the validation split:
        the same value gives the same model, bit for bit, at a fixed thread count.
    verbose : int, default=0
        1 shows a progress bar over the epochs with the loss.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.
    dtype : {'float32', 'float64'}, default='float32'
        Working precision.
    device : {'cpu', 'cuda'}, default='cpu'
        Where the network trains and predicts. ``'cuda'`` (``pip install
        "numbarnn[cuda]"`` and an NVIDIA GPU) runs every training step and
        prediction on the GPU (see :meth:`numbarnn.Sequential.compile`); a
        fitted estimator pickles host arrays and, where there is no GPU,
        predicts on the CPU with a warning.

    Input ``X``: array of shape (n_samples, n_timesteps), read as one feature per
    step; or (n_samples, n_timesteps, n_features); or a list of arrays of shape
    (n_timesteps_i, n_features) with different lengths, padded and masked exactly.

    Targets ``y``: (n_samples,) or (n_samples, n_outputs); with ``output='sequence'``,
    (n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs) (a list of arrays for list input).

    Attributes
    ----------
    model_ : Sequential
        The trained network.
    loss_curve_ : list of float
        Training loss after each epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Score on the held-out data after each epoch (early stopping only).
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples seen.
    n_features_in_ : int
        For 2-D input the number of steps (which predict then requires); for 3-D or
        list input the number of features per step (any length is accepted at predict).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when X was a DataFrame with string column names.
    n_outputs_ : int
        Width of the output layer.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import RNNRegressor
    >>> rng = np.random.default_rng(0)
    >>> X = rng.random((200, 8))            # 200 sequences of 8 steps, one feature
    >>> y = X.sum(axis=1)
    >>> reg = RNNRegressor(hidden_layer_sizes=(16,), max_iter=30, random_state=0).fit(X, y)
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    def _encode_targets(self, y, X3, lengths, ragged, continuing, classes):
        if self.output == "sequence" and ragged:
            y = pad_targets(y, lengths)
        y = check_array(y, ensure_2d=False, allow_nd=True, dtype=np.dtype(self.dtype), input_name="y")
        n, T = X3.shape[:2]
        if y.shape[0] != n:
            raise ValueError(f"X and y must hold the same number of samples; got {n} and {y.shape[0]}")
        if self.output == "last":
            if y.ndim not in (1, 2):
                raise ValueError(f"y must have shape (n_samples,) or (n_samples, n_outputs); got {y.shape}")
            y_enc = y.reshape(n, -1)
        else:
            if y.ndim not in (2, 3) or y.shape[1] != T:
                raise ValueError(
                    f"with output='sequence', y must have shape (n_samples, {T}) or (n_samples, {T}, n_outputs); "
                    f"got {y.shape}"
                )
            y_enc = y.reshape(n, T, -1)
        n_outputs = y_enc.shape[-1]
        if continuing and n_outputs != self.n_outputs_:
            raise ValueError(f"y has {n_outputs} outputs but the fitted model has {self.n_outputs_}")
        if not continuing:
            self._y_shape = y.shape[1:]
        return y_enc, n_outputs, None, "mse"

    def predict(self, X):
        """Predict targets.

        Parameters
        ----------
        X : array-like or list of arrays
            As for :meth:`fit`.

        Returns
        -------
        y : ndarray of float64 of shape (n_samples,) or (n_samples, n_outputs); with
            ``output='sequence'``, (n_samples, n_timesteps) or (n_samples, n_timesteps, n_outputs)
        """
        pred, _ = self._raw_predict(X)
        pred = pred.astype(np.float64)  # computed in ``dtype``, returned in float64 as scikit-learn regressors do
        if self.output == "last":
            return pred[:, 0] if self._y_shape == () else pred
        return pred[..., 0] if len(self._y_shape) == 1 else pred

    def partial_fit(self, X, y, sample_weight=None):
        """Train for one epoch on ``X``, ``y``, continuing from the current model.

        Returns
        -------
        self
        """
        return self._fit(X, y, sample_weight, incremental=True)

    def _score_encoded(self, model, X, mask, y):
        pred = model.predict(X, batch_size=256, verbose=0, mask=mask)
        return float(r2_score(y.reshape(len(y), -1), pred.reshape(len(pred), -1)))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class RNNClassifier(ClassifierMixin, _BaseRNN):
    """Recurrent-network classifier (LSTM, GRU or SimpleRNN layers and a sigmoid or softmax head).

    Parameters
    ----------
    cell : {'lstm', 'gru', 'simple'}, default='lstm'
        Recurrent cell.
    hidden_layer_sizes : tuple of int, default=(64,)
        Units of each recurrent layer, stacked in order.
    bidirectional : bool, default=False
        Read the sequences both ways (each layer wrapped in Bidirectional, outputs concatenated).
    dropout, recurrent_dropout : float in [0, 1), default=0.0
        Dropout on the inputs and on the recurrent state of every recurrent layer while training.
    alpha : float, default=0.0
        L2 penalty on every kernel, as MLP's: ``alpha * sum(w**2) / (2 * batch_size)``
        added to each batch's loss.
    optimizer : {'adam', 'rmsprop', 'sgd'}, default='adam'
        'sgd' uses Nesterov momentum 0.9, as MLP's default.
    learning_rate_init : float, default=1e-3
    batch_size : int or 'auto', default='auto'
        Samples per batch (at most the number of samples); 'auto' is
        ``min(200, n_samples)``, as MLP's. Each batch's loss is the weighted mean
        of its samples' losses, and the gradient sums over its rows are taken in
        float64, so a fit with integer ``sample_weight`` equals a fit on the rows
        repeated, and the order of the rows in a batch does not matter.
    max_iter : int, default=200
        Maximum number of epochs.
    shuffle : bool, default=True
        Shuffle the samples every epoch.
    tol : float, default=1e-4
        Training stops when the loss (or the validation score, with early stopping)
        has not improved by ``tol`` for more than ``n_iter_no_change`` epochs.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` of the data, stop on its score and keep the best epoch's weights.
    validation_fraction : float, default=0.1
    n_iter_no_change : int, default=10
    clipnorm : float, optional
        Clip each gradient array to this norm.
    output : {'last', 'sequence'}, default='last'
        One prediction per sequence, or one per time step.
    random_state : int, RandomState instance or None, default=None
        Fixes the initial weights, the shuffling, dropout and the validation split:
        the same value gives the same model, bit for bit, at a fixed thread count.
    verbose : int, default=0
        1 shows a progress bar over the epochs with the loss.
    warm_start : bool, default=False
        Continue training the fitted model on the next call to ``fit``.
    dtype : {'float32', 'float64'}, default='float32'
        Working precision.
    device : {'cpu', 'cuda'}, default='cpu'
        Where the network trains and predicts. ``'cuda'`` (``pip install
        "numbarnn[cuda]"`` and an NVIDIA GPU) runs every training step and
        prediction on the GPU (see :meth:`numbarnn.Sequential.compile`); a
        fitted estimator pickles host arrays and, where there is no GPU,
        predicts on the CPU with a warning.

    Input ``X``: array of shape (n_samples, n_timesteps), read as one feature per
    step; or (n_samples, n_timesteps, n_features); or a list of arrays of shape
    (n_timesteps_i, n_features) with different lengths, padded and masked exactly.
    class_weight : 'balanced', dict or None, default=None
        Weight of each class in the loss (``output='last'``).

    Targets ``y``: labels of any type, shape (n_samples,); with ``output='sequence'``,
    (n_samples, n_timesteps) (a list of arrays for list input). Two classes use a
    sigmoid output and binary cross-entropy, more a softmax and cross-entropy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    model_ : Sequential
        The trained network.
    loss_curve_ : list of float
        Training loss after each epoch.
    best_loss_ : float or None
        Lowest training loss (None with early stopping).
    validation_scores_ : list of float or None
        Score on the held-out data after each epoch (early stopping only).
    best_validation_score_ : float or None
    n_iter_ : int
        Epochs run.
    t_ : int
        Training samples seen.
    n_features_in_ : int
        For 2-D input the number of steps (which predict then requires); for 3-D or
        list input the number of features per step (any length is accepted at predict).
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when X was a DataFrame with string column names.
    n_outputs_ : int
        Width of the output layer.

    Examples
    --------
    >>> import numpy as np
    >>> from numbarnn import RNNClassifier
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 6, 2))
    >>> y = np.where(X[:, :, 0].sum(axis=1) > 0, "up", "down")
    >>> clf = RNNClassifier(cell="gru", hidden_layer_sizes=(8,), max_iter=20, random_state=0).fit(X, y)
    >>> clf.classes_
    array(['down', 'up'], dtype='<U4')
    >>> clf.predict_proba(X[:3]).shape
    (3, 2)
    """

    def __init__(
        self,
        cell="lstm",
        hidden_layer_sizes=(64,),
        bidirectional=False,
        dropout=0.0,
        recurrent_dropout=0.0,
        alpha=0.0,
        optimizer="adam",
        learning_rate_init=1e-3,
        batch_size="auto",
        max_iter=200,
        shuffle=True,
        tol=1e-4,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        clipnorm=None,
        output="last",
        random_state=None,
        verbose=0,
        warm_start=False,
        dtype="float32",
        class_weight=None,
        device="cpu",
    ):
        super().__init__(
            cell=cell, hidden_layer_sizes=hidden_layer_sizes, bidirectional=bidirectional, dropout=dropout,
            recurrent_dropout=recurrent_dropout, alpha=alpha, optimizer=optimizer,
            learning_rate_init=learning_rate_init, batch_size=batch_size, max_iter=max_iter, shuffle=shuffle, tol=tol,
            early_stopping=early_stopping, validation_fraction=validation_fraction,
            n_iter_no_change=n_iter_no_change, clipnorm=clipnorm, output=output, random_state=random_state,
            verbose=verbose, warm_start=warm_start, dtype=dtype, device=device,
        )  # fmt: skip
        self.class_weight = class_weight

    def _encode_targets(self, y, X3, lengths, ragged, continuing, classes):
        n, T = X3.shape[:2]
        if self.output == "sequence":
            if ragged:
                y = pad_targets(y, lengths)
            y = np.asarray(y)
            if y.shape != (n, T):
                raise ValueError(f"with output='sequence', y must have shape (n_samples, {T}); got {y.shape}")
            flat = y.ravel() if lengths is None else y[np.arange(T) < lengths[:, None]]
            labels_source = flat
        else:
            y = column_or_1d(y, warn=True)
            if y.shape[0] != n:
                raise ValueError(f"X and y must hold the same number of samples; got {n} and {y.shape[0]}")
            labels_source = y
        check_classification_targets(labels_source)
        if continuing:
            known = self.classes_
            unseen = np.setdiff1d(np.unique(labels_source), known)
            if unseen.size:
                raise ValueError(f"y holds labels {unseen.tolist()} not among classes_ {known.tolist()}")
        elif classes is not None:
            known = np.unique(np.asarray(classes))
            unseen = np.setdiff1d(np.unique(labels_source), known)
            if unseen.size:
                raise ValueError(f"y holds labels {unseen.tolist()} not in classes={known.tolist()}")
        else:
            known = np.unique(labels_source)
        if len(known) < 2:
            raise ValueError(
                f"y has 1 class ({known[0]!r}); {type(self).__name__} needs at least two classes to train"
                if len(known) == 1 else "y holds no labels"
            )
        if self.output == "sequence" and lengths is not None:
            y = np.where(np.arange(T) < lengths[:, None], y, known[0])  # padded steps: any valid label
        y_enc = np.searchsorted(known, y).astype(np.int64)
        if not continuing:
            self.classes_ = known
        if len(known) == 2:
            return y_enc.astype(np.dtype(self.dtype))[..., None], 1, "sigmoid", "binary_crossentropy"
        return y_enc, len(known), "softmax", "sparse_categorical_crossentropy"

    def _add_class_weight(self, sw, y_enc, n):
        if self.class_weight is None:
            return sw
        if self.output != "last":
            raise ValueError("class_weight is supported with output='last' only; use sample_weight per sequence")
        labels = y_enc.reshape(n, -1)[:, 0].astype(np.int64)
        if isinstance(self.class_weight, str):
            if self.class_weight != "balanced":
                raise ValueError(f"class_weight must be 'balanced', a dict or None; got {self.class_weight!r}")
            table = compute_class_weight("balanced", classes=np.arange(len(self.classes_)), y=labels)
        elif isinstance(self.class_weight, dict):
            table = np.ones(len(self.classes_))
            for label, weight in self.class_weight.items():
                idx = np.searchsorted(self.classes_, label)
                if idx >= len(self.classes_) or self.classes_[idx] != label:
                    raise ValueError(f"class_weight has a weight for {label!r}, which is not a class in y")
                table[idx] = check_float(weight, f"class_weight[{label!r}]", 0.0)
        else:
            raise TypeError(f"class_weight must be 'balanced', a dict or None; got {type(self.class_weight).__name__}")
        cw = table[labels]
        return cw if sw is None else sw * cw

    def partial_fit(self, X, y, classes=None, sample_weight=None):
        """Train for one epoch on ``X``, ``y``, continuing from the current model.

        Parameters
        ----------
        X, y : as for :meth:`fit`
        classes : array-like, optional
            Every label that may appear; required on the first call.
        sample_weight : array-like of shape (n_samples,), optional

        Returns
        -------
        self
        """
        if not hasattr(self, "model_") and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit")
        return self._fit(X, y, sample_weight, incremental=True, classes=classes)

    def predict_proba(self, X):
        """Class probabilities.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes); with ``output='sequence'``,
            (n_samples, n_timesteps, n_classes). Columns follow ``classes_``.
        """
        pred, _ = self._raw_predict(X)
        pred = pred.astype(np.float64)
        if len(self.classes_) == 2:
            pred = np.concatenate([1.0 - pred, pred], axis=-1)
        return pred

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Predict class labels.

        Returns
        -------
        y : ndarray of shape (n_samples,), or (n_samples, n_timesteps) with ``output='sequence'``
        """
        check_is_fitted(self, "model_")
        return self.classes_[self.predict_proba(X).argmax(axis=-1)]

    def score(self, X, y, sample_weight=None):
        """Mean accuracy (over all steps, padded ones excluded, with ``output='sequence'``)."""
        if self.output == "last":
            return super().score(X, y, sample_weight)
        pred = self.predict(X)
        if is_ragged(X):
            return float(np.mean(np.concatenate([p[: len(t)] == np.asarray(t) for p, t in zip(pred, y)])))
        return float(accuracy_score(np.asarray(y).ravel(), pred.ravel()))

    def _score_encoded(self, model, X, mask, y):
        pred = model.predict(X, batch_size=256, verbose=0, mask=mask)
        labels = (pred[..., 0] > 0.5).astype(np.int64) if pred.shape[-1] == 1 else pred.argmax(axis=-1)
        truth = y[..., 0] if (y.ndim == labels.ndim + 1) else y
        ok = labels == truth.astype(np.int64)
        return float(ok[mask].mean() if (mask is not None and ok.ndim == 2) else ok.mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = False
        return tags


