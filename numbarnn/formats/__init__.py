"""File formats: configs and arrays in, files out, and back. Nothing here knows a model class.

- :mod:`.keras_file`: Keras 3's ``.keras`` zip and ``.weights.h5`` HDF5 file (read with safety checks, written atomically);
- :mod:`.keras_config`: numbarnn models, layers, optimizers, losses and metrics to and from Keras 3's
  ``config.json``, and the weight file's groups in Keras's saving traversal;
- :mod:`.archive`: numbarnn 0.1's model file (read, so old files still load) and small JSON files;
- :mod:`.atomic`: every file written through a temporary file renamed into place.
"""
