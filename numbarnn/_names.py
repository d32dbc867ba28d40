"""Default names of layers and models: 'lstm', then 'lstm_1', 'lstm_2', ... (one counter per base name)."""

_NAME_COUNTS = {}


def unique_name(base):
    """'lstm', then 'lstm_1', 'lstm_2', ... (one counter per base name, per process)."""
    n = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = n + 1
    return base if n == 0 else f"{base}_{n}"


def reset_names():
    """Forget the name counters (``backend.clear_session``)."""
    _NAME_COUNTS.clear()
