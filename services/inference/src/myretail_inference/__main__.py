"""``python -m myretail_inference`` is ``myretail-inference``."""

import sys

from myretail_inference.cli import main

sys.exit(main())
