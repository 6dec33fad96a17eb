"""Typed request dependencies for the detection domain's long-lived objects."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from detections.engine import RuleSet
from detections.matcher import Detector
from soc.core.deps import state_dependency

RuleSetDep = Annotated[RuleSet, Depends(state_dependency("ruleset", RuleSet))]
DetectorDep = Annotated[Detector, Depends(state_dependency("detector", Detector))]
