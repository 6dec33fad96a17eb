"""MITRE ATT&CK and D3FEND reference data for pySigma's tag validators, offline.

pySigma 2 fetches both from GitHub on first use; a SOC host often has no internet, and then
`sigma check` fails and the product's validation drops the tag validators. The product ships
the tables (detections/data/, made by scripts/mitre_data.py from pySigma 0.11.23: ATT&CK 17.0,
D3FEND 0.16.0) and points pySigma at them, unless SOC_MITRE_ATTACK_URL /
SOC_MITRE_D3FEND_URL name another source (a newer download, or a URL where one is reachable).
"""

from __future__ import annotations

import os
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data"
ATTACK_FILE = DATA / "mitre-attack.json"
D3FEND_FILE = DATA / "mitre-d3fend.json"
_done = False


def use_offline_reference_data() -> None:
    """Point pySigma's ATT&CK and D3FEND loaders at the shipped files (once per process)."""
    global _done
    if _done:
        return
    from sigma.data import mitre_attack, mitre_d3fend

    mitre_attack.set_url(os.environ.get("SOC_MITRE_ATTACK_URL") or str(ATTACK_FILE))
    mitre_d3fend.set_url(os.environ.get("SOC_MITRE_D3FEND_URL") or str(D3FEND_FILE))
    _done = True
