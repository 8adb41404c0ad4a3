"""``python -m rooms.syntheticstudio``: publish one synthetic studio (``--help``)."""

import sys

from rooms.syntheticstudio.commandline import main

sys.exit(main())
