"""Compiled kernels: arrays and scalars in, arrays out, no Python objects.

Every kernel here takes C-contiguous arrays of one working dtype (float32 or
float64) and is called only from :mod:`numbarnn.recurrent`, which validates and
lays out the data first.
"""
