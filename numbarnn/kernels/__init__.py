"""Compiled kernels: arrays and scalars in, arrays out, no Python objects.

Every kernel here takes C-contiguous arrays of one working dtype (float32 or
float64) and is called only from the engine's cell adaptors (:mod:`numbarnn.engine.cells`),
after the engine's plan has validated and laid out the data.
One file per cell and form: ``lstm.py``, ``gru_after.py`` (``reset_after=True``),
``gru_before.py``, ``simple_rnn.py``; ``nonlinear.py`` (the activations and their derivatives), ``linalg.py`` and
``rows.py`` hold the helpers they share.
"""
