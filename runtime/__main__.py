"""`python -m mixc.runtime JOBFILE`: run one tokenizer, tokenize, train or eval job file
(a train job on several processes under torchrun: `runtime.launch`).

Exit status: 0 done; 1 the job failed on its input (the message says what and where);
2 the job file itself is wrong (unreadable, not JSON, wrong schema, a bad field) or the
command line is. Bugs keep their traceback. The runtime imports nothing from the compiler.
"""

from __future__ import annotations

import sys

from mixc import jobfile
from mixc.runtime.kinds import KINDS
from mixc.runtime.launch import launch


def main(argv: list[str]) -> int:
    return jobfile.main(argv, KINDS, prog="python -m mixc.runtime", layer="train")


if __name__ == "__main__":
    # Only the command becomes torchrun; `main` called in-process (the tests) never does.
    status = launch(sys.argv[1:])  # returns when the job runs in this process, or cannot start
    sys.exit(main(sys.argv[1:]) if status is None else status)
