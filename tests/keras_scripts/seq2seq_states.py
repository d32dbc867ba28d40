import numpy as np
import keras
from keras.layers import LSTM, Dense, Input
from keras.models import Model

# Reverse a sequence of 4 symbols with an encoder-decoder (Keras's character seq2seq recipe).
V, T, H = 5, 4, 48
rng = np.random.default_rng(0)
seqs = rng.integers(0, V, size=(1024, T))
enc_x = keras.utils.to_categorical(seqs, V + 1)
target = keras.utils.to_categorical(seqs[:, ::-1], V + 1)
dec_x = np.zeros_like(target)
dec_x[:, 0, V] = 1.0
dec_x[:, 1:] = target[:, :-1]

encoder_inputs = Input(shape=(None, V + 1))
encoder_outputs, state_h, state_c = LSTM(H, return_state=True)(encoder_inputs)
decoder_inputs = Input(shape=(None, V + 1))
decoder_lstm = LSTM(H, return_sequences=True, return_state=True)
decoder_outputs, _, _ = decoder_lstm(decoder_inputs, initial_state=[state_h, state_c])
decoder_dense = Dense(V + 1, activation="softmax")
model = Model([encoder_inputs, decoder_inputs], decoder_dense(decoder_outputs))
model.compile(optimizer="rmsprop", loss="categorical_crossentropy", metrics=["accuracy"])
model.fit([enc_x, dec_x], target, batch_size=64, epochs=60, validation_split=0.2, verbose=0)

encoder_model = Model(encoder_inputs, [state_h, state_c])
state_input_h, state_input_c = Input(shape=(H,)), Input(shape=(H,))
out, h, c = decoder_lstm(decoder_inputs, initial_state=[state_input_h, state_input_c])
decoder_model = Model([decoder_inputs, state_input_h, state_input_c], [decoder_dense(out), h, c])

h, c = encoder_model.predict(enc_x[:200], verbose=0)
token = np.zeros((200, 1, V + 1))
token[:, 0, V] = 1.0
decoded = []
for _ in range(T):
    probs, h, c = decoder_model.predict([token, h, c], verbose=0)
    idx = probs[:, -1].argmax(axis=-1)
    decoded.append(idx)
    token = keras.utils.to_categorical(idx, V + 1)[:, None, :]
print("RESULT exact_match", np.mean(np.all(np.stack(decoded, 1) == seqs[:200, ::-1], axis=1)))
