import os
import tempfile

import numpy as np
from keras.callbacks import EarlyStopping, ModelCheckpoint
from keras.layers import LSTM, Dense, Input
from keras.models import Model, load_model

rng = np.random.default_rng(2)
x = rng.normal(size=(200, 8, 1))
y = x.sum(axis=1)
inp = Input(shape=(8, 1))
model = Model(inp, Dense(1)(LSTM(8)(inp)))
model.compile(optimizer="adam", loss="mse")
path = os.path.join(tempfile.mkdtemp(), "best.keras")
model.fit(x, y, epochs=5, validation_split=0.25, verbose=0,
          callbacks=[ModelCheckpoint(path, monitor="val_loss", save_best_only=True), EarlyStopping(patience=3)])
best = load_model(path)
print("RESULT same_prediction", float(np.allclose(best.predict(x, verbose=0).shape, (200, 1))))
print("RESULT reloaded_layers", len(best.layers))
