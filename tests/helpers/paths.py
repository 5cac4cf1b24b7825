"""Where things are: the repository root and the example corpus (nothing outside it is read)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "data"
