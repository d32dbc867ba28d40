import numpy as np
from keras.layers import LSTM, Dense, Input, concatenate
from keras.models import Model

rng = np.random.default_rng(0)
series = Input(shape=(12, 2), name="series")
meta = Input(shape=(3,), name="meta")
h = concatenate([LSTM(16)(series), Dense(8, activation="relu")(meta)])
out = Dense(1, name="target")(h)
model = Model(inputs=[series, meta], outputs=out)
model.compile(optimizer="adam", loss="mse")
xs, xm = rng.normal(size=(256, 12, 2)), rng.normal(size=(256, 3))
y = xs[:, :, 0].mean(axis=1, keepdims=True) + 0.5 * xm[:, :1]
first = model.evaluate([xs, xm], y, verbose=0)
model.fit([xs, xm], y, epochs=15, batch_size=32, verbose=0)
print("RESULT loss_ratio", model.evaluate([xs, xm], y, verbose=0) / first)
print("RESULT n_layers", len(model.layers))
