"""Shipped datasets: shapes, dtypes and known values, all read offline from the installed files."""

import socket
import zipfile
from importlib import resources

import numpy as np
import pytest

from numbarnn.datasets import load_airline, load_gunpoint, load_sunspots, load_text


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to open a socket fails the test: loaders must never download."""

    def refuse(*args, **kwargs):
        raise AssertionError("a dataset loader tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


# ---------------------------------------------------------------- airline


def test_airline_shape_dtype_and_known_values():
    y = load_airline()
    assert isinstance(y, np.ndarray)
    assert y.shape == (144,) and y.dtype == np.float64
    assert y[0] == 112 and y[-1] == 432
    assert y.sum() == 40363
    assert y.max() == 622 and y.min() == 104
    np.testing.assert_array_equal(y[:12], [112, 118, 132, 129, 121, 135, 148, 148, 136, 119, 104, 118])


def test_airline_dates():
    y, dates = load_airline(return_dates=True)
    assert y.shape == dates.shape == (144,)
    assert dates.dtype == np.dtype("datetime64[M]")
    np.testing.assert_array_equal(dates, np.arange("1949-01", "1961-01", dtype="datetime64[M]"))
    assert y[dates == np.datetime64("1960-07")] == 622


def test_airline_returns_fresh_arrays():
    y = load_airline()
    y[:] = 0
    assert load_airline()[0] == 112


# ---------------------------------------------------------------- sunspots


def test_sunspots_shape_dtype_and_known_values():
    y = load_sunspots()
    assert y.shape == (309,) and y.dtype == np.float64
    assert y[0] == 5.0 and y[-1] == 2.9
    np.testing.assert_array_equal(y[:5], [5.0, 11.0, 16.0, 23.0, 36.0])
    assert np.isfinite(y).all() and (y >= 0).all()
    assert y.max() == 190.2  # 1957, the highest yearly mean of the series


def test_sunspots_years():
    y, years = load_sunspots(return_years=True)
    assert years.shape == (309,) and years.dtype == np.int64
    np.testing.assert_array_equal(years, np.arange(1700, 2009))
    assert years[np.argmax(y)] == 1957


# ---------------------------------------------------------------- gunpoint


def test_gunpoint_standard_split():
    X_train, y_train, X_test, y_test = load_gunpoint()
    assert X_train.shape == (50, 150, 1) and X_test.shape == (150, 150, 1)
    assert y_train.shape == (50,) and y_test.shape == (150,)
    assert X_train.dtype == X_test.dtype == np.float64
    assert y_train.dtype == y_test.dtype == np.int64
    assert X_train.flags.c_contiguous and X_test.flags.c_contiguous
    np.testing.assert_array_equal(np.unique(y_train), [1, 2])
    np.testing.assert_array_equal(np.unique(y_test), [1, 2])
    assert np.bincount(y_train).tolist() == [0, 24, 26]
    assert np.bincount(y_test).tolist() == [0, 76, 74]
    assert np.isfinite(X_train).all() and np.isfinite(X_test).all()


def test_gunpoint_known_values():
    X_train, _, X_test, _ = load_gunpoint()
    # First values of the first series in each source file.
    np.testing.assert_array_equal(X_train[0, :3, 0], [-0.6478854, -0.64199155, -0.63818632])
    np.testing.assert_array_equal(X_test[0, :3, 0], [-1.1250133, -1.1313383, -1.1382884])
    # The archive z-normalised every series (sample standard deviation).
    for X in (X_train, X_test):
        np.testing.assert_allclose(X.mean(axis=1), 0.0, atol=1e-6)
        np.testing.assert_allclose(X.std(axis=1, ddof=1), 1.0, atol=1e-6)


@pytest.mark.parametrize("split", ["train", "test", "TRAIN", "Test"])
def test_gunpoint_single_split_matches_full(split):
    X, y = load_gunpoint(split=split)
    X_train, y_train, X_test, y_test = load_gunpoint()
    expected_X, expected_y = (X_train, y_train) if split.lower() == "train" else (X_test, y_test)
    np.testing.assert_array_equal(X, expected_X)
    np.testing.assert_array_equal(y, expected_y)


def test_gunpoint_dict_form():
    data = load_gunpoint(return_X_y=False)
    assert set(data) == {"X_train", "y_train", "X_test", "y_test", "classes"}
    np.testing.assert_array_equal(data["classes"], [1, 2])
    one = load_gunpoint("test", return_X_y=False)
    assert set(one) == {"X", "y", "classes"}
    assert one["X"].shape == (150, 150, 1)


@pytest.mark.parametrize("split", ["validation", "", 1])
def test_gunpoint_bad_split(split):
    with pytest.raises(ValueError, match="split must be None, 'train' or 'test'"):
        load_gunpoint(split=split)


def test_gunpoint_file_needs_no_pickle():
    with resources.files("numbarnn.datasets").joinpath("data").joinpath("gunpoint.npz").open("rb") as fh:
        with np.load(fh, allow_pickle=False) as npz:
            assert sorted(npz.files) == ["X_test", "X_train", "y_test", "y_train"]
            assert all(npz[key].dtype != object for key in npz.files)


# ---------------------------------------------------------------- text


def test_text_is_a_long_public_domain_str():
    text = load_text()
    assert isinstance(text, str)
    assert len(text) >= 1_000_000
    assert len(text) == 5_057_403
    assert text.isascii() and "\r" not in text
    assert text.startswith("ALL'S WELL THAT ENDS WELL\n\nby William Shakespeare")
    assert text.endswith("[Exeunt.]\n")


def test_text_contents():
    text = load_text()
    assert "To be, or not to be" in text
    assert "Shall I compare thee to a summer's day?" in text
    for title in ("HAMLET, PRINCE OF DENMARK", "THE SONNETS", "THE TEMPEST", "THE WINTER'S TALE"):
        assert title in text
    # The distributing project removed all licence boilerplate of the original etexts.
    assert "gutenberg" not in text.lower()


# ---------------------------------------------------------------- packaging


def test_data_files_are_small_and_present():
    data = resources.files("numbarnn.datasets").joinpath("data")
    sizes = {name: len(data.joinpath(name).read_bytes()) for name in
             ("airline.csv", "sunspots.csv", "gunpoint.npz", "shakespeare.txt.gz")}
    assert sum(sizes.values()) < 3_000_000
    # The .npz is a plain zip of .npy files.
    with data.joinpath("gunpoint.npz").open("rb") as fh:
        assert zipfile.is_zipfile(fh)


def test_attributions_ship_with_the_data():
    readme = resources.files("numbarnn.datasets").joinpath("README.md").read_text(encoding="utf-8")
    for needed in ("sktime", "statsmodels", "UCR Time Series Classification Archive",
                   "Open Knowledge Foundation", "BSD 3-Clause", "Series G", "public domain"):
        assert needed in readme
