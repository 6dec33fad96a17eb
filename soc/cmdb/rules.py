"""The correlation rules: from firing alerts, maintenance and the CMDB graph to the state of
every CI, the probable root causes of an impaired one, and the incidents.

Pure and in memory (no database): the product keeps one `Correlator` per process and updates it
per event; `soc cmdb simulate` builds one from a JSON file. The graph is a networkx DiGraph of
*reads*: an edge u → v means u's state reads v's — for `depends_on`, `runs_on` and `hosted_in`
from the dependent to its dependency, for `member_of` from the cluster to its member.
`connects_to` is kept for display and never propagates.

States, worst first: down > degraded > maintenance > operational. A CI's own state comes from
its firing alerts (critical → down, major/minor → degraded; warning/info change nothing), or is
`maintenance` while a window is open. Its state is the worst of its own state, its
dependencies' states and, for a cluster, what its members allow: operational while all are
operational, down when fewer than `min_healthy` members are up (not down), maintenance when the
only impairment is members in maintenance, degraded otherwise.

Cycles (a `depends_on` loop) are strongly connected components, solved as a least fixpoint, so
propagation terminates and a loop never keeps itself down once its own alerts clear.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import networkx as nx

OPERATIONAL, MAINTENANCE, DEGRADED, DOWN = "operational", "maintenance", "degraded", "down"
STATE_RANK = {OPERATIONAL: 0, MAINTENANCE: 1, DEGRADED: 2, DOWN: 3}
STATES = tuple(STATE_RANK)
IMPAIRED = frozenset({DEGRADED, DOWN})
SEVERITY_RANK = {"info": 0, "warning": 1, "minor": 2, "major": 3, "critical": 4}
SEVERITIES = tuple(sorted(SEVERITY_RANK, key=SEVERITY_RANK.__getitem__, reverse=True))
PROPAGATING = frozenset({"depends_on", "runs_on", "hosted_in"})
MEMBER_OF = "member_of"
RELATION_TYPES = frozenset({*PROPAGATING, MEMBER_OF, "connects_to"})
APPLICATION = "application"

Node = TypeVar("Node", bound=Hashable)


class TopologyError(ValueError):
    """A relation or window names a CI that does not exist, or a relation type is unknown."""


def worst(*states: str) -> str:
    return max(states, key=STATE_RANK.__getitem__, default=OPERATIONAL)


def severity_state(severity: str) -> str:
    """What one firing alert of this severity does to its CI."""
    if severity == "critical":
        return DOWN
    if severity in ("major", "minor"):
        return DEGRADED
    return OPERATIONAL


def cluster_state(member_states: Iterable[str], min_healthy: int) -> str:
    states = list(member_states)
    up = sum(1 for s in states if s != DOWN)
    if up < min_healthy:
        return DOWN
    impaired = [s for s in states if s != OPERATIONAL]
    if not impaired:
        return OPERATIONAL
    if all(s == MAINTENANCE for s in impaired):
        return MAINTENANCE
    return DEGRADED


@dataclass(frozen=True)
class Change(Generic[Node]):
    ci: Node
    previous: str
    state: str


@dataclass(frozen=True)
class Incident(Generic[Node]):
    root_causes: tuple[Node, ...]
    applications: tuple[Node, ...]
    tenants: tuple[Any, ...]
    critical: bool


@dataclass
class Correlator(Generic[Node]):
    """The graph, the alerts and the computed states; `update` changes them incrementally."""

    graph: nx.DiGraph[Any] = field(default_factory=nx.DiGraph)
    ci_type: dict[Node, str] = field(default_factory=dict)
    min_healthy: dict[Node, int] = field(default_factory=dict)
    tenants: dict[Node, tuple[Any, ...]] = field(default_factory=dict)
    links: set[tuple[Node, Node]] = field(default_factory=set)  # connects_to, display only
    alerts: dict[Hashable, tuple[Node, str]] = field(default_factory=dict)  # fp → (ci, sev)
    firing: dict[Node, dict[Hashable, str]] = field(default_factory=dict)  # ci → fp → sev
    maintenance: set[Node] = field(default_factory=set)
    state: dict[Node, str] = field(default_factory=dict)
    roots: set[Node] = field(default_factory=set)
    cycles: list[list[Node]] = field(default_factory=list)
    self_loops: set[Node] = field(default_factory=set)
    _component: dict[Node, int] = field(default_factory=dict)
    _members: dict[int, list[Node]] = field(default_factory=dict)
    # node → its reads' edge data: networkx's own dicts (`adjacency()`), set by `finalize`;
    # `graph.adj[node]` builds a view per call, a third of a full recompute.
    _reads: dict[Node, dict[Node, dict[str, bool]]] = field(default_factory=dict)
    # Each impaired application's roots as a mask over `_bits`, kept between `incidents`
    # calls; `update` marks dirty the applications above what it changed (None: all).
    _app_roots: dict[Node, int] = field(default_factory=dict)
    _bits: dict[Node, int] = field(default_factory=dict)
    _dirty: set[Node] | None = None

    # --- building ---------------------------------------------------------------------------

    def add_ci(
        self,
        ci: Node,
        ci_type: str,
        *,
        min_healthy: int | None = None,
        tenants: Iterable[Any] = (),
    ) -> None:
        self.graph.add_node(ci)
        self.ci_type[ci] = ci_type
        if min_healthy is not None:
            self.min_healthy[ci] = min_healthy
        self.tenants[ci] = tuple(tenants)

    def add_relation(self, source: Node, target: Node, rel_type: str) -> None:
        """`source` depends on / runs on / is hosted in / is a member of / connects to `target`."""
        for end in (source, target):
            if end not in self.ci_type:
                raise TopologyError(
                    f"relation {source!r} {rel_type} {target!r}: unknown CI {end!r}"
                )
        if rel_type in PROPAGATING:
            self._add_read(source, target, member=False)
        elif rel_type == MEMBER_OF:
            self._add_read(target, source, member=True)
        elif rel_type == "connects_to":
            self.links.add((source, target))
        else:
            raise TopologyError(f"unknown relation type {rel_type!r}")

    def _add_read(self, reader: Node, read: Node, *, member: bool) -> None:
        if reader == read:  # a CI depending on itself: reported as a cycle, never propagated
            self.self_loops.add(reader)
            return
        data = self.graph.get_edge_data(reader, read)
        if data is None:
            self.graph.add_edge(reader, read, dep=not member, member=member)
        else:  # the same pair related twice (say depends_on and member_of): keep both roles
            data["dep"] = data["dep"] or not member
            data["member"] = data["member"] or member

    def finalize(self) -> list[list[Node]]:
        """Order the graph (components, deps first) and compute every state from scratch;
        returns the cycles found (each a sorted list of CIs)."""
        self._component.clear()
        self._members.clear()
        self.cycles = []
        self._reads = dict(self.graph.adjacency())
        self._app_roots, self._bits, self._dirty = {}, {}, None
        # Tarjan's order yields a component after every component it reads: deps first.
        for rank, members in enumerate(_components_deps_first(self._reads)):
            self._members[rank] = members
            for node in members:
                self._component[node] = rank
            if len(members) > 1 or members[0] in self.self_loops:
                self.cycles.append(sorted(members, key=_sort_key))
        self.state = {}
        for rank in range(len(self._members)):
            self._solve(rank)
        self.roots = {n for n in self.graph if self._is_root(n)}
        return self.cycles

    # --- updating ---------------------------------------------------------------------------

    def apply_alert(
        self, fingerprint: Hashable, ci: Node, severity: str, firing: bool
    ) -> tuple[Node, ...]:
        """Record the latest state of a fingerprint (firing with a severity, or resolved);
        returns the CIs it touched (it may have moved), to pass to `update`."""
        previous = self.alerts.pop(fingerprint, None)
        touched: tuple[Node, ...] = (ci,)
        if previous is not None:
            book = self.firing.get(previous[0], {})
            book.pop(fingerprint, None)
            if not book:
                self.firing.pop(previous[0], None)
            if previous[0] != ci:
                touched = (ci, previous[0])
        if firing:
            self.alerts[fingerprint] = (ci, severity)
            self.firing.setdefault(ci, {})[fingerprint] = severity
        return touched

    def set_maintenance(self, ci: Node, active: bool) -> None:
        if active:
            self.maintenance.add(ci)
        else:
            self.maintenance.discard(ci)

    def update(self, touched: Iterable[Node]) -> list[Change[Node]]:
        """Recompute what the touched CIs' own states reach, deps first, each component once."""
        before: dict[Node, str] = {}
        heap: list[int] = []
        queued: set[int] = set()
        recheck: set[Node] = set()
        for ci in touched:
            recheck.add(ci)
            comp = self._component[ci]
            if comp not in queued:
                queued.add(comp)
                heapq.heappush(heap, comp)
        while heap:
            comp = heapq.heappop(heap)
            members = self._members[comp]
            old = {n: self.state[n] for n in members}
            if len(members) == 1:  # most components are one CI: no fixpoint to solve
                self.state[members[0]] = self._compute(members[0])
            else:
                self._solve(comp)
            for node in members:
                if self.state[node] == old[node]:
                    continue
                before.setdefault(node, old[node])
                recheck.add(node)
                for reader in self.graph.predecessors(node):
                    recheck.add(reader)
                    rc = self._component[reader]
                    if rc not in queued:
                        queued.add(rc)
                        heapq.heappush(heap, rc)
        flipped: list[Node] = []
        for node in recheck:
            was_root = node in self.roots
            if self._is_root(node):
                self.roots.add(node)
            else:
                self.roots.discard(node)
            if was_root != (node in self.roots):
                flipped.append(node)
        self._mark_dirty([*before, *flipped])
        return [Change(n, was, self.state[n]) for n, was in before.items() if self.state[n] != was]

    def _mark_dirty(self, changed: list[Node]) -> None:
        """The applications above these CIs may have other roots now."""
        if self._dirty is None or not changed:
            return
        seen = set(changed)
        frontier = list(changed)
        while frontier:
            node = frontier.pop()
            if self.ci_type.get(node) == APPLICATION:
                self._dirty.add(node)
            for reader in self.graph.predecessors(node):
                if reader not in seen:
                    seen.add(reader)
                    frontier.append(reader)

    # --- the rules --------------------------------------------------------------------------

    def own_state(self, ci: Node) -> str:
        if ci in self.maintenance:
            return MAINTENANCE
        return self.event_state(ci)

    def event_state(self, ci: Node) -> str:
        book = self.firing.get(ci)
        if not book:
            return OPERATIONAL
        return worst(*(severity_state(s) for s in book.values()))

    def is_own(self, ci: Node) -> bool:
        """Impaired by its own alerts (a CI in maintenance is not)."""
        return ci not in self.maintenance and self.event_state(ci) in IMPAIRED

    def _compute(self, node: Node) -> str:
        # Ranks, not `worst`: this runs once per CI a change reaches (the hot loop).
        rank = STATE_RANK[self.own_state(node)]
        members: list[str] = []
        state_of = self.state.get
        for dep, data in self._reads[node].items():
            dep_state = state_of(dep, OPERATIONAL)
            if data["dep"] and STATE_RANK[dep_state] > rank:
                rank = STATE_RANK[dep_state]
            if data["member"]:
                members.append(dep_state)
        state = STATES[rank]
        if members:
            state = worst(state, cluster_state(members, self.min_healthy.get(node, 1)))
        return state

    def _solve(self, comp: int) -> None:
        members = self._members[comp]
        if len(members) == 1:
            self.state[members[0]] = self._compute(members[0])
            return
        for node in members:  # least fixpoint: start from the bottom, states only rise
            self.state[node] = OPERATIONAL
        changed = True
        while changed:
            changed = False
            for node in members:
                new = self._compute(node)
                if new != self.state[node]:
                    self.state[node] = new
                    changed = True

    def _is_root(self, node: Node) -> bool:
        if not self.is_own(node):
            return False
        comp = self._component[node]
        return not any(
            self.state[dep] in IMPAIRED for dep in self._reads[node] if self._component[dep] != comp
        )

    # --- reading ----------------------------------------------------------------------------

    def root_paths(self, ci: Node) -> dict[Node, list[Node]]:
        """Each probable root cause under an impaired CI (itself included) with the path from
        the CI down to it, found through impaired CIs only."""
        if self.state.get(ci) not in IMPAIRED:
            return {}
        parent: dict[Node, Node | None] = {ci: None}
        frontier = [ci]
        found: dict[Node, list[Node]] = {}
        while frontier:
            nxt: list[Node] = []
            for node in frontier:
                if node in self.roots:
                    found[node] = _path(parent, node)
                for dep in self.graph.adj[node]:
                    if dep not in parent and self.state[dep] in IMPAIRED:
                        parent[dep] = node
                        nxt.append(dep)
            frontier = nxt
        return found

    def root_causes(self, ci: Node) -> list[Node]:
        return self.root_causes_of([ci])[ci]

    def root_causes_of(self, cis: Iterable[Node]) -> dict[Node, list[Node]]:
        """`root_causes` of many CIs at once: what lies under a shared component is found
        once, not once per application above it (a core outage impairs thousands)."""
        memo: dict[Node, int] = {}
        bits: dict[Node, int] = {}  # root → its bit in the masks
        found: dict[Node, list[Node]] = {}
        for ci in cis:
            mask = self._roots_below(ci, memo, bits) if self.state.get(ci) in IMPAIRED else 0
            order = list(bits) if mask else []
            roots = [order[i] for i in range(mask.bit_length()) if mask >> i & 1]
            found[ci] = sorted(roots, key=_sort_key)
        return found

    def _roots_below(self, start: Node, memo: dict[Node, int], bits: dict[Node, int]) -> int:
        """The roots reachable from an impaired CI through impaired CIs, as a bit mask
        (iterative, memoised per CI; inside a cycle by a walk of its component)."""
        stack = [start]
        while stack:
            node = stack[-1]
            if node in memo:
                stack.pop()
                continue
            comp = self._component[node]
            inside = self._reach_in(node, comp) if len(self._members[comp]) > 1 else (node,)
            exits = [
                dep
                for member in inside
                for dep in self._reads[member]
                if self._component[dep] != comp and self.state[dep] in IMPAIRED
            ]
            pending = [dep for dep in exits if dep not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            mask = 0
            for member in inside:
                if member in self.roots:
                    mask |= 1 << bits.setdefault(member, len(bits))
            for dep in exits:
                mask |= memo[dep]
            memo[node] = mask
        return memo[start]

    def _reach_in(self, node: Node, comp: int) -> list[Node]:
        seen, frontier = {node}, [node]
        while frontier:
            step = frontier.pop()
            for dep in self._reads[step]:
                if dep not in seen and self._component[dep] == comp and self.state[dep] in IMPAIRED:
                    seen.add(dep)
                    frontier.append(dep)
        return list(seen)

    def applications(self) -> list[Node]:
        return sorted((n for n, t in self.ci_type.items() if t == APPLICATION), key=_sort_key)

    def incidents(self) -> list[Incident[Node]]:
        """One per connected group of root causes and the impaired applications above them.
        Groups merge on shared roots as bit masks: a graph of every (application, root) pair
        is most of a request's time when a shared outage impairs thousands of applications."""
        if len(self._bits) > 100_000:  # masks grow with every root ever seen: start over
            self._app_roots, self._bits, self._dirty = {}, {}, None
        bits = self._bits
        targets = self.applications() if self._dirty is None else list(self._dirty)
        memo: dict[Node, int] = {}
        for app in targets:
            mask = self._roots_below(app, memo, bits) if self.state.get(app) in IMPAIRED else 0
            if mask:
                self._app_roots[app] = mask
            else:
                self._app_roots.pop(app, None)
        self._dirty = set()
        groups: list[tuple[int, list[Node]]] = []  # (mask of roots, applications)
        for app, mask in self._app_roots.items():
            merged: list[Node] = [app]
            kept: list[tuple[int, list[Node]]] = []
            for group_mask, group_apps in groups:
                if group_mask & mask:
                    mask |= group_mask
                    merged += group_apps
                else:
                    kept.append((group_mask, group_apps))
            groups = [*kept, (mask, merged)]
        order = list(bits)
        incidents: list[Incident[Node]] = []
        for mask, members in groups:
            apps = sorted(members, key=_sort_key)
            roots = sorted(
                (order[i] for i in range(mask.bit_length()) if mask >> i & 1), key=_sort_key
            )
            tenants = sorted({t for app in apps for t in self.tenants.get(app, ())}, key=_sort_key)
            critical = any(self.event_state(r) == DOWN for r in roots)
            incidents.append(Incident(tuple(roots), tuple(apps), tuple(tenants), critical))
        incidents.sort(key=lambda i: [_sort_key(r) for r in i.root_causes])
        return incidents

    def impacted(self, ci: Node) -> bool:
        """Impaired because of something under it, not a root cause itself."""
        return self.state.get(ci) in IMPAIRED and ci not in self.roots


def _path(parent: dict[Node, Node | None], node: Node) -> list[Node]:
    path = [node]
    step = parent[node]
    while step is not None:
        path.append(step)
        step = parent[step]
    path.reverse()
    return path


def _sort_key(value: Any) -> tuple[str, Any]:
    """Sort ids of one kind naturally and mixed kinds without a TypeError."""
    return (type(value).__name__, value)


def _components_deps_first(adj: dict[Any, dict[Any, Any]]) -> list[list[Any]]:
    """Strongly connected components of an adjacency dict, each after every component it
    reads (iterative Tarjan, so a 100,000-CI chain does not hit Python's recursion limit)."""
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    on_stack: set[Any] = set()
    stack: list[Any] = []
    out: list[list[Any]] = []
    counter = 0
    for start in adj:
        if start in index:
            continue
        work: list[tuple[Any, Any]] = [(start, iter(adj[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(adj[child])))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                members = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    members.append(member)
                    if member == node:
                        break
                out.append(members)
    return out
