"""The ``numbarnn demo`` command: runs end to end (few epochs), options, help, errors."""

import shutil
import subprocess
import sys

import numpy as np
import pytest

from numbarnn import cli, demo
from numbarnn.datasets import load_airline, load_gunpoint


def test_baselines_are_the_published_figures():
    assert demo.seasonal_naive_rmse(load_airline(), 108, 36) == pytest.approx(73.6, abs=0.05)
    X_train, y_train, X_test, y_test = load_gunpoint()
    assert demo.one_nn_accuracy(X_train, y_train, X_test, y_test) == pytest.approx(0.913, abs=0.001)


def test_demo_two_epochs_in_process(capsys):
    assert cli.main(["demo", "--epochs", "2", "--cell", "gru", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "cell=gru, seed=1" in out and "BLAS:" in out and "threads=" in out
    assert "seasonal-naive RMSE 73.6" in out and "1-nearest-neighbour's 0.913" in out
    assert out.count("compilation included") == 2 and "2/2 [" in out


def test_demo_results_are_what_is_printed():
    results = demo.run_demo(cell="simple", epochs=2, verbose=0, print_fn=lambda *a: None)
    airline, gunpoint = results["airline"], results["gunpoint"]
    assert airline["forecast"].shape == (36,) and np.isfinite(airline["forecast"]).all()
    expected = np.sqrt(np.mean((airline["forecast"] - load_airline()[108:]) ** 2))
    assert airline["rmse"] == pytest.approx(expected)
    assert 0 <= gunpoint["accuracy"] <= 1 and gunpoint["estimator"].n_iter_ <= 2


def test_python_dash_m_and_plot(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "demo.png"
    run = subprocess.run([sys.executable, "-m", "numbarnn", "demo", "--epochs", "2", "--quiet", "--plot", str(path)],
                         capture_output=True, text=True, timeout=600)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert path.stat().st_size > 10_000 and "saved the forecast" in run.stdout


def test_help_and_bad_options(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["demo", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "--cell" in out and "--epochs" in out and "--seed" in out and "--plot" in out
    for argv in (["demo", "--cell", "rnn"], ["demo", "--epochs", "0"], []):
        with pytest.raises(SystemExit) as exit_info:
            cli.main(argv)
        assert exit_info.value.code == 2


def test_missing_matplotlib_fails_before_training(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    assert cli.main(["demo", "--plot", "x.png"]) == 2
    assert "pip install 'numbarnn[plot]'" in capsys.readouterr().err


@pytest.mark.skipif(shutil.which("numbarnn") is None, reason="the console script is installed by pip install")
def test_console_script_is_installed():
    run = subprocess.run(["numbarnn", "demo", "--help"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "GunPoint" in run.stdout
