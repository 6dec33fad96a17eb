"""What an import would do (the plan its preview shows and its apply writes), as values:
CIs added / changed / restored / retired, relations added / retired, errors and warnings
named by row, and the loops the new relations close."""

from __future__ import annotations

from dataclasses import dataclass, field

from soc.cmdb.cistore import CIState, Diff
from soc.cmdb.import_formats import RowError
from soc.cmdb.models import ConfigurationItem, Relation

Key = int | str  # a stored CI's id, or the external id of a CI this import creates


@dataclass
class ImportRequest:
    format: str  # csv | json | servicenow
    content: str
    provider: str | None  # slug; None = the integrator's own CIs (unscoped users only)
    source: str | None = None
    full_sync: bool = False


@dataclass
class CIItem:
    external_id: str
    name: str
    ci_type: str
    ci_id: int | None = None
    diff: Diff = field(default_factory=dict)


@dataclass
class RelationItem:
    from_ref: str
    to_ref: str
    rel_type: str
    relation_id: int | None = None


@dataclass
class ImportPlan:
    format: str
    provider: str | None
    source: str
    full_sync: bool
    added: list[CIItem] = field(default_factory=list)
    changed: list[CIItem] = field(default_factory=list)
    restored: list[CIItem] = field(default_factory=list)
    retired: list[CIItem] = field(default_factory=list)
    unchanged: int = 0
    relations_added: list[RelationItem] = field(default_factory=list)
    relations_retired: list[RelationItem] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)
    warnings: list[RowError] = field(default_factory=list)
    cycles: list[list[str]] = field(default_factory=list)
    applied: bool = False

    @property
    def has_changes(self) -> bool:
        return bool(
            self.added
            or self.changed
            or self.restored
            or self.retired
            or self.relations_added
            or self.relations_retired
        )


@dataclass
class Write:
    """One CI the plan writes."""

    item: CIItem
    ci: ConfigurationItem | None
    old: CIState | None
    new: CIState
    action: str  # created | updated | restored


@dataclass
class Work:
    """What apply needs beyond the plan shown: the rows and objects to write."""

    provider_id: int | None
    writes: list[Write] = field(default_factory=list)
    retire: list[ConfigurationItem] = field(default_factory=list)
    present: dict[str, Key] = field(default_factory=dict)  # external id → key
    dropped: dict[str, str] = field(default_factory=dict)  # external id → why it is not
    add: list[tuple[Key, Key, str, Relation | None, RelationItem]] = field(default_factory=list)
    retire_relations: list[Relation] = field(default_factory=list)
