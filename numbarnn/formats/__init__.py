"""File formats: configs and arrays in, files out, and back. Nothing here knows a model class.

- :mod:`.archive`: numbarnn's model file (a zip of numpy arrays and a JSON config; no pickle).
"""
