"""`python -m confguard.cli`: the `confguard` command."""

import sys

from confguard.cli import main

sys.exit(main())
