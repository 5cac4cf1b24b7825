"""The mixing laws a user can name, and a fitted law back from its JSON form.

One table, `LAWS`, from name to class: the CLI, the spec checker's messages, `auto`'s
candidates and `load_law` all read it. A law from JSON is validated by predicting one
mixture, so a malformed file fails on load, not in the middle of a solve. This module
fits nothing.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from mixc.compiler.mixture.laws.base import Law
from mixc.compiler.mixture.laws.bimix import BiMixLaw
from mixc.compiler.mixture.laws.boosted import BoostedLaw
from mixc.compiler.mixture.laws.gp import GaussianProcessLaw
from mixc.compiler.mixture.laws.linear import LinearLaw
from mixc.compiler.mixture.laws.loglinear import LogLinearLaw
from mixc.compiler.mixture.laws.powerlaw import PowerLaw, TiedPowerLaw
from mixc.compiler.mixture.laws.quadratic import QuadraticLaw

LAWS: dict[str, type[Law]] = {c.name: c for c in (LinearLaw, LogLinearLaw, PowerLaw, TiedPowerLaw, BoostedLaw,
                                                  GaussianProcessLaw, BiMixLaw, QuadraticLaw)}


def law_from_json(data: Mapping[str, Any], classes: Mapping[str, type[Law]] = LAWS) -> Law:
    """A law of one of `classes` from its JSON form, with a clear error for anything malformed."""
    try:
        cls = classes[data["law"]]
        law = cls(tuple(data["sources"]), tuple(data["targets"]), dict(data["params"]), dict(data.get("cv", {})),
                  tuple(float(x) for x in data.get("support", ())), bool(data.get("maximize", False)))
    except KeyError as exc:
        raise ValueError(f"not a mixing law: missing or unknown {exc}") from None
    except (TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"not a mixing law: {exc}") from None
    try:
        with np.errstate(all="ignore"):
            law.predict(np.full((1, len(law.sources)), 1.0 / max(len(law.sources), 1)))
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise ValueError(f"malformed {cls.name} law parameters: {exc}") from None
    return law
