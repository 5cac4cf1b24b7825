"""`python -m mixc` is the `mixc` command line."""

import sys

from mixc.compiler.cli import main

sys.exit(main())
