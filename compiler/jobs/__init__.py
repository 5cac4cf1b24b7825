"""Jobs that run compiler code on a worker: design, fit, solve, report.

`python -m mixc.compiler.jobs JOBFILE` runs one. Like the runtime's jobs, each reads one job
file (JSON, `"schema": 1`, fully resolved), writes only its own output folder, atomically,
and exits 0 (done), 1 (the job failed on its inputs: the message says what and where) or
2 (the job file itself is wrong). Paths in job files are relative to the work directory,
which is the current directory when Snakemake runs them.
"""
