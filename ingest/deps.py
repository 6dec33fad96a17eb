"""Typed request dependencies for the ingest domain's long-lived objects (see soc.core.deps)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from ingest.gate import IngestGate
from ingest.pipeline_port import IngestPipeline
from ingest.store.base import EventStore
from soc.core.deps import state_dependency

StoreDep = Annotated[EventStore, Depends(state_dependency("store", EventStore))]
IngestGateDep = Annotated[IngestGate, Depends(state_dependency("ingest_gate", IngestGate))]
PipelineDep = Annotated[IngestPipeline, Depends(state_dependency("pipeline", IngestPipeline))]
