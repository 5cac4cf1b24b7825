"""`python -m mixc.compiler.jobs JOBFILE`: run one design, fit, solve or report job file.

Exit status as for the runtime's jobs (`mixc.jobfile.main`): 0 done, 1 the job failed on its
inputs, 2 the job file is wrong.
"""

from __future__ import annotations

import sys

from mixc import jobfile
from mixc.compiler.jobs.kinds import KINDS


def main(argv: list[str]) -> int:
    return jobfile.main(argv, KINDS, prog="python -m mixc.compiler.jobs", layer="run")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
