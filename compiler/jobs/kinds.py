"""The compiler's job kinds: which config class and which function each kind has.

Each module is imported only when a file asks for its kind. Adding a kind: its dataclass in
`mixc.jobs`, a `run(config)` function, and one line here.
"""

from __future__ import annotations

from mixc.jobfile import Kind
from mixc.jobs import ClusterJob, DesignJob, FitJob, ProposeJob, ReportJob, SolveJob

KINDS: dict[str, Kind] = {
    "cluster": Kind(ClusterJob, "mixc.compiler.jobs.cluster:run"),
    "design": Kind(DesignJob, "mixc.compiler.jobs.design:run"),
    "propose": Kind(ProposeJob, "mixc.compiler.jobs.propose:run"),
    "fit": Kind(FitJob, "mixc.compiler.jobs.fit:run"),
    "solve": Kind(SolveJob, "mixc.compiler.jobs.solve:run"),
    "report": Kind(ReportJob, "mixc.compiler.jobs.report:run"),
}
