import numpy as np
import keras

keras.backend.clear_session()
keras.utils.set_random_seed(0)
x = np.random.rand(300, 6)
labels = (x.sum(axis=1) > 3).astype(int)
model = keras.Sequential([keras.Input(shape=(6, 1)), keras.layers.SimpleRNN(8), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer=keras.optimizers.Adam(0.01), loss="categorical_crossentropy", metrics=["accuracy"])
model.fit(x[:, :, None], keras.utils.to_categorical(labels, 2), epochs=20, verbose=0)
print("RESULT accuracy", model.evaluate(x[:, :, None], keras.utils.to_categorical(labels, 2), verbose=0)[1])
print("RESULT first_layer", model.layers[0].name)
