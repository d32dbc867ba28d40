"""Keras scripts port by changing their imports only: each script in tests/keras_scripts is
rewritten (``keras`` -> ``numbarnn`` in its import lines, nothing else) and run in a fresh process.

The five Keras tutorials in examples/ are the same kind of port; tests/test_examples.py runs them.
"""

import pathlib
import re
import subprocess
import sys

import pytest

SCRIPTS = pathlib.Path(__file__).parent / "keras_scripts"
ROOT = pathlib.Path(__file__).resolve().parents[1]


def port(source):
    """Rewrite the import lines of a Keras script for numbarnn; every other line stays as it is."""
    out = []
    for line in source.splitlines():
        if re.match(r"\s*import keras\s*$", line):
            line = line.replace("import keras", "import numbarnn as keras")
        elif re.match(r"\s*(import|from) keras\b", line):
            line = re.sub(r"\bkeras\b", "numbarnn", line)
        out.append(line)
    return "\n".join(out) + "\n"


def test_port_changes_only_import_lines():
    source = "import keras\nfrom keras.layers import LSTM\nx = keras.layers.GRU\nimport keras as K\n"
    assert port(source) == "import numbarnn as keras\nfrom numbarnn.layers import LSTM\nx = keras.layers.GRU\nimport numbarnn as K\n"


def run(name, tmp_path):
    script = tmp_path / name
    script.write_text(port((SCRIPTS / name).read_text()))
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return {m.group(1): float(m.group(2)) if re.fullmatch(r"[-+.\deE]+", m.group(2)) else m.group(2)
            for m in re.finditer(r"^RESULT (\S+) (\S+)$", done.stdout, re.M)}  # fmt: skip


CHECKS = {
    "functional_two_inputs.py": lambda r: r["loss_ratio"] < 0.5 and r["n_layers"] == 6,
    "seq2seq_states.py": lambda r: r["exact_match"] > 0.5,
    "stateful_lstm.py": lambda r: r["mse"] < 0.1,
    "padded_text.py": lambda r: r["val_accuracy"] > 0.7,
    "checkpoint_reload.py": lambda r: r["same_prediction"] == 1.0 and r["reloaded_layers"] == 3,
    "import_as_keras.py": lambda r: r["accuracy"] > 0.8 and r["first_layer"] == "simple_rnn",
}


def test_every_script_has_a_check():
    assert sorted(CHECKS) == sorted(p.name for p in SCRIPTS.glob("*.py"))


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_a_keras_script_runs_with_only_its_imports_changed(name, tmp_path):
    results = run(name, tmp_path)
    assert CHECKS[name](results), results
