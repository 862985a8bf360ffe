"""``python -m unblur``: the command line (unblur.cli)."""

import sys

from .cli import main

sys.exit(main())
