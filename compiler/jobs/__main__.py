"""`python -m mixc.compiler.jobs JOBFILE`: run one design, fit, solve or report job."""

from __future__ import annotations

import importlib
import sys

from mixc.compiler.jobs.common import BadJobFile, JobFailed, load_job

KINDS = ("design", "fit", "solve", "report")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m mixc.compiler.jobs JOBFILE", file=sys.stderr)
        return 2
    required = {k: importlib.import_module(f"mixc.compiler.jobs.{k}").REQUIRED for k in KINDS}
    try:
        kind, config = load_job(argv[0], required)
    except BadJobFile as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        importlib.import_module(f"mixc.compiler.jobs.{kind}").run(config)
    except JobFailed as exc:
        print(f"error: {kind} job {argv[0]}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"error: {kind} job {argv[0]}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
