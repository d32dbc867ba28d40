"""Small real datasets shipped inside the package, for examples, tests and benchmarks.

Every loader reads files installed with numbarnn and returns numpy arrays (or,
for text, a ``str``); nothing is ever downloaded.

- :func:`load_airline`: monthly international airline passengers, 1949-1960 (144 values).
- :func:`load_sunspots`: yearly mean sunspot numbers, 1700-2008 (309 values).
- :func:`load_gunpoint`: the UCR GunPoint classification problem (50 train, 150 test series of length 150).
- :func:`load_text`: 42 plays and poems of Shakespeare as one public-domain English text (5 million characters).

Sources, licences and the citations each source asks for are in this folder's README.md
and in each loader's docstring.
"""

from ._gunpoint import load_gunpoint
from ._series import load_airline, load_sunspots
from ._text import load_text

__all__ = ["load_airline", "load_sunspots", "load_gunpoint", "load_text"]
