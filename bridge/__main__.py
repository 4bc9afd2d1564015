"""``python -m bridge`` is the ``smsbridge`` command."""

import sys

from bridge.cli import main

sys.exit(main())
