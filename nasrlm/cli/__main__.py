"""``python -m nasrlm.cli``: the same as the ``nasrlm`` command."""

import sys

from nasrlm.cli import main

sys.exit(main())
