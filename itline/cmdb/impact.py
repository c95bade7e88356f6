"""The impact engine: what is impacted if these nodes fail (``up``), and what they depend on,
i.e. what could have caused their failure (``down``).

Semantics. A relation "source <type> target" ("web-app runs on vm-1") means: if the target
fails, the source is impacted -- but only along relation types with ``propagates_impact``.
``up`` follows such edges backwards (target -> source) transitively, ``down`` forwards
(source -> target). Every reached node gets its BFS ``distance`` from the nearest start node
and a ``path`` (start -> ... -> node) along its BFS predecessors: a shortest path. When several
are equally short, the index and the SQL fallback may show different ones (the fallback takes
the predecessor with the smallest id); nodes, distances and cycles are always identical.

Cycles. Real structures contain cycles (multi-primary databases, applications calling each
other). Every traversal keeps a visited set, so it terminates. ``cycles`` reports them
precisely: the *examined* edges are the propagating edges leaving an expanded node (every
reached node, except those at distance == ``depth`` when a depth limit is given) towards a
reached node; ``cycles`` lists the strongly connected components with two or more nodes of
the graph formed by these edges, each as its sorted node ids, the list sorted by first id.
Without a depth limit these are exactly the cycles of the structure that the impact reaches.

Design -- why scipy.sparse.csgraph over CSR arrays. The index holds the propagating graph as
two CSR matrices (``up`` and ``down``: int32 indices, float64 unit weights, the types csgraph
takes without copying), the node ids, a service flag and the strongly connected components:
about 10 MB for 100k nodes / 300k relations and no per-node Python objects, so the cyclic GC
has nothing to walk and there is no GC pause on the request path (nothing to ``gc.freeze()``).
A query is one call of scipy's compiled ``breadth_first_order`` (a FIFO BFS in C: ~0.1 ms for
the 20k-node hub closure of the benchmark) plus a few vectorised numpy operations: because the
BFS is FIFO, the position of each node's predecessor in the BFS order never decreases, so the
level boundaries -- hence distances and the depth cut -- cost one binary search per level.
Several start nodes are one BFS from a virtual node whose row lists them (a per-thread copy of
the matrix with one spare row; the query only writes the starts into its tail).
Alternatives measured on the same data (``benchmarks/impact.py``): a level-synchronous numpy
frontier expansion needs ~12 array operations per level and took 1.6 ms for the hub (3x slower);
rustworkx ``ancestors``/``descendants`` return a Python set (20k objects per call) and give no
distances, depth limit or predecessors; networkx and a Python dict BFS are 10-100x slower.
scipy also gives the strongly connected components (once per build).

Freshness. The index is shared per process and per database alias, and tagged with the
``GraphVersion`` it was built from (the version is read *before* the graph, so an index can
only look older than it is, never fresher). Each query reads the current version (one tiny
SELECT); when it differs, the query is answered by the recursive SQL fallback while one
background thread rebuilds the index from committed data. The SQL fallback is a single
``WITH RECURSIVE`` statement (SQLite and PostgreSQL) that also returns the examined edges, so
it produces the same distances, paths and cycles. An index built inside a transaction might
contain uncommitted changes whose version number a rollback would hand out again, so such an
index is used for that query only and never published; tests (always inside a transaction)
therefore build inline (see ``background_builds``)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.db import connections, transaction

logger = logging.getLogger(__name__)

Direction = Literal["up", "down"]
DIRECTIONS: tuple[str, ...] = ("up", "down")
NO_LIMIT = 2**31 - 1
# First distance bound of the SQL fallback without a depth limit; multiplied by 4 while the
# answer may be cut by it (see impact_sql).
SQL_FIRST_BOUND = 16


def _tables() -> dict[str, str]:
    from itline.cmdb.models import GraphVersion, Node, Relation, RelationType

    return {
        "node": Node._meta.db_table,
        "relation": Relation._meta.db_table,
        "relationtype": RelationType._meta.db_table,
        "version": GraphVersion._meta.db_table,
    }


def current_version(using: str = "default") -> int:
    """The graph version in the database: one primary-key SELECT on a one-row table."""
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT version FROM {_tables()['version']} WHERE id = 1")  # noqa: S608
        row = cursor.fetchone()
    return int(row[0]) if row else 0


# --- the result ---------------------------------------------------------------------------


@dataclass
class ImpactResult:
    """Every reached node of one query, in BFS order (starts first), as parallel arrays.

    ``node_ids[k]`` was reached at ``distances[k]`` via ``predecessors[k]`` (a node id; a start
    node is its own predecessor). ``answered_by`` is ``"index"`` or ``"sql"``."""

    direction: str
    depth: int | None
    starts: list[int]
    node_ids: np.ndarray
    distances: np.ndarray
    predecessors: np.ndarray
    is_service: np.ndarray
    cycles: list[list[int]]
    answered_by: str
    version: int
    _position: np.ndarray | None = field(default=None, repr=False)
    _sorted_ids: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.node_ids)

    def __contains__(self, node_id: object) -> bool:
        return isinstance(node_id, int | np.integer) and self._index_of(int(node_id)) >= 0

    def _index_of(self, node_id: int) -> int:
        if self._sorted_ids is None:
            self._position = np.argsort(self.node_ids, kind="stable")
            self._sorted_ids = self.node_ids[self._position]
        assert self._position is not None
        k = int(np.searchsorted(self._sorted_ids, node_id))
        if k < len(self._sorted_ids) and self._sorted_ids[k] == node_id:
            return int(self._position[k])
        return -1

    def distance(self, node_id: int) -> int | None:
        k = self._index_of(node_id)
        return None if k < 0 else int(self.distances[k])

    def path(self, node_id: int) -> list[int]:
        """Node ids from a start node to ``node_id`` (empty when it was not reached): why it
        is impacted ("up") or how it is needed ("down")."""
        k = self._index_of(node_id)
        if k < 0:
            return []
        path = [node_id]
        while int(self.distances[k]) > 0:
            node_id = int(self.predecessors[k])
            path.append(node_id)
            k = self._index_of(node_id)
        path.reverse()
        return path

    def distances_by_node(self) -> dict[int, int]:
        """``{node id: distance}``; builds Python objects, so for tests and small answers."""
        return dict(zip(self.node_ids.tolist(), self.distances.tolist(), strict=True))

    @property
    def impacted_ids(self) -> np.ndarray:
        """The reached nodes other than the start nodes."""
        return self.node_ids[self.distances > 0]

    @property
    def service_ids(self) -> np.ndarray:
        """The reached services (start nodes excluded)."""
        return self.node_ids[self.is_service & (self.distances > 0)]

    def customers(self, using: str = "default") -> list[Any]:
        """Customers served by the reached services and by failing services themselves (for
        ``up``: the customers impacted; if Payroll fails, its customer is affected even when
        no other service is)."""
        from itline.org.models import Customer

        ids = [*self.service_ids.tolist(), *self.starts]
        if not ids:
            return []
        return list(
            Customer.objects.using(using)
            .filter(services__in=ids)
            .select_related("business_unit")
            .distinct()
            .order_by("business_unit__name")
        )


# --- the index ----------------------------------------------------------------------------


def _csr(rows: np.ndarray, cols: np.ndarray, n: int) -> Any:
    """The (already unique) edges rows -> cols as a scipy CSR matrix of n x n, columns
    ascending within a row, float64 weights and int32 indices: the types the compiled csgraph
    routines take without copying."""
    from scipy.sparse import csr_matrix

    order = np.lexsort((cols, rows))
    indptr = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    indices = cols[order].astype(np.int32)
    data = np.ones(len(indices), dtype=np.float64)
    return csr_matrix((data, indices, indptr), shape=(n, n), copy=False)


def _components(nodes_a: np.ndarray, nodes_b: np.ndarray) -> list[list[int]]:
    """The strongly connected components with >= 2 nodes of the graph with edges a -> b (node
    ids), each sorted, sorted by first id."""
    if len(nodes_a) == 0:
        return []
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    nodes, inverse = np.unique(np.concatenate([nodes_a, nodes_b]), return_inverse=True)
    a, b = inverse[: len(nodes_a)], inverse[len(nodes_a) :]
    graph = csr_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=True, connection="strong")
    return _groups(nodes, labels)


def _groups(nodes: np.ndarray, labels: np.ndarray) -> list[list[int]]:
    """Group ``nodes`` by ``labels``; keep groups of two or more."""
    if len(nodes) == 0:
        return []
    order = np.lexsort((nodes, labels))
    nodes, labels = nodes[order], labels[order]
    cuts = np.flatnonzero(np.diff(labels)) + 1
    groups = [g.tolist() for g in np.split(nodes, cuts) if len(g) > 1]
    return sorted(groups)


MAX_STARTS = 128  # start nodes a thread's multi-start matrix has room for (grows on demand)


@dataclass
class GraphIndex:
    """The propagating part of the service structure as two CSR matrices over dense node
    numbers (``ids[k]`` is the node id of number k; ascending, so number order = id order):
    ``up`` has a row per target listing its sources, ``down`` the transpose."""

    version: int
    using: str
    ids: np.ndarray  # int64, ascending
    is_service: np.ndarray  # bool
    up: Any  # scipy.sparse.csr_matrix
    down: Any
    scc: np.ndarray  # int32 strongly connected component label per node
    scc_size: np.ndarray  # int32 size per label
    in_cycle: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    has_cycles: bool = False
    build_seconds: float = 0.0
    published: bool = False
    _local: threading.local = field(default_factory=threading.local, repr=False)

    @property
    def n_nodes(self) -> int:
        return len(self.ids)

    @property
    def n_edges(self) -> int:
        return int(self.up.nnz)

    @property
    def nbytes(self) -> int:
        arrays = [self.ids, self.is_service, self.scc, self.scc_size, self.in_cycle]
        for m in (self.up, self.down):
            arrays += [m.data, m.indices, m.indptr]
        return sum(a.nbytes for a in arrays)

    def numbers(self, node_ids: Iterable[int]) -> np.ndarray:
        """Dense numbers (ascending) of the node ids that exist in the index; others dropped."""
        wanted = np.unique(np.fromiter(node_ids, dtype=np.int64))
        if not self.n_nodes:
            return np.zeros(0, dtype=np.int32)
        k = np.minimum(np.searchsorted(self.ids, wanted), self.n_nodes - 1)
        return k[self.ids[k] == wanted].astype(np.int32)

    def _position(self, size: int) -> np.ndarray:
        scratch = getattr(self._local, "position", None)
        if scratch is None or len(scratch) != size:
            scratch = np.empty(size, dtype=np.int32)
            self._local.position = scratch
        return scratch

    def _with_virtual_start(self, direction: str, starts: np.ndarray) -> Any:
        """This thread's copy of the matrix with one more row, n, pointing at ``starts``: a
        BFS from n is a BFS from all starts at once (distances one more). The copy is made
        once per thread; a query only writes the starts into its tail."""
        from scipy.sparse import csr_matrix

        base = self.up if direction == "up" else self.down
        n, nnz, k = self.n_nodes, int(base.nnz), len(starts)
        cached = getattr(self._local, direction, None)
        if cached is None or len(cached.indices) - nnz < k:
            room = max(MAX_STARTS, k)
            indices = np.empty(nnz + room, dtype=np.int32)
            indices[:nnz] = base.indices
            indptr = np.empty(n + 2, dtype=np.int32)
            indptr[: n + 1] = base.indptr
            indptr[n + 1] = nnz + room  # full while scipy checks it; cut below
            data = np.ones(nnz + room, dtype=np.float64)
            cached = csr_matrix((data, indices, indptr), shape=(n + 1, n + 1), copy=False)
            # the query writes into these buffers: they must be the matrix's own memory
            assert np.shares_memory(cached.indices, indices)
            assert np.shares_memory(cached.indptr, indptr)
            setattr(self._local, direction, cached)
        cached.indices[nnz : nnz + k] = starts
        cached.indptr[n + 1] = nnz + k
        return cached

    def traverse(
        self, starts: np.ndarray, direction: str, depth: int | None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[list[int]]]:
        """BFS from the dense numbers ``starts`` (unique, ascending). Returns the reached
        numbers in BFS order, their distances, their BFS predecessors (numbers; a start is
        its own) and the cycles (node ids).

        The BFS itself is scipy's compiled ``breadth_first_order``. It is a FIFO BFS, so in
        its order the position of each node's predecessor never decreases; the level
        boundaries, hence the distances and the depth cut, follow with one binary search per
        level."""
        from scipy.sparse.csgraph import breadth_first_order

        empty = np.zeros(0, dtype=np.int32)
        if len(starts) == 0:
            return empty, empty, empty, []
        virtual = len(starts) > 1
        if virtual:
            graph, head = self._with_virtual_start(direction, starts), self.n_nodes
        else:
            graph, head = (self.up if direction == "up" else self.down), int(starts[0])
        order, pred_of = breadth_first_order(graph, head, directed=True, return_predecessors=True)
        preds = pred_of[order]
        preds[0] = head
        position = self._position(len(pred_of))  # scratch: only entries written now are read
        position[order] = np.arange(len(order), dtype=np.int32)
        pred_pos = position[preds]
        pred_pos[0] = -1
        ends = [1]  # ends[level] = first position after that level
        while ends[-1] < len(order):
            ends.append(int(np.searchsorted(pred_pos, ends[-1], side="left")))
        if virtual:  # drop the virtual node: its children are the starts, at distance 0
            order, preds, ends = order[1:], preds[1:], [e - 1 for e in ends[1:]]
            preds[: ends[0]] = order[: ends[0]]
        if depth is not None:
            ends = ends[: depth + 1]
            order, preds = order[: ends[-1]], preds[: ends[-1]]
        distances = np.repeat(np.arange(len(ends), dtype=np.int32), np.diff(ends, prepend=0))
        order = order.astype(np.int32, copy=False)
        preds = preds.astype(np.int32, copy=False)
        if not self.has_cycles:
            cycles: list[list[int]] = []
        elif depth is None:
            # The reached set is closed under the traversal, so the cycles are exactly the
            # structure's strongly connected components that it touches (precomputed).
            inside = order[self.in_cycle[order]]
            cycles = _groups(self.ids[inside], self.scc[inside])
        else:
            cycles = self._cycles_within(order, distances, direction, depth)
        return order, distances, preds, cycles

    def _cycles_within(
        self, order: np.ndarray, distances: np.ndarray, direction: str, depth: int
    ) -> list[list[int]]:
        """Cycles among the examined edges of a depth-limited traversal: edges from an
        expanded node (distance < depth) to a reached node, inside one strongly connected
        component of the structure (no other edge can lie on a cycle)."""
        graph = self.up if direction == "up" else self.down
        labels = self.scc[order]
        expanded = order[(distances < depth) & (self.scc_size[labels] > 1)]
        if len(expanded) == 0:
            return []
        lo = graph.indptr[expanded].astype(np.int64)
        counts = graph.indptr[expanded + 1] - lo
        total = int(counts.sum())
        shift = np.repeat(lo - (np.cumsum(counts) - counts), counts)
        nb = graph.indices[np.arange(total, dtype=np.int64) + shift]
        par = np.repeat(expanded, counts)
        keep = (self.scc[par] == self.scc[nb]) & np.isin(nb, order)
        return _components(self.ids[par[keep]], self.ids[nb[keep]])


def build_index(using: str = "default") -> GraphIndex:
    """Read the propagating graph of database ``using`` into a :class:`GraphIndex`."""
    from scipy.sparse.csgraph import connected_components

    started = time.perf_counter()
    t = _tables()
    version = current_version(using)  # before the graph: the index may only look older
    chunk = 100_000
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT id, kind FROM {t['node']} ORDER BY id")  # noqa: S608
        id_parts, svc_parts = [], []
        while rows := cursor.fetchmany(chunk):
            id_parts.append(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))
            svc_parts.append(
                np.fromiter((r[1] == "service" for r in rows), dtype=bool, count=len(rows))
            )
        cursor.execute(
            f"SELECT r.source_id, r.target_id FROM {t['relation']} r "  # noqa: S608
            f"JOIN {t['relationtype']} t ON t.id = r.relation_type_id WHERE t.propagates_impact"
        )
        edge_parts = []
        while rows := cursor.fetchmany(chunk):
            flat = np.fromiter((v for r in rows for v in r), dtype=np.int64, count=2 * len(rows))
            edge_parts.append(flat.reshape(-1, 2))
    ids = np.concatenate(id_parts) if id_parts else np.zeros(0, dtype=np.int64)
    is_service = np.concatenate(svc_parts) if svc_parts else np.zeros(0, dtype=bool)
    edges = np.concatenate(edge_parts) if edge_parts else np.zeros((0, 2), dtype=np.int64)
    n = len(ids)
    src = np.searchsorted(ids, edges[:, 0]).astype(np.int64)
    dst = np.searchsorted(ids, edges[:, 1]).astype(np.int64)
    if len(src):  # one edge per node pair, whatever the number of relation types between them
        unique = np.unique(src * n + dst)
        src, dst = unique // n, unique % n
    down = _csr(src, dst, n)
    _, labels = connected_components(down, directed=True, connection="strong")
    labels = labels.astype(np.int32)
    index = GraphIndex(
        version=version,
        using=using,
        ids=ids,
        is_service=is_service,
        up=_csr(dst, src, n),
        down=down,
        scc=labels,
        scc_size=np.bincount(labels).astype(np.int32) if n else np.zeros(0, dtype=np.int32),
    )
    index.in_cycle = index.scc_size[labels] > 1
    index.has_cycles = bool(index.in_cycle.any())
    index.build_seconds = time.perf_counter() - started
    return index


# --- the shared index per process ---------------------------------------------------------


def background_builds() -> bool:
    """Rebuild stale indexes in a background thread (production) or inline in the querying
    thread (tests: a builder thread cannot see the test's transaction).
    Setting ``IMPACT_BACKGROUND_BUILD`` overrides the default (off when testing)."""
    default = not getattr(settings, "TESTING", False)
    return bool(getattr(settings, "IMPACT_BACKGROUND_BUILD", default))


class _Holder:
    """The published index of one database alias, and at most one builder at a time."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.index: GraphIndex | None = None
        self.lock = threading.Lock()
        self.building: threading.Thread | None = None
        self.last_error: str | None = None

    def publish(self, index: GraphIndex) -> None:
        with self.lock:
            if self.index is None or index.version >= self.index.version:
                index.published = True
                self.index = index

    def start_build(self) -> bool:
        """Start the builder thread unless one runs; True if this call started it."""
        with self.lock:
            if self.building is not None and self.building.is_alive():
                return False
            thread = threading.Thread(
                target=self._build, name=f"impact-index-{self.using}", daemon=True
            )
            self.building = thread
        thread.start()
        return True

    def _build(self) -> None:
        try:
            self.publish(build_index(self.using))
            self.last_error = None
        except Exception as exc:  # a failed build must not kill the process; SQL still answers
            self.last_error = repr(exc)
            logger.exception("Building the impact index of %r failed", self.using)
        finally:
            connections[self.using].close()


_holders: dict[str, _Holder] = {}
_holders_lock = threading.Lock()


def _holder(using: str) -> _Holder:
    holder = _holders.get(using)
    if holder is None:
        with _holders_lock:
            holder = _holders.setdefault(using, _Holder(using))
    return holder


def warm(using: str = "default") -> GraphIndex:
    """Build the index now, in this thread, and publish it (process start, benchmarks,
    management commands). Call it outside a transaction: it publishes what it reads."""
    index = build_index(using)
    _holder(using).publish(index)
    return index


def wait_for_build(using: str = "default", timeout: float | None = None) -> None:
    """Wait for a running background build (tests, benchmarks)."""
    thread = _holder(using).building
    if thread is not None:
        thread.join(timeout)


def forget(using: str | None = None) -> None:
    """Drop the published index of ``using`` (or all); the next query rebuilds."""
    for alias in [using] if using else list(_holders):
        if alias in _holders:
            wait_for_build(alias)
            _holders[alias].index = None


def status(using: str = "default") -> dict[str, Any]:
    """What the index of this process looks like (for metrics and the admin)."""
    holder = _holder(using)
    index = holder.index
    return {
        "built": index is not None,
        "version": index.version if index else None,
        "nodes": index.n_nodes if index else 0,
        "edges": index.n_edges if index else 0,
        "bytes": index.nbytes if index else 0,
        "build_seconds": index.build_seconds if index else None,
        "building": bool(holder.building and holder.building.is_alive()),
        "last_error": holder.last_error,
    }


def _fresh_index(using: str, version: int) -> GraphIndex | None:
    """An index built from ``version``, or None when the SQL fallback must answer."""
    holder = _holder(using)
    index = holder.index
    if index is not None and index.version == version:
        return index
    if background_builds():
        holder.start_build()
        return None
    index = build_index(using)
    if index.version != version:
        return None
    if not connections[using].in_atomic_block:
        holder.publish(index)
    return index


# --- queries ------------------------------------------------------------------------------


def _check(direction: str, depth: int | None) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be 'up' or 'down', not {direction!r}")
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0")


def impact(
    node_ids: Iterable[int],
    direction: str = "up",
    depth: int | None = None,
    *,
    use_index: bool = True,
    using: str = "default",
) -> ImpactResult:
    """Everything reached from ``node_ids`` (ids of existing nodes; unknown ids are ignored):
    ``up`` = impacted if they fail, ``down`` = what they depend on. ``depth`` limits the
    distance (None: no limit). Answered from the in-memory index when it is fresh (one tiny
    SELECT checks that), else by the recursive SQL query while the index is rebuilt."""
    _check(direction, depth)
    starts = sorted({int(n) for n in node_ids})
    if use_index:
        version = current_version(using)
        index = _fresh_index(using, version)
        if index is not None:
            return _from_index(index, starts, direction, depth)
    return impact_sql(starts, direction, depth, using=using)


def _from_index(
    index: GraphIndex, starts: list[int], direction: str, depth: int | None
) -> ImpactResult:
    numbers = index.numbers(starts)
    order, distances, preds, cycles = index.traverse(numbers, direction, depth)
    return ImpactResult(
        direction=direction,
        depth=depth,
        starts=index.ids[numbers].tolist(),
        node_ids=index.ids[order],
        distances=distances,
        predecessors=index.ids[preds],
        is_service=index.is_service[order],
        cycles=cycles,
        answered_by="index",
        version=index.version,
    )


def _sql(vendor: str, direction: str, n_starts: int, n_types: int) -> str:
    """One statement: the recursive closure with distances, then the examined edges.

    Rows are (0, node, distance, kind) for the reached nodes and (1, from, to, NULL) for the
    examined edges. ``UNION`` on (node, distance) keeps the recursion finite: distances are
    bounded by the first %s after the types. On PostgreSQL the recursive step is a LATERAL
    subquery fenced with OFFSET 0, so it stays a nested loop over the relation index instead
    of the hash join over the whole table that the planner picks by default."""
    t = _tables()
    near, far = ("target_id", "source_id") if direction == "up" else ("source_id", "target_id")
    if vendor == "postgresql":
        starts, types = "= ANY(%s)", "= ANY(%s)"
        step = (
            f"SELECT x.far, reach.distance + 1 FROM reach CROSS JOIN LATERAL ("  # noqa: S608
            f"SELECT r.{far} AS far FROM {t['relation']} r WHERE r.{near} = reach.node_id "
            f"AND r.relation_type_id {types} OFFSET 0) x WHERE reach.distance < %s"
        )
    else:
        starts = "IN ({})".format(", ".join(["%s"] * n_starts))
        types = "IN ({})".format(", ".join(["%s"] * n_types))
        step = (
            f"SELECT r.{far}, reach.distance + 1 FROM reach "  # noqa: S608
            f"JOIN {t['relation']} r ON r.{near} = reach.node_id "
            f"WHERE reach.distance < %s AND r.relation_type_id {types}"
        )
    return (
        f"WITH RECURSIVE reach(node_id, distance) AS ("  # noqa: S608 - names from _meta
        f"SELECT n.id, 0 FROM {t['node']} n WHERE n.id {starts} UNION {step}), "
        f"best(node_id, distance) AS (SELECT node_id, MIN(distance) FROM reach GROUP BY node_id) "
        f"SELECT 0, b.node_id, b.distance, n.kind FROM best b JOIN {t['node']} n ON n.id = b.node_id "
        # CROSS JOIN: SQLite keeps this order (reached node -> its relations by index ->
        # reached node) instead of scanning every relation; PostgreSQL plans it freely.
        f"UNION ALL SELECT 1, r.{near}, r.{far}, NULL FROM best a "
        f"CROSS JOIN {t['relation']} r CROSS JOIN best b "
        f"WHERE a.distance < %s AND r.{near} = a.node_id AND b.node_id = r.{far} "
        f"AND r.relation_type_id {types}"
    )


def _params(vendor: str, starts: list[int], types: list[int], bound: int, expand: int) -> list[Any]:
    if vendor == "postgresql":
        return [starts, types, bound, expand, types]
    return [*starts, bound, *types, expand, *types]


def _fetch(connection: Any, sql: str, params: list[Any]) -> list[Any]:
    """Run the fallback statement. On PostgreSQL, for this statement only: no sequential
    scans (right after a bulk import, before autovacuum has analysed the tables, the planner
    believes ``cmdb_relation`` is tiny and scans it once per reached node: minutes instead of
    milliseconds) and no JIT (the recursive CTE's cost estimate triggers a compilation that
    costs more than the query). The settings are transaction-local and restored."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return list(cursor.fetchall())
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('enable_seqscan'), current_setting('jit')")
        seqscan, jit = cursor.fetchone()
        cursor.execute(
            "SELECT set_config('enable_seqscan', 'off', true), set_config('jit', 'off', true)"
        )
        cursor.execute(sql, params)
        rows = list(cursor.fetchall())
        cursor.execute(
            "SELECT set_config('enable_seqscan', %s, true), set_config('jit', %s, true)",
            [seqscan, jit],
        )
    return rows


def propagating_types(using: str = "default") -> list[int]:
    from itline.cmdb.models import RelationType

    return list(
        RelationType.objects.using(using)
        .filter(propagates_impact=True)
        .values_list("id", flat=True)
    )


def impact_sql(
    node_ids: Iterable[int],
    direction: str = "up",
    depth: int | None = None,
    *,
    using: str = "default",
) -> ImpactResult:
    """The same answer as :func:`impact`, from one recursive SQL statement.

    Without a depth limit the recursion is bounded at distance 16, then 64, ... until the
    farthest node found lies inside the bound (then no node can be farther): ``UNION`` keeps
    (node, distance) pairs distinct, so around a cycle the bound is what stops it."""
    _check(direction, depth)
    starts = sorted({int(n) for n in node_ids})
    connection = connections[using]
    vendor = connection.vendor
    version = current_version(using)
    types = propagating_types(using) or [-1]
    expand = NO_LIMIT if depth is None else depth
    bound = depth if depth is not None else SQL_FIRST_BOUND
    empty = np.zeros(0, dtype=np.int64)
    if not starts:
        return ImpactResult(
            direction,
            depth,
            [],
            empty,
            empty.astype(np.int32),
            empty,
            empty.astype(bool),
            [],
            "sql",
            version,
        )
    sql = _sql(vendor, direction, len(starts), len(types))
    while True:
        rows = _fetch(connection, sql, _params(vendor, starts, types, bound, expand))
        nodes = [r for r in rows if r[0] == 0]
        farthest = max((r[2] for r in nodes), default=0)
        if depth is not None or farthest < bound:
            break
        bound *= 4
    ids = np.array([r[1] for r in nodes], dtype=np.int64)
    dist = np.array([r[2] for r in nodes], dtype=np.int32)
    kind = np.array([r[3] == "service" for r in nodes], dtype=bool)
    edges = np.array([(r[1], r[2]) for r in rows if r[0] == 1], dtype=np.int64).reshape(-1, 2)
    return _assemble(direction, depth, ids, dist, kind, edges, version)


def _assemble(
    direction: str,
    depth: int | None,
    ids: np.ndarray,
    dist: np.ndarray,
    kind: np.ndarray,
    edges: np.ndarray,
    version: int,
) -> ImpactResult:
    """Order the SQL answer like the index does (distance, id), choose the smallest
    predecessor at the previous distance and find the cycles among the examined edges."""
    order = np.lexsort((ids, dist))
    ids, dist, kind = ids[order], dist[order], kind[order]
    preds = ids.copy()
    cycles: list[list[int]] = []
    if len(edges):
        edges = np.unique(edges, axis=0)
        a, b = edges[:, 0], edges[:, 1]
        by_id = np.argsort(ids)
        sorted_ids = ids[by_id]

        def position(x: np.ndarray) -> np.ndarray:
            return by_id[np.searchsorted(sorted_ids, x)]

        tree = dist[position(a)] == dist[position(b)] - 1
        ta, tb = a[tree], b[tree]
        sel = np.lexsort((ta, tb))  # by reached node, then predecessor ascending
        ta, tb = ta[sel], tb[sel]
        first = np.ones(len(tb), dtype=bool)
        first[1:] = tb[1:] != tb[:-1]
        preds[position(tb[first])] = ta[first]
        cycles = _components(a, b)
    starts = ids[dist == 0].tolist()
    return ImpactResult(direction, depth, starts, ids, dist, preds, kind, cycles, "sql", version)


def explain_sql(
    node_ids: Sequence[int],
    direction: str = "up",
    depth: int | None = None,
    *,
    using: str = "default",
) -> str:
    """The database's plan for the fallback statement (EXPLAIN; ANALYZE on PostgreSQL)."""
    connection = connections[using]
    vendor = connection.vendor
    starts = sorted({int(n) for n in node_ids})
    types = propagating_types(using) or [-1]
    bound = depth if depth is not None else SQL_FIRST_BOUND
    expand = NO_LIMIT if depth is None else depth
    sql = _sql(vendor, direction, len(starts), len(types))
    prefix = "EXPLAIN (ANALYZE, COSTS OFF) " if vendor == "postgresql" else "EXPLAIN QUERY PLAN "
    rows = _fetch(connection, prefix + sql, _params(vendor, starts, types, bound, expand))
    return "\n".join(" ".join(str(c) for c in row) for row in rows)
