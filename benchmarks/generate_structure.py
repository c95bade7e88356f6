"""A seeded generator of a large, realistically shaped service structure, written straight into
the database.

Shape (100,000 components, 2,000 services, 300,000 relations by default):

* a network of 8 cores, 400 distribution and 1,600 access switches (each switch depends on two
  above it); hosts are wired to two access switches with the non-propagating "connects to"
  (redundant uplinks: one switch failing impacts nothing);
* 40 storage arrays, each serving whole host clusters; the clusters choose their array with a
  Zipf law, so a few arrays are hubs that carry a large part of the estate;
* 8,000 hosts in clusters of 16, 45,000 VMs hosted on them (clusters picked with a Zipf law),
  8,000 databases and 30,000 applications running on VMs, 6,952 cloud resources as leaves;
* applications depend on databases and on other applications with preferential attachment
  (a long-tailed in-degree: a few shared platforms such as identity or messaging are used by
  thousands), mostly towards older applications, with a small share of back edges so the
  structure contains cycles, like real data does;
* 1,700 supporting services run on applications and databases and depend on each other,
  300 IT services depend on supporting services; IT services serve 20 customers.

The graph itself is drawn with numpy from ``numpy.random.default_rng(seed)``, so a seed always
gives the same structure; :func:`write_structure` then inserts it in batches (``executemany`` on
SQLite, ``COPY`` on PostgreSQL) with a rich progress bar. Run it alone with
``python -m benchmarks.generate_structure --help``; the benchmark (``benchmarks/impact.py``)
calls it and caches the database by seed."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import numpy as np

GENERATOR_VERSION = 1
STAMP = "2025-01-01 00:00:00"

# (component type slug, name prefix, count) in layer order, bottom of the stack first.
LAYERS: list[tuple[str, str, int]] = [
    ("network-device", "core", 8),
    ("network-device", "dist", 400),
    ("network-device", "access", 1_600),
    ("storage", "array", 40),
    ("server", "host", 8_000),
    ("virtual-machine", "vm", 45_000),
    ("database", "db", 8_000),
    ("application", "app", 30_000),
    ("cloud-resource", "cloud", 6_952),
]
N_COMPONENTS = sum(count for _, _, count in LAYERS)
N_SUPPORTING = 1_700
N_IT = 300
N_CUSTOMERS = 20
N_RELATIONS = 300_000
CLUSTER = 16
DOMAIN = 100
PLATFORM_SHARE = 0.07
APP_DEPS = 0.9
ARRAY_ZIPF = 0.15
RELATION_SLUGS = ["depends-on", "runs-on", "hosted-on", "connects-to"]
DEPENDS, RUNS, HOSTED, CONNECTS = range(4)


@dataclass
class Structure:
    """The generated graph as arrays: nodes 0..C-1 are components (``layer`` says which row of
    ``LAYERS``), C..C+S-1 services (supporting first, then IT services)."""

    seed: int
    layer: np.ndarray  # int8 per component
    local: np.ndarray  # int32 number of the component within its layer
    n_supporting: int
    n_it: int
    source: np.ndarray  # int64 node index
    target: np.ndarray  # int64 node index
    rtype: np.ndarray  # int8 index into RELATION_SLUGS
    service_customer: np.ndarray  # (k, 2) int64: service node index, customer number

    @property
    def n_components(self) -> int:
        return len(self.layer)

    @property
    def n_services(self) -> int:
        return self.n_supporting + self.n_it

    @property
    def n_nodes(self) -> int:
        return self.n_components + self.n_services

    def component_name(self, i: int) -> str:
        return f"{LAYERS[self.layer[i]][1]}-{self.local[i]:06d}"

    def propagating_edges(self) -> tuple[np.ndarray, np.ndarray]:
        keep = self.rtype != CONNECTS
        return self.source[keep], self.target[keep]


def _zipf(rng: np.random.Generator, n: int, size: int, s: float) -> np.ndarray:
    """``size`` draws from 0..n-1 with P(k) proportional to (k+1)^-s (long-tailed)."""
    weights = np.arange(1, n + 1, dtype=np.float64) ** -s
    return rng.choice(n, size=size, p=weights / weights.sum())


def generate(seed: int = 42, *, scale: float = 1.0, relations: int | None = None) -> Structure:
    """Draw the structure. ``scale`` shrinks every layer (for quick tests), ``relations`` is
    the exact number of relations (default 300,000 x scale)."""
    rng = np.random.default_rng(seed)
    counts = [max(2, round(count * scale)) for _, _, count in LAYERS]
    starts = np.concatenate([[0], np.cumsum(counts)])
    n_comp = int(starts[-1])
    layer = np.repeat(np.arange(len(LAYERS), dtype=np.int8), counts)
    local = np.concatenate([np.arange(c, dtype=np.int32) + 1 for c in counts])
    n_sup = max(2, round(N_SUPPORTING * scale))
    n_it = max(2, round(N_IT * scale))
    total = relations if relations is not None else round(N_RELATIONS * scale)

    def ids(name: str) -> tuple[int, int]:
        k = [p for _, p, _ in LAYERS].index(name)
        return int(starts[k]), counts[k]

    core, dist, access, array, host, vm, db, app, cloud = (
        ids(p) for p in ("core", "dist", "access", "array", "host", "vm", "db", "app", "cloud")
    )
    sup0, it0 = n_comp, n_comp + n_sup
    src: list[np.ndarray] = []
    dst: list[np.ndarray] = []
    typ: list[np.ndarray] = []

    def add(s: np.ndarray, t: np.ndarray, kind: int) -> None:
        src.append(np.asarray(s, dtype=np.int64))
        dst.append(np.asarray(t, dtype=np.int64))
        typ.append(np.full(len(s), kind, dtype=np.int8))

    def two_of(lower: tuple[int, int], upper: tuple[int, int], kind: int) -> None:
        """Every node of ``lower`` to two distinct nodes of ``upper``."""
        (l0, ln), (u0, un) = lower, upper
        a = rng.integers(0, un, ln)
        b = (a + 1 + rng.integers(0, max(un - 1, 1), ln)) % un
        nodes = np.arange(l0, l0 + ln)
        add(np.concatenate([nodes, nodes]), u0 + np.concatenate([a, b]), kind)

    # network and storage
    two_of(dist, core, DEPENDS)
    two_of(access, dist, DEPENDS)
    two_of(array, core, CONNECTS)  # redundant fabric: one core down impacts nothing
    two_of(host, access, CONNECTS)
    # hosts in clusters; each cluster's storage array follows a Zipf law (hub arrays)
    n_clusters = max(1, host[1] // CLUSTER)
    cluster_of_host = np.arange(host[1]) % n_clusters
    array_of_cluster = _zipf(rng, array[1], n_clusters, ARRAY_ZIPF)
    add(
        np.arange(host[0], host[0] + host[1]), array[0] + array_of_cluster[cluster_of_host], DEPENDS
    )
    # VMs: a cluster (Zipf: big clusters), then a host in it
    vm_cluster = _zipf(rng, n_clusters, vm[1], 0.3)
    hosts_in_cluster = np.maximum(1, (host[1] - vm_cluster - 1) // n_clusters + 1)
    vm_host = vm_cluster + n_clusters * rng.integers(0, hosts_in_cluster)
    vm_nodes = np.arange(vm[0], vm[0] + vm[1])
    add(vm_nodes, host[0] + vm_host, HOSTED)
    # databases run on VMs; 10 % replicate from another database
    db_nodes = np.arange(db[0], db[0] + db[1])
    add(db_nodes, vm[0] + rng.integers(0, vm[1], db[1]), RUNS)
    replica = rng.random(db[1]) < 0.1
    primary = db[0] + rng.integers(0, db[1], int(replica.sum()))
    add(db_nodes[replica], primary, DEPENDS)
    mutual = rng.random(len(primary)) < 0.05  # multi-primary pairs: two-node cycles
    add(primary[mutual], db_nodes[replica][mutual], DEPENDS)
    # applications: on 1-2 VMs, 0-3 databases (popular shared ones), other applications
    app_nodes = np.arange(app[0], app[0] + app[1])
    n_vm = 1 + (rng.random(app[1]) < 0.5)
    add(np.repeat(app_nodes, n_vm), vm[0] + rng.integers(0, vm[1], int(n_vm.sum())), RUNS)
    n_db = rng.integers(0, 4, app[1])
    add(np.repeat(app_nodes, n_db), db[0] + _zipf(rng, db[1], int(n_db.sum()), 0.7), DEPENDS)
    n_cloud = rng.integers(0, 2, app[1])
    add(
        np.repeat(app_nodes, n_cloud),
        cloud[0] + rng.integers(0, cloud[1], int(n_cloud.sum())),
        DEPENDS,
    )

    n_domains = max(1, app[1] // DOMAIN)
    n_platform = max(1, app[1] // 150)

    def app_deps(n_edges: int) -> tuple[np.ndarray, np.ndarray]:
        """Applications live in domains of 100 (a shop, a payroll, ...): most dependencies go
        to older applications of the same domain, some to the shared platform applications
        (the first 1/150, identity, messaging, ...: Zipf-popular). A small share points to a
        newer application of the domain, which closes cycles as in real data."""
        a = rng.integers(n_platform, app[1], n_edges)
        dom0 = np.minimum(a // DOMAIN, n_domains - 1) * DOMAIN
        b = dom0 + ((a - dom0) * rng.random(n_edges) ** 2).astype(np.int64)
        platform = rng.random(n_edges) < PLATFORM_SHARE
        b[platform] = _zipf(rng, n_platform, int(platform.sum()), 1.0)
        back = rng.random(n_edges) < 0.004
        span = np.minimum(dom0 + DOMAIN, app[1]) - a
        b[back] = (
            a[back]
            + 1
            + (rng.random(int(back.sum())) * np.maximum(span[back] - 1, 1)).astype(np.int64)
        )
        b = np.minimum(b, app[1] - 1)
        return app[0] + a, app[0] + b

    # the platform applications depend on older platform applications
    pa = rng.integers(1, n_platform, n_platform * 2)
    add(app[0] + pa, app[0] + (pa * rng.random(len(pa))).astype(np.int64), DEPENDS)
    add(*app_deps(int(app[1] * APP_DEPS)), DEPENDS)
    # services
    sup_nodes = np.arange(sup0, sup0 + n_sup)
    n_run = rng.integers(1, 9, n_sup)
    on_db = rng.random(int(n_run.sum())) < 0.3
    run_target = np.where(
        on_db,
        db[0] + _zipf(rng, db[1], len(on_db), 0.5),
        app[0] + _zipf(rng, app[1], len(on_db), 0.5),
    )
    add(np.repeat(sup_nodes, n_run), run_target, RUNS)
    n_sup_dep = rng.integers(0, 3, n_sup)
    lower = np.repeat(np.arange(n_sup), n_sup_dep)
    add(sup0 + lower, sup0 + (lower * rng.random(len(lower))).astype(np.int64), DEPENDS)
    it_nodes = np.arange(it0, it0 + n_it)
    n_it_dep = rng.integers(2, 9, n_it)
    add(np.repeat(it_nodes, n_it_dep), sup0 + _zipf(rng, n_sup, int(n_it_dep.sum()), 0.7), DEPENDS)

    source, target, rtype = _unique(np.concatenate(src), np.concatenate(dst), np.concatenate(typ))
    # Fill up to the exact count with applications talking to each other (connects to,
    # which does not propagate) and a few more application dependencies.
    while len(source) < total:
        missing = total - len(source)
        a, b = app_deps(missing + 100)
        kind = np.where(rng.random(len(a)) < 0.9, CONNECTS, DEPENDS).astype(np.int8)
        source, target, rtype = _unique(
            np.concatenate([source, a]), np.concatenate([target, b]), np.concatenate([rtype, kind])
        )
    if len(source) > total:
        keep = np.sort(rng.choice(len(source), total, replace=False))
        source, target, rtype = source[keep], target[keep], rtype[keep]
    customers = rng.integers(0, N_CUSTOMERS, (n_it, 2))
    service_customer = np.unique(
        np.stack([np.repeat(it_nodes, 2), customers.ravel()], axis=1), axis=0
    )
    return Structure(
        seed=seed,
        layer=layer,
        local=local,
        n_supporting=n_sup,
        n_it=n_it,
        source=source,
        target=target,
        rtype=rtype,
        service_customer=service_customer,
    )


def _unique(
    source: np.ndarray, target: np.ndarray, rtype: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Drop self-loops and duplicate (source, target) pairs, keeping the first type; the order
    of first appearance is kept so the draw stays reproducible."""
    keep = source != target
    source, target, rtype = source[keep], target[keep], rtype[keep]
    key = source * (int(max(source.max(), target.max())) + 1) + target
    _, first = np.unique(key, return_index=True)
    first.sort()
    return source[first], target[first], rtype[first]


# --- writing ------------------------------------------------------------------------------


def _columns(model: Any) -> list[str]:
    return [f.column for f in model._meta.local_concrete_fields]


def write_structure(
    structure: Structure, *, using: str = "default", progress: bool = True
) -> dict[str, int]:
    """Insert the structure into an empty service structure of database ``using`` (types and
    relation types from the migrations must exist) and bump the graph version. Returns the
    node id of every node index as ``{"offset": first_id}``: ids are ``offset + index``."""
    from django.db import connections, transaction
    from django.db.models import F
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from itline.cmdb.models import (
        Component,
        ComponentType,
        GraphVersion,
        Node,
        Relation,
        RelationType,
        Service,
    )
    from itline.core.models import Sequence
    from itline.org.models import BusinessUnit, Customer

    connection = connections[using]
    vendor = connection.vendor
    stamp = STAMP + ("+00" if vendor == "postgresql" else "")
    if Node.objects.using(using).exists():
        raise RuntimeError("The service structure of this database is not empty.")
    type_ids = dict(ComponentType.objects.using(using).values_list("slug", "id"))
    rel_ids = dict(RelationType.objects.using(using).values_list("slug", "id"))
    layer_type = np.array([type_ids[slug] for slug, _, _ in LAYERS], dtype=np.int64)
    rel_type = np.array([rel_ids[slug] for slug in RELATION_SLUGS], dtype=np.int64)
    offset = 1
    n_comp, n_nodes = structure.n_components, structure.n_nodes

    node_cols = _columns(Node)
    comp_cols = _columns(Component)
    svc_cols = _columns(Service)
    rel_cols = _columns(Relation)

    def node_row(i: int) -> dict[str, Any]:
        if i < n_comp:
            ref, kind, name = f"CMP-{i + 1:06d}", "component", structure.component_name(i)
        else:
            k = i - n_comp
            it = k >= structure.n_supporting
            ref, kind = f"SVC-{k + 1:06d}", "service"
            name = (
                f"it-service-{k - structure.n_supporting + 1:04d}"
                if it
                else f"platform-{k + 1:04d}"
            )
        return {
            "id": offset + i,
            "created_at": stamp,
            "updated_at": stamp,
            "created_by_id": None,
            "updated_by_id": None,
            "reference": ref,
            "kind": kind,
            "name": name,
            "description": "",
            "owner_function_id": None,
        }

    def comp_row(i: int) -> dict[str, Any]:
        return {
            "node_ptr_id": offset + i,
            "component_type_id": int(layer_type[structure.layer[i]]),
            "status": "in_use",
            "location": f"dc-{i % 3 + 1}",
            "attributes": "{}",
        }

    def svc_row(i: int) -> dict[str, Any]:
        it = i - n_comp >= structure.n_supporting
        return {
            "node_ptr_id": offset + i,
            "service_kind": "it_service" if it else "supporting",
            "lifecycle": "live",
            "criticality": 4 if it else 3,
            "service_owner_id": None,
            "delivery_manager_id": None,
            "cost_centre": "",
            "catalogue_visible": it,
        }

    def rel_row(k: int) -> dict[str, Any]:
        return {
            "id": k + 1,
            "created_at": stamp,
            "updated_at": stamp,
            "created_by_id": None,
            "updated_by_id": None,
            "source_id": offset + int(structure.source[k]),
            "target_id": offset + int(structure.target[k]),
            "relation_type_id": int(rel_type[structure.rtype[k]]),
        }

    tables = [
        (Node._meta.db_table, node_cols, node_row, range(n_nodes)),
        (Component._meta.db_table, comp_cols, comp_row, range(n_comp)),
        (Service._meta.db_table, svc_cols, svc_row, range(n_comp, n_nodes)),
        (Relation._meta.db_table, rel_cols, rel_row, range(len(structure.source))),
    ]
    batch = 20_000
    with (
        Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=not progress,
        ) as bar,
        transaction.atomic(using=using),
        connection.cursor() as cursor,
    ):
        for table, cols, make, rows in tables:
            task = bar.add_task(f"{connection.alias}: {table}", total=len(rows))
            quoted = ", ".join(connection.ops.quote_name(c) for c in cols)
            if vendor == "postgresql":
                raw = cursor.cursor
                with raw.copy(
                    f"COPY {connection.ops.quote_name(table)} ({quoted}) FROM STDIN"
                ) as copy:  # type: ignore[union-attr]
                    for n, i in enumerate(rows, 1):
                        row = make(i)
                        copy.write_row([row[c] for c in cols])
                        if n % batch == 0:
                            bar.update(task, completed=n)
            else:
                sql = f"INSERT INTO {connection.ops.quote_name(table)} ({quoted}) VALUES ({', '.join(['%s'] * len(cols))})"  # noqa: S608
                for lo in range(0, len(rows), batch):
                    chunk = rows[lo : lo + batch]
                    cursor.executemany(sql, [[make(i)[c] for c in cols] for i in chunk])
                    bar.update(task, completed=lo + len(chunk))
            bar.update(task, completed=len(rows))
        if vendor == "postgresql":
            for table in (Node._meta.db_table, Relation._meta.db_table):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, 'id'), (SELECT MAX(id) FROM {table}))",  # noqa: S608
                    [table],
                )
        for prefix, value in (("CMP", n_comp), ("SVC", structure.n_services)):
            Sequence.objects.using(using).update_or_create(prefix=prefix, defaults={"value": value})
        customers = []
        for c in range(N_CUSTOMERS):
            unit = BusinessUnit(name=f"Business unit {c + 1:02d}", code=f"BU{c + 1:02d}")
            unit.save(using=using)
            customer = Customer(business_unit=unit)
            customer.save(using=using)
            customers.append(customer.pk)
        through = Service.customers.through
        through.objects.using(using).bulk_create(
            through(service_id=offset + int(s), customer_id=customers[int(c)])
            for s, c in structure.service_customer
        )
        versions = GraphVersion.objects.using(using)
        if not versions.filter(pk=1).update(version=F("version") + 1):
            versions.create(pk=1, version=1)
    return {"offset": offset}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="shrink every layer (0.01 for a quick try)"
    )
    parser.add_argument("--stats", action="store_true", help="only print the shape, write nothing")
    args = parser.parse_args(argv)
    structure = generate(args.seed, scale=args.scale)
    print(
        f"{structure.n_components:,} components, {structure.n_services:,} services, "
        f"{len(structure.source):,} relations "
        f"({int((structure.rtype != CONNECTS).sum()):,} propagate impact)"
    )
    if args.stats:
        return
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    write_structure(structure)


if __name__ == "__main__":
    main()
