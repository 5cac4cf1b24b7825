"""`python -m mixc.runtime JOBFILE`: run one job file.

Exit status: 0 done; 1 the job failed on its input (the message says what and where);
2 the job file itself is wrong (unreadable, not JSON, wrong schema, a bad field) or the
command line is. Bugs keep their traceback.
"""

from __future__ import annotations

import sys

from mixc.runtime.errors import JobError
from mixc.runtime.jobfile import JobFileError, load

USAGE = "usage: python -m mixc.runtime JOBFILE"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] in ("-h", "--help"):
        print(USAGE, file=sys.stderr)
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    try:
        job = load(argv[0])
    except JobFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        job.run(job.config)
    except JobError as exc:
        print(f"error: {job.kind} job {argv[0]}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {job.kind} job {argv[0]}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
