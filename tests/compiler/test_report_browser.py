"""report.html as a person sees it: rendered by headless Chromium (Debian's `chromium`, which
the CI script installs) to a PNG that must have drawn every plot, with no script error.

A copy of the page gets a probe: a first script that records errors (uncaught, and
console.error), and a last one that clicks a column heading of the runs table (the sort) and
writes what it found, each plot's box included, into the DOM, which `--dump-dom` returns.
The screenshot is of the page itself, kept at ARTIFACTS/report.png (a CI artifact). Skipped,
saying why, only when no chromium is installed; MIXC_CHROMIUM_REQUIRED=1 (the CI script)
makes that a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mixc.compiler.jobs.report import run as run_report
from tests.compiler.test_results import workdir

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("MIXC_ARTIFACTS", Path(__file__).resolve().parents[2] / "build" / "artifacts"))
WIDTH = 1200
PLOTS = ["objective_scatter", "objective_bars", "mixture_bars", "loss_heatmap", "loss_curves"]  # the page's order

MISSING = "chromium is not installed (Debian: apt-get install chromium)"


@pytest.fixture(autouse=True)
def needs_chromium() -> None:
    if CHROMIUM is None:
        if os.environ.get("MIXC_CHROMIUM_REQUIRED") == "1":
            pytest.fail(f"MIXC_CHROMIUM_REQUIRED=1, but {MISSING}")
        pytest.skip(MISSING)

FIRST = """<script>
window.probeErrors = [];
window.addEventListener("error", function (e) { probeErrors.push("uncaught: " + e.message); });
var consoleError = console.error;
console.error = function () { probeErrors.push("console.error: " + Array.from(arguments).join(" ")); };
</script>"""
LAST = """<script>
var runs = Array.from(document.querySelectorAll("table.sortable")).pop();
var column = Array.from(runs.tHead.rows[0].cells).findIndex(function (th) { return th.textContent === "objective"; });
runs.tHead.rows[0].cells[column].click();
var probe = document.createElement("pre");
probe.id = "probe";
probe.textContent = JSON.stringify({
  errors: probeErrors,
  height: document.documentElement.scrollHeight,
  sorted: Array.from(runs.tBodies[0].rows).map(function (r) { return r.cells[column].textContent; }),
  plots: Array.from(document.querySelectorAll("figure.plot")).map(function (f) {
    var box = f.querySelector("svg").getBoundingClientRect();
    return {name: f.dataset.plot, x: box.x + scrollX, y: box.y + scrollY, w: box.width, h: box.height};
  })
});
document.body.appendChild(probe);
</script>"""


def chromium(tmp: Path, page: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [CHROMIUM, "--headless", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--mute-audio",
           "--force-device-scale-factor=1", f"--user-data-dir={tmp / 'profile'}", *args, page.as_uri()]
    if os.geteuid() == 0:
        cmd.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox
    return subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)


def probe(tmp: Path, page: Path) -> dict:
    """What the probe found in a copy of `page` (rendered at WIDTH)."""
    text = page.read_text(encoding="utf-8")
    probed = tmp / f"probed-{page.name}"
    probed.write_text(text.replace("<head>", "<head>" + FIRST, 1).replace("</body>", LAST + "</body>", 1),
                      encoding="utf-8")
    r = chromium(tmp, probed, f"--window-size={WIDTH},900", "--dump-dom")
    found = re.search(r'<pre id="probe">(.*?)</pre>', r.stdout, re.S)
    assert found, f"the probe wrote nothing; chromium said:\n{r.stderr[-3000:]}"
    return json.loads(found[1].replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def busy(image, box: tuple[int, int, int, int]) -> tuple[int, float]:
    """Distinct colours, and the share of pixels that are not the page's white, in a box of the PNG."""
    import numpy as np

    pixels = np.asarray(image.crop(box).convert("RGB")).reshape(-1, 3)
    return len(np.unique(pixels, axis=0)), float(np.mean(np.any(pixels != 255, axis=1)))


def test_the_report_renders_every_plot_without_errors(tmp_path, monkeypatch):
    from PIL import Image

    monkeypatch.chdir(tmp_path)
    run_report(workdir(tmp_path))  # two scales, two replicates each: every plot has something to draw
    page = tmp_path / "report" / "tiny" / "report.html"

    found = probe(tmp_path, page)
    assert found["errors"] == []
    assert [p["name"] for p in found["plots"]] == PLOTS
    objective = [float(v) for v in found["sorted"]]
    assert objective == sorted(objective) and len(objective) == 15  # the sort ran: ascending after one click

    shot = tmp_path / "report.png"
    r = chromium(tmp_path, page, f"--window-size={WIDTH},{found['height']}", f"--screenshot={shot}")
    assert shot.is_file(), r.stderr[-3000:]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "report.png")
    shutil.copy(page, ARTIFACTS / "report.html")
    image = Image.open(shot)
    assert image.size == (WIDTH, found["height"])
    colours, ink = busy(image, (0, 0, *image.size))
    assert colours > 200 and ink > 0.05, (colours, ink)
    for plot in found["plots"]:
        box = (int(plot["x"]), int(plot["y"]), int(plot["x"] + plot["w"]), int(plot["y"] + plot["h"]))
        assert plot["w"] > 300 and plot["h"] > 150, plot  # laid out at a readable size
        colours, ink = busy(image, box)
        assert colours > 20 and ink > 0.02, (plot["name"], colours, ink)  # something was drawn there


def test_the_probe_catches_a_script_error(tmp_path):
    """The check above can fail: a page whose script throws is reported."""
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><html><head></head><body><table class='sortable'><thead><tr><th>objective</th>"
                    "</tr></thead><tbody></tbody></table><script>undefinedFunction();</script></body></html>")
    found = probe(tmp_path, page)
    assert found["errors"] and "undefinedFunction" in found["errors"][0] and found["plots"] == []
