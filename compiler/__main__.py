"""`python -m compiler` is `mixc`."""

import sys

from compiler.cli import main

sys.exit(main())
