"""Callbacks for ``Sequential.fit``, with Keras's names and behaviour.

A callback gets ``set_model(model)`` and then ``on_train_begin``,
``on_epoch_begin``, ``on_train_batch_begin``/``end``, ``on_epoch_end`` and
``on_train_end`` calls; ``logs`` is a dict of floats (``loss``, metrics, and
``val_*`` after validation). Setting ``model.stop_training = True`` ends
training after the current epoch.
"""

import math
import os
import sys
import warnings

import numpy as np

from ._missing import missing_names
from ._progress import ProgressBar

__all__ = ["Callback", "History", "ProgbarLogger", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau", "LambdaCallback",
           "BackupAndRestore"]


class Callback:
    """Base class; override the hooks you need. ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass

    def resume_epoch(self):
        """The epoch a restored fit continues from (``BackupAndRestore``), or None; asked after ``on_train_begin``."""
        return None


class History(Callback):
    """Records ``logs`` after every epoch: ``history.history['loss'][i]`` is epoch i's loss.

    Attributes
    ----------
    history : dict of str to list of float
    epoch : list of int
    """

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)


class ProgbarLogger(Callback):
    """Prints ``Epoch i/n`` and a live bar (``verbose=1``) or one line per epoch (``verbose=2``)."""

    def __init__(self, verbose=1, stream=None):
        super().__init__()
        self.verbose = verbose
        self.stream = stream

    def on_epoch_begin(self, epoch, logs=None):
        stream = self.stream or sys.stdout
        stream.write(f"Epoch {epoch + 1}/{self.params.get('epochs')}\n")
        self._bar = ProgressBar(self.params.get("steps", 0), self.verbose, stream=stream)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(batch + 1, logs)

    def on_epoch_end(self, epoch, logs=None):
        self._bar.finish(logs)


def _monitor_op(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max'; got {mode!r}")
    if mode == "auto":
        mode = "max" if any(k in monitor for k in ("acc", "auc")) else "min"
    return mode


class _Monitor(Callback):
    def __init__(self, monitor, mode, min_delta):
        super().__init__()
        if not isinstance(monitor, str):
            raise TypeError(f"monitor must be the name of a logged value such as 'val_loss'; got {monitor!r}")
        self.monitor = monitor
        self.mode = _monitor_op(monitor, mode)
        self.min_delta = abs(float(min_delta))

    def _improved(self, current, reference):
        if reference is None:
            return True
        if self.mode == "min":
            return current < reference - self.min_delta
        return current > reference + self.min_delta

    def _current(self, logs):
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(
                f"{type(self).__name__} is monitoring {self.monitor!r}, which is not logged; "
                f"available: {sorted(logs or {})}",
                RuntimeWarning,
                stacklevel=3,
            )
        return value


class EarlyStopping(_Monitor):
    """Stop training when ``monitor`` has not improved for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default='val_loss'
    min_delta : float, default=0
        Smallest change that counts as an improvement.
    patience : int, default=0
        Epochs without improvement before stopping.
    verbose : int, default=0
    mode : {'auto', 'min', 'max'}, default='auto'
        'auto' maximises accuracy-like quantities and minimises the rest.
    baseline : float, optional
        Training stops if the quantity does not improve on it within ``patience`` epochs.
    restore_best_weights : bool, default=False
        When stopping, restore the weights of the best epoch.
    start_from_epoch : int, default=0
        Epochs to wait before starting to monitor.

    Attributes
    ----------
    stopped_epoch : int
        Epoch (0-based) at which training stopped, 0 if it did not.
    best_epoch : int
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto", baseline=None,
                 restore_best_weights=False, start_from_epoch=0):  # fmt: skip
        super().__init__(monitor, mode, min_delta)
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0; got {patience!r}")
        self.patience = int(patience)
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = bool(restore_best_weights)
        self.start_from_epoch = int(start_from_epoch)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        current = self._current(logs)
        if current is None or epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
        self.wait += 1
        if self._improved(current, self.best):
            self.best, self.best_epoch = current, epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._improved(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.restore_best_weights and self.best_weights is not None:
                if self.verbose:
                    print(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
                self.model.set_weights(self.best_weights)

    def on_train_end(self, logs=None):
        if self.stopped_epoch and self.verbose:
            print(f"Epoch {self.stopped_epoch + 1}: early stopping")


class ModelCheckpoint(_Monitor):
    """Save the model (or only its weights) after every epoch, or only when ``monitor`` improves.

    Parameters
    ----------
    filepath : str or path-like
        May hold format fields: ``'model-{epoch:02d}-{val_loss:.2f}.keras'``. Ends in ``.keras``
        (a Keras 3 model file), or in ``.weights.h5`` with ``save_weights_only=True``.
    monitor : str, default='val_loss'
    verbose : int, default=0
    save_best_only : bool, default=False
    save_weights_only : bool, default=False
    mode : {'auto', 'min', 'max'}, default='auto'
    save_freq : 'epoch' or int, default='epoch'
        Save at the end of every epoch, or after every ``save_freq`` batches (counted across
        epochs; with ``save_best_only`` the monitored value is then the running batch value,
        such as 'loss'). The path may then hold ``{batch}`` too.
    initial_value_threshold : float, optional
        A value the monitored quantity must beat before the first save.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False, save_weights_only=False,
                 mode="auto", save_freq="epoch", initial_value_threshold=None):  # fmt: skip
        super().__init__(monitor, mode, 0.0)
        self.filepath = str(filepath)
        self.verbose = verbose
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        suffix = ".weights.h5" if self.save_weights_only else ".keras"
        if not self.filepath.endswith(suffix):
            raise ValueError(
                f"ModelCheckpoint writes Keras 3 files: with save_weights_only={self.save_weights_only} the filepath "
                f"must end in {suffix!r}; got {self.filepath!r}"
            )
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, (int, np.integer))
                                     or save_freq < 1):  # fmt: skip
            raise ValueError(f"save_freq must be 'epoch' or a number of batches >= 1; got {save_freq!r}")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        self._epoch = 0
        self._batches_since_save = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq == "epoch":
            return
        self._batches_since_save += 1
        if self._batches_since_save >= self.save_freq:
            self._batches_since_save = 0
            self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch, batch, logs):
        fields = {"epoch": epoch + 1, **logs} if batch is None else {"epoch": epoch + 1, "batch": batch + 1, **logs}
        path = self.filepath.format(**fields)
        where = f"Epoch {epoch + 1}" + ("" if batch is None else f", batch {batch + 1}")
        if self.save_best_only:
            current = self._current(logs)
            if current is None or not self._improved(current, self.best):
                return
            if self.verbose:
                print(f"{where}: {self.monitor} improved from {self.best} to {current:.5f}, saving to {path}")
            self.best = current
        elif self.verbose:
            print(f"{where}: saving model to {path}")
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply the learning rate by ``factor`` when ``monitor`` stops improving for ``patience`` epochs.

    Parameters
    ----------
    monitor : str, default='val_loss'
    factor : float, default=0.1
        Must be below 1.
    patience : int, default=10
    verbose : int, default=0
    mode : {'auto', 'min', 'max'}, default='auto'
    min_delta : float, default=1e-4
    cooldown : int, default=0
        Epochs to wait after a reduction before counting again.
    min_lr : float, default=0.0
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto", min_delta=1e-4,
                 cooldown=0, min_lr=0.0):  # fmt: skip
        super().__init__(monitor, mode, min_delta)
        if not 0 < float(factor) < 1:
            raise ValueError(f"factor must be in (0, 1); got {factor!r}")
        self.factor = float(factor)
        self.patience = int(patience)
        self.verbose = verbose
        self.cooldown = int(cooldown)
        self.min_lr = float(min_lr)

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.cooldown_counter = 0
        self.best = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = self._current(logs)
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._improved(current, self.best):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = optimizer.learning_rate
                if old > self.min_lr and not math.isclose(old, self.min_lr):
                    optimizer.learning_rate = max(old * self.factor, self.min_lr)
                    if self.verbose:
                        print(f"Epoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {optimizer.learning_rate}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LambdaCallback(Callback):
    """A callback from plain functions: ``LambdaCallback(on_epoch_end=lambda epoch, logs: ...)``."""

    def __init__(self, on_epoch_begin=None, on_epoch_end=None, on_train_begin=None, on_train_end=None,
                 on_train_batch_begin=None, on_train_batch_end=None):  # fmt: skip
        super().__init__()
        hooks = {
            "on_epoch_begin": on_epoch_begin,
            "on_epoch_end": on_epoch_end,
            "on_train_begin": on_train_begin,
            "on_train_end": on_train_end,
            "on_train_batch_begin": on_train_batch_begin,
            "on_train_batch_end": on_train_batch_end,
        }
        for name, fn in hooks.items():
            if fn is not None:
                setattr(self, name, fn)


class BackupAndRestore(Callback):
    """Back up a fit at every epoch's end and, when it is run again after an interruption, resume it.

    As Keras 3's ``BackupAndRestore``, and beyond it: the backup holds the weights, the
    optimizer state, the next epoch and the state of the generator that draws the shuffling and
    dropout, so a fit killed (even with ``kill -9``) and started again with the same arguments
    ends bit for bit where an uninterrupted one would. Each file is written to a temporary file
    and renamed into place, so a kill at any moment leaves the previous backup loadable.

    Parameters
    ----------
    backup_dir : str or path-like
        A folder for the backup (created if missing).
    save_freq : 'epoch', default='epoch'
        Back up at every epoch's end (the only choice: a backup within an epoch could not resume
        the epoch's shuffled order).
    delete_checkpoint : bool, default=True
        Remove the backup when the fit completes.
    """

    def __init__(self, backup_dir, save_freq="epoch", delete_checkpoint=True):
        super().__init__()
        if save_freq != "epoch":
            raise ValueError(f"save_freq must be 'epoch' (a backup at an epoch's end); got {save_freq!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.save_freq = save_freq
        self.delete_checkpoint = bool(delete_checkpoint)
        self._resume = None

    @property
    def _state_path(self):
        return os.path.join(self.backup_dir, "state.json")

    def on_train_begin(self, logs=None):
        from .formats import archive

        self._resume = None
        if not os.path.exists(self._state_path):
            return
        state = archive.read_json(self._state_path)
        self.model.load_weights(os.path.join(self.backup_dir, state["checkpoint"]))  # weights and optimizer state
        self.model.training_generator.bit_generator.state = _generator_state(state["generator"])
        self._resume = int(state["epoch"])

    def resume_epoch(self):
        return self._resume

    def on_epoch_end(self, epoch, logs=None):
        from .formats import archive

        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"backup-{epoch + 1}.keras"
        self.model.save(os.path.join(self.backup_dir, name))
        generator = self.model.training_generator.bit_generator.state
        archive.write_json(self._state_path, {"epoch": epoch + 1, "checkpoint": name, "generator": generator})
        for entry in os.listdir(self.backup_dir):  # the backups the state no longer names
            if entry.startswith("backup-") and entry.endswith(".keras") and entry != name:
                os.remove(os.path.join(self.backup_dir, entry))

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.isdir(self.backup_dir):
            for entry in os.listdir(self.backup_dir):
                if entry == "state.json" or (entry.startswith("backup-") and entry.endswith(".keras")):
                    os.remove(os.path.join(self.backup_dir, entry))


def _generator_state(state):
    """A numpy bit generator's state read back from JSON (its integers stay Python ints)."""
    return {k: (_generator_state(v) if isinstance(v, dict) else v) for k, v in state.items()}


class CallbackList:
    """Calls every callback's hook in order (internal to ``fit``)."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if hasattr(cb, "set_model"):
                cb.set_model(model)
            else:
                cb.model = model
            if hasattr(cb, "set_params"):
                cb.set_params(params)

    def call(self, hook, *args):
        for cb in self.callbacks:
            fn = getattr(cb, hook, None)
            if fn is not None:
                fn(*args)


def check_callbacks(callbacks):
    """Return ``callbacks`` as a list, or raise TypeError for anything without callback hooks."""
    if callbacks is None:
        return []
    if isinstance(callbacks, Callback):
        return [callbacks]
    try:
        callbacks = list(callbacks)
    except TypeError:
        raise TypeError(f"callbacks must be a list of Callback objects; got {type(callbacks).__name__}") from None
    for cb in callbacks:
        if not any(hasattr(cb, h) for h in ("on_epoch_end", "on_epoch_begin", "on_train_begin", "on_train_batch_end")):
            raise TypeError(f"callbacks must hold Callback objects; got {type(cb).__name__}")
    return callbacks




__getattr__ = missing_names(__name__)
