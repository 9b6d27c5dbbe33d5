"""``python -m conformance``: see :mod:`conformance.runner`."""

import sys

from .runner import main

sys.exit(main())
