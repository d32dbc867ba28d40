"""A small plot of a fitted estimator's loss curve (needs matplotlib: ``pip install numbarnn[plot]``)."""

__all__ = ["plot_loss_curve"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "plot_loss_curve needs matplotlib, an optional extra: pip install 'numbarnn[plot]'"
        ) from exc
    return plt


def plot_loss_curve(estimator, ax=None):
    """Plot the training loss per epoch (and the validation score, with early stopping).

    Parameters
    ----------
    estimator : fitted RNNRegressor or RNNClassifier
    ax : matplotlib Axes, optional
        Drawn on a new figure by default.

    Returns
    -------
    ax : matplotlib Axes
    """
    if not hasattr(estimator, "loss_curve_"):
        raise ValueError("plot_loss_curve needs a fitted estimator with a loss_curve_ attribute")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 4))
    epochs = range(1, len(estimator.loss_curve_) + 1)
    ax.plot(epochs, estimator.loss_curve_, label="training loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    scores = getattr(estimator, "validation_scores_", None)
    if scores:
        twin = ax.twinx()
        twin.plot(range(1, len(scores) + 1), scores, color="tab:orange", label="validation score")
        twin.set_ylabel("validation score")
        twin.legend(loc="upper right")
    ax.legend(loc="upper left")
    ax.set_title(type(estimator).__name__)
    return ax
