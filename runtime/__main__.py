"""`python -m mixc.runtime JOBFILE`: run one tokenizer, tokenize, train or eval job file.

Exit status: 0 done; 1 the job failed on its input (the message says what and where);
2 the job file itself is wrong (unreadable, not JSON, wrong schema, a bad field) or the
command line is. Bugs keep their traceback. The runtime imports nothing from the compiler.
"""

from __future__ import annotations

import sys

from mixc import jobfile
from mixc.runtime.kinds import KINDS


def main(argv: list[str]) -> int:
    return jobfile.main(argv, KINDS, prog="python -m mixc.runtime", layer="train")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
