import sys

from myretail_ui.cli import main

sys.exit(main())
