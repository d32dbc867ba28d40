import numpy as np
from keras.layers import LSTM, Dense
from keras.models import Sequential

# A long sine wave cut into consecutive windows: the stateful LSTM carries its state across them.
batch, steps = 4, 10
wave = np.sin(np.arange(batch * 40 * steps + 1) * 0.3)
streams = wave[:-1].reshape(batch, -1)
targets = wave[1:].reshape(batch, -1)
x = streams.reshape(batch, -1, steps).transpose(1, 0, 2).reshape(-1, steps, 1)
y = targets.reshape(batch, -1, steps).transpose(1, 0, 2)[:, :, -1].reshape(-1, 1)
model = Sequential()
model.add(LSTM(16, batch_input_shape=(batch, steps, 1), stateful=True))
model.add(Dense(1))
model.compile(loss="mse", optimizer="adam")
for epoch in range(8):
    model.fit(x, y, epochs=1, batch_size=batch, verbose=0, shuffle=False)
    model.reset_states()
print("RESULT mse", model.evaluate(x, y, batch_size=batch, verbose=0))
