"""``python -m numbarnn demo``: the same as the ``numbarnn`` command."""

import sys

from .cli import main

sys.exit(main())
