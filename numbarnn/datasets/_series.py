"""Univariate time series for forecasting: airline passengers and sunspot numbers."""

import numpy as np

from ._base import read_csv_rows


def load_airline(*, return_dates=False):
    """Load the monthly international airline passengers, January 1949 to December 1960.

    The classic Box & Jenkins "Series G": monthly totals of international
    airline passengers, in thousands. It has an increasing trend, a yearly
    seasonal pattern and a variance that grows with the level.

    Parameters
    ----------
    return_dates : bool, default=False
        If True, also return the month of each value.

    Returns
    -------
    y : ndarray of shape (144,), dtype float64
        Passengers per month, in thousands (integer values stored as floats).
    dates : ndarray of shape (144,), dtype datetime64[M]
        The months, ``1949-01`` to ``1960-12``. Only returned if ``return_dates`` is True.

    Notes
    -----
    Source: Box, Jenkins and Reinsel, Series G; the file ``data/airline.csv``
    is ``sktime/datasets/data/Airline/Airline.csv`` from the sktime package,
    version 1.2.0 (BSD 3-Clause licence, copyright the sktime developers),
    copied unchanged.

    Licence: the values are historical traffic counts, published in the
    textbook below and redistributed widely (for example as R's
    ``AirPassengers``); the source attaches no licence to them. The sktime
    licence notice is reproduced in this folder's README.md.

    Citation, as the source gives it: Box, G. E. P., Jenkins, G. M. and
    Reinsel, G. C. (1976) Time Series Analysis, Forecasting and Control.
    Third Edition. Holden-Day. Series G.

    Known values: the first month is 112, the last 432, the total 40363.

    References
    ----------
    .. [1] Box, G. E. P., Jenkins, G. M. and Reinsel, G. C. Time Series Analysis,
       Forecasting and Control. Holden-Day. Series G.

    Examples
    --------
    >>> from numbarnn.datasets import load_airline
    >>> y, dates = load_airline(return_dates=True)
    >>> y.shape, y.dtype
    ((144,), dtype('float64'))
    >>> y[:3]
    array([112., 118., 132.])
    >>> dates[[0, -1]]
    array(['1949-01', '1960-12'], dtype='datetime64[M]')
    """
    rows = read_csv_rows("airline.csv")
    y = np.array([value for _, value in rows], dtype=np.float64)
    if not return_dates:
        return y
    dates = np.array([month for month, _ in rows], dtype="datetime64[M]")
    return y, dates


def load_sunspots(*, return_years=False):
    """Load the yearly mean sunspot numbers, 1700 to 2008.

    One value a year: the yearly mean of the international sunspot number
    (Wolf number) in its original series, published before the 2015
    recalibration, so the values differ from the current "version 2" series.
    Roughly 11-year cycles of changing height.

    Parameters
    ----------
    return_years : bool, default=False
        If True, also return the year of each value.

    Returns
    -------
    y : ndarray of shape (309,), dtype float64
        Yearly mean sunspot number.
    years : ndarray of shape (309,), dtype int64
        The years, 1700 to 2008. Only returned if ``return_years`` is True.

    Notes
    -----
    Source: the NOAA National Geophysical Data Center (NGDC) yearly sunspot
    table, as shipped in the statsmodels package, version 0.15.0
    (BSD 3-Clause licence), file ``statsmodels/datasets/sunspots/sunspots.csv``,
    copied unchanged to ``data/sunspots.csv``.

    Licence: public domain, as statsmodels states for this data set
    ("This data is public domain."). The statsmodels licence notice is
    reproduced in this folder's README.md.

    Citation: the source asks for none; credit the NOAA National Geophysical
    Data Center, and statsmodels as the distributor.

    Known values: 1700 is 5.0, 2008 is 2.9.

    Examples
    --------
    >>> from numbarnn.datasets import load_sunspots
    >>> y, years = load_sunspots(return_years=True)
    >>> y.shape, y.dtype, years.dtype
    ((309,), dtype('float64'), dtype('int64'))
    >>> years[[0, -1]], y[[0, -1]]
    (array([1700, 2008]), array([5. , 2.9]))
    """
    rows = read_csv_rows("sunspots.csv")
    y = np.array([value for _, value in rows], dtype=np.float64)
    if not return_years:
        return y
    years = np.array([year for year, _ in rows], dtype=np.int64)
    return y, years
