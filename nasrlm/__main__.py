import sys

from nasrlm.cli import main

sys.exit(main())
