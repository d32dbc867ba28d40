"""Access to the data files installed in ``numbarnn/datasets/data/``.

Files are found through :mod:`importlib.resources`, so loading works from a
source checkout, an installed wheel or a zipped install alike.
"""

from importlib import resources


def open_data_file(name):
    """Open the shipped data file ``name`` for reading in binary mode."""
    return resources.files(__package__).joinpath("data").joinpath(name).open("rb")


def read_csv_rows(name):
    """Return the rows of a small shipped CSV file as lists of strings, header row removed."""
    with open_data_file(name) as fh:
        lines = fh.read().decode("ascii").splitlines()
    return [line.split(",") for line in lines[1:] if line.strip()]
