"""What `pip install mixc` (no extras) costs: megabytes, seconds and packages in a fresh venv.

Builds the project's wheel once (as an index would serve it), installs it into a throwaway
venv to warm pip's cache, then into a second fresh venv, timed. Prints
`figure bare_install_mb` (site-packages growth over the fresh venv, target < 25 MB),
`figure bare_install_s` (wall time of that `pip install`, target < 15 s) and
`figure bare_install_packages` (distributions it added, mixc included). Needs the package
index (or a warm cache); `--project DIR` measures another checkout, e.g. an older commit
in a git worktree. Writes only under a temporary folder, removed at the end.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
import venv
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Install:
    seconds: float
    bytes_added: int
    packages_added: int


def site_packages(env: Path) -> Path:
    (found,) = env.glob("lib/python*/site-packages")
    return found


def tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def distributions(folder: Path) -> set[str]:
    return {p.name for p in folder.glob("*.dist-info")}


def quiet(cmd: list[str]) -> None:
    """Run `cmd`; its warnings are shown only when it fails."""
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout[-3000:]}")


def build_wheel(project: Path, out: Path) -> Path:
    """The wheel of a copy of `project` (a build in place would leave, and later reuse, its build/)."""
    src = out / "src"
    shutil.copytree(project, src, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__"))
    quiet([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(out), str(src)])
    (wheel,) = out.glob("mixc-*.whl")
    return wheel


def install(wheel: Path, env: Path) -> Install:
    """A fresh venv (its bundled pip), then `pip install WHEEL`, timed."""
    venv.create(env, with_pip=True)
    site = site_packages(env)
    before_bytes, before_dists = tree_bytes(site), distributions(site)
    start = time.perf_counter()
    quiet([str(env / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(wheel)])
    seconds = time.perf_counter() - start
    return Install(seconds, tree_bytes(site) - before_bytes, len(distributions(site) - before_dists))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=ROOT, help="the checkout to install (default: this one)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mixc-install-") as tmp:
        wheel = build_wheel(args.project.resolve(), Path(tmp, "wheel"))
        warm = install(wheel, Path(tmp, "warm"))  # fills pip's cache; a cold start says little
        timed = install(wheel, Path(tmp, "timed"))
    print(f"first install (filling the cache): {warm.seconds:.1f} s")
    print(f"figure bare_install_mb {timed.bytes_added / 1e6:.1f} MB")
    print(f"figure bare_install_s {timed.seconds:.1f} s")
    print(f"figure bare_install_packages {timed.packages_added}")


if __name__ == "__main__":
    main()
