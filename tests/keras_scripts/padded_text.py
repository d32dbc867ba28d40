import numpy as np
from keras.layers import GRU, Bidirectional, Dense, Embedding
from keras.models import Sequential
from keras.preprocessing.sequence import pad_sequences

# Sequences of word ids of different lengths; the label is whether id 7 appears.
rng = np.random.default_rng(1)
docs = [rng.integers(1, 20, size=rng.integers(3, 15)).tolist() for _ in range(600)]
labels = np.array([7 in d for d in docs], dtype=np.float32)
x = pad_sequences(docs, maxlen=15)
model = Sequential([Embedding(20, 8, mask_zero=True), Bidirectional(GRU(8)), Dense(1, activation="sigmoid")])
model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
history = model.fit(x, labels, epochs=12, batch_size=32, validation_split=0.2, verbose=0)
print("RESULT val_accuracy", history.history["val_accuracy"][-1])
