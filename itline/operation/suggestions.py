"""Suggestions for the next decision on an incident or a service request: the known errors
that probably apply (best first) and the open incidents that look like the same fault.

How a match is scored. Text similarity is the cosine of TF-IDF vectors (sublinear term
frequency, smoothed inverse document frequency, l2-normalised rows) over the words of the
title and description, after a small normalisation (lower case, stop words dropped, plural
and -ing/-ed endings folded). The structure adds evidence: the same component, the same
service, or a component the affected service needs (from the impact engine, a few levels
down). ``score = 0.7 * text + 0.3 * structure`` in [0, 1]; each suggestion carries the words
it shares and the structural reason as ``why``, so an agent sees at a glance why it is there.

Why this design. The known errors of an installation are a few hundred to a few thousand
short texts: their TF-IDF matrix (scipy CSR) is built once per process and rebuilt only when a
known error changes (one aggregate query tells), so a suggestion costs one sparse
matrix-vector product and two small queries, whatever the number of known errors, and never
a query per row. Similar incidents are scored over a bounded candidate set (open incidents on
the same service or component plus the most recent open ones), in one query. The same text
engine (``Corpus``) groups recurring incidents in ``itline.operation.recurrence``.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db.models import Count, Max, Q
from django.db.models.functions import Substr
from scipy import sparse

from itline.operation.choices import INCIDENT_OPEN

# --- text ---------------------------------------------------------------------------------

STOP_WORDS = frozenset(
    """
    a about above after again against all also am an and any are as at be because been before
    being below between both but by can cannot could did do does doing done down during each
    few for from further get gets got had has have having he her here hers him his how i if in
    into is it its itself just let me more most my no nor not now of off on once only or other
    our ours out over own same she should so some such than that the their theirs them then
    there these they this those through to too under until up very via was we were what when
    where which while who whom why will with would you your yours
    please pls hi hello dear thanks thank regards kind best cheers team anyone someone help
    need needs urgent urgently asap
    again still since today yesterday tomorrow morning afternoon
    """.split()  # noqa: SIM905  (a word list reads better as text than as 150 quoted strings)
)
_WORD = re.compile(r"[a-z0-9]+(?:[-_.][a-z0-9]+)*")


def stem(word: str) -> str:
    """Fold the commonest English endings so "timeouts", "failing" and "failed" meet
    "timeout" and "fail". Deliberately tiny: codes and names stay as they are."""
    if len(word) <= 4 or not word.isalpha():
        return word
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            base = word[: -len(suffix)]
            # "stopped" -> "stop", "running" -> "run"
            if len(base) >= 4 and base[-1] == base[-2] and base[-1] not in "lsz":
                base = base[:-1]
            return base
    if word.endswith("ies") and len(word) > 5:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


# raw word -> its (term, readable form) pairs; words repeat across texts, so each is
# normalised once per process (bounded: a flood of unique codes cannot grow it forever)
_NORMALISED: dict[str, tuple[tuple[str, str], ...]] = {}
_NORMALISED_MAX = 200_000


def _normalise_word(raw: str) -> tuple[tuple[str, str], ...]:
    found = _NORMALISED.get(raw)
    if found is not None:
        return found
    parts = [raw]
    if not raw.isalnum():
        parts += [p for p in re.split(r"[-_.]", raw) if p]
    pairs = []
    for word in parts:
        # one letter or a small number says nothing ("2 users", "a"); "db", "ip" do
        if word in STOP_WORDS or len(word) < 2 or (word.isdigit() and len(word) < 3):
            continue
        pairs.append((stem(word), word))
    result = tuple(pairs)
    if len(_NORMALISED) < _NORMALISED_MAX:
        _NORMALISED[raw] = result
    return result


def term_counts(text: str, surface: dict[str, str] | None = None) -> Counter[str]:
    """How often each normalised term occurs in ``text``; ``surface`` collects a readable
    form per term. A dotted or hyphenated code ("ora-12541") counts whole and in parts."""
    counts: Counter[str] = Counter()
    for raw, n in Counter(_WORD.findall(text.lower())).items():
        for key, word in _normalise_word(raw):
            counts[key] += n
            if surface is not None and key not in surface:
                surface[key] = word
    return counts


def tokens(text: str) -> list[str]:
    """The normalised words of ``text`` in order (for tests and explanations)."""
    return [key for raw in _WORD.findall(text.lower()) for key, _ in _normalise_word(raw)]


@dataclass
class Corpus:
    """TF-IDF vectors of a list of texts: ``matrix`` (documents x terms, unit rows)."""

    vocab: dict[str, int]
    idf: np.ndarray
    matrix: sparse.csr_matrix
    surface: dict[str, str] = field(default_factory=dict)

    @classmethod
    def build(cls, texts: Sequence[str]) -> Corpus:
        surface: dict[str, str] = {}
        vocab: dict[str, int] = {}
        rows: list[int] = []
        cols: list[int] = []
        counts: list[int] = []
        for row, text in enumerate(texts):
            for term, n in term_counts(text, surface).items():
                col = vocab.setdefault(term, len(vocab))
                rows.append(row)
                cols.append(col)
                counts.append(n)
        n_docs, n_terms = len(texts), len(vocab)
        col_arr = np.asarray(cols, dtype=np.int64)
        df = np.bincount(col_arr, minlength=n_terms).astype(np.float64)
        idf = np.log((1.0 + n_docs) / (1.0 + df)) + 1.0
        data = (1.0 + np.log(np.asarray(counts, dtype=np.float64))) * idf[col_arr]
        matrix = sparse.csr_matrix(
            (data, (np.asarray(rows, dtype=np.int64), col_arr)), shape=(n_docs, n_terms)
        )
        return cls(vocab=vocab, idf=idf, matrix=_unit_rows(matrix), surface=surface)

    def vector(self, text: str) -> sparse.csr_matrix:
        """The unit TF-IDF row of ``text`` in this corpus's term space (unknown words drop)."""
        counts = {t: n for t, n in term_counts(text).items() if t in self.vocab}
        cols = np.asarray([self.vocab[t] for t in counts], dtype=np.int64)
        data = (1.0 + np.log(np.asarray(list(counts.values()), dtype=np.float64))) * self.idf[cols]
        row = sparse.csr_matrix(
            (data, (np.zeros(len(cols), dtype=np.int64), cols)), shape=(1, len(self.vocab))
        )
        return _unit_rows(row)

    def similarity(self, query: sparse.csr_matrix) -> np.ndarray:
        """Cosine of ``query`` with every document (a dense 1-D array)."""
        if self.matrix.shape[0] == 0:
            return np.zeros(0)
        return np.asarray((self.matrix @ query.T).todense()).ravel()

    def shared_terms(self, query: sparse.csr_matrix, doc: int, limit: int = 5) -> list[str]:
        """The words that contribute most to the similarity of ``query`` and document ``doc``."""
        return self.top_terms(self.matrix.getrow(doc).multiply(query), limit)

    def top_terms(self, weights: Any, limit: int = 5) -> list[str]:
        row = sparse.csr_matrix(weights)
        if row.nnz == 0:
            return []
        order = np.argsort(-row.data, kind="stable")[:limit]
        inverse = self.terms
        return [self.surface.get(inverse[i], inverse[i]) for i in row.indices[order]]

    @property
    def terms(self) -> list[str]:
        if not hasattr(self, "_terms"):
            terms = [""] * len(self.vocab)
            for term, col in self.vocab.items():
                terms[col] = term
            self._terms = terms
        return self._terms


def _unit_rows(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.csr_matrix(sparse.diags(1.0 / norms) @ matrix)


# --- scoring ------------------------------------------------------------------------------

TEXT_WEIGHT = 0.7
STRUCTURE_WEIGHT = 0.3
# structure evidence, strongest first: same component, same service, a component or service
# the affected service or component needs (impact engine, "down")
SAME_COMPONENT = 1.0
SAME_SERVICE = 0.8
RELATED = 0.5
RELATED_DEPTH = 3
MIN_SCORE = 0.12
MIN_TEXT = 0.08
# Similar incidents are scored among a bounded candidate set, built per request: the open
# incidents on the same service/component plus the most recent open ones, their descriptions
# cut (the first lines say what is wrong; long mail threads only add noise and time).
SIMILAR_CANDIDATES_NEAR = 300
SIMILAR_CANDIDATES_RECENT = 700
SIMILAR_DESCRIPTION_CHARS = 500


@dataclass(frozen=True)
class Suggestion:
    """One suggested record with its score (0..1) and the reasons it is suggested."""

    record: Any
    score: float
    text_score: float
    why: tuple[str, ...]
    terms: tuple[str, ...]

    @property
    def reason(self) -> str:
        return "; ".join(self.why)

    @property
    def percent(self) -> int:
        return round(self.score * 100)


@dataclass(frozen=True)
class Subject:
    """What suggestions are sought for: text plus where in the structure it hangs."""

    text: str
    service_id: int | None = None
    component_id: int | None = None
    exclude_incident_id: int | None = None

    @classmethod
    def of(cls, record: Any) -> Subject:
        from itline.operation.models import Incident

        text = f"{record.title}\n{record.description or ''}"
        if isinstance(record, Incident):
            return cls(text, record.service_id, record.component_id, record.pk)
        return cls(
            text, getattr(record, "service_id", None), None, getattr(record, "incident_id", None)
        )


@dataclass
class Related:
    """The nodes the subject's service/component needs, a few levels down (impact engine,
    "down"): ``ids`` for vectorised matching, ``path`` only for the few that are shown."""

    ids: np.ndarray
    result: Any = None

    def path(self, node_id: int) -> list[int]:
        return self.result.path(node_id) if self.result is not None else []


def _related_nodes(subject: Subject) -> Related:
    starts = [n for n in (subject.service_id, subject.component_id) if n]
    if not starts:
        return Related(np.zeros(0, dtype=np.int64))
    from itline.cmdb import impact

    result = impact.impact(starts, direction="down", depth=RELATED_DEPTH)
    return Related(np.asarray(result.impacted_ids, dtype=np.int64), result)


def _node_names(ids: Iterable[int]) -> dict[int, str]:
    from itline.cmdb.models import Node

    wanted = {i for i in ids if i}
    if not wanted:
        return {}
    return {
        pk: f"{name} ({ref})"
        for pk, ref, name in Node.objects.filter(pk__in=wanted).values_list(
            "pk", "reference", "name"
        )
    }


def _structure(
    subject: Subject,
    service_ids: np.ndarray,
    component_ids: np.ndarray,
    related: Related | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Per candidate: structure evidence (0..1) and a code of its kind (0 none, 1 component,
    2 service, 3 related component, 4 related service)."""
    n = len(service_ids)
    evidence = np.zeros(n)
    kind = np.zeros(n, dtype=np.int8)
    if related is not None and len(related.ids):
        for ids, code in ((service_ids, 4), (component_ids, 3)):
            hit = np.isin(ids, related.ids) & (evidence < RELATED)
            evidence[hit], kind[hit] = RELATED, code
    if subject.service_id:
        hit = service_ids == subject.service_id
        evidence[hit], kind[hit] = SAME_SERVICE, 2
    if subject.component_id:
        hit = component_ids == subject.component_id
        evidence[hit], kind[hit] = SAME_COMPONENT, 1
    return evidence, kind


def _rank(
    corpus: Corpus,
    subject: Subject,
    service_ids: np.ndarray,
    component_ids: np.ndarray,
    *,
    limit: int,
    related: Related | None = None,
    eligible: np.ndarray | None = None,
) -> list[tuple[int, float, float, int, list[str]]]:
    """(document index, score, text score, structure kind, shared words), best first."""
    if corpus.matrix.shape[0] == 0:
        return []
    query = corpus.vector(subject.text)
    text = corpus.similarity(query)
    evidence, kind = _structure(subject, service_ids, component_ids, related)
    score = TEXT_WEIGHT * text + STRUCTURE_WEIGHT * evidence
    keep = (score >= MIN_SCORE) & ((text >= MIN_TEXT) | (evidence > 0))
    if eligible is not None:
        keep &= eligible
    candidates = np.flatnonzero(keep)
    # best score first; ties: more text evidence, then the newer record (higher index = newer)
    order = np.lexsort((-candidates, -text[candidates], -score[candidates]))[:limit]
    out = []
    for k in candidates[order].tolist():
        shared = corpus.shared_terms(query, k) if text[k] > 0 else []
        out.append((k, float(score[k]), float(text[k]), int(kind[k]), shared))
    return out


def _why(
    kind: int,
    text: float,
    shared: list[str],
    node_id: int | None,
    names: dict[int, str],
    paths: dict[int, list[int]],
) -> tuple[str, ...]:
    why = []
    if kind == 1:
        why.append(f"same component {names.get(node_id or 0, '')}".strip())
    elif kind == 2:
        why.append(f"same service {names.get(node_id or 0, '')}".strip())
    elif kind in (3, 4) and node_id:
        path = paths.get(node_id, [])
        chain = " → ".join(names.get(n, str(n)) for n in path) if path else names.get(node_id, "")
        why.append(f"on {names.get(node_id, '')}, which the affected record needs: {chain}")
    if shared:
        why.append(f"{round(text * 100)} % similar text, shared words: {', '.join(shared)}")
    return tuple(why)


# --- known errors -------------------------------------------------------------------------


@dataclass
class _KnownErrorIndex:
    stamp: tuple[Any, ...]
    ids: np.ndarray
    service_ids: np.ndarray
    component_ids: np.ndarray
    corpus: Corpus


_ke_lock = threading.Lock()
_ke_index: dict[str, _KnownErrorIndex] = {}


def _known_error_text(title: str, symptoms: str, root_cause: str) -> str:
    # The title is what agents search with: counted twice so it outweighs a long analysis.
    return f"{title}\n{title}\n{symptoms}\n{root_cause}"


def known_error_index(using: str = "default") -> _KnownErrorIndex:
    """The TF-IDF index of the active known errors, rebuilt when one of them changed."""
    from itline.operation.models import KnownError

    active = KnownError.objects.using(using).filter(active=True)
    stamp_row = KnownError.objects.using(using).aggregate(
        n=Count("id"), active=Count("id", filter=Q(active=True)), last=Max("updated_at")
    )
    stamp = (stamp_row["n"], stamp_row["active"], stamp_row["last"])
    hit = _ke_index.get(using)
    if hit is not None and hit.stamp == stamp:
        return hit
    with _ke_lock:
        hit = _ke_index.get(using)
        if hit is not None and hit.stamp == stamp:
            return hit
        rows = list(
            active.order_by("id").values_list(
                "id", "service_id", "component_id", "title", "symptoms", "root_cause"
            )
        )
        index = _KnownErrorIndex(
            stamp=stamp,
            ids=np.asarray([r[0] for r in rows], dtype=np.int64),
            service_ids=np.asarray([r[1] or 0 for r in rows], dtype=np.int64),
            component_ids=np.asarray([r[2] or 0 for r in rows], dtype=np.int64),
            corpus=Corpus.build([_known_error_text(r[3], r[4], r[5]) for r in rows]),
        )
        _ke_index[using] = index
        return index


def forget() -> None:
    """Drop the cached known-error index (tests that reuse primary keys call this)."""
    with _ke_lock:
        _ke_index.clear()


def known_errors_for_subject(subject: Subject, *, limit: int = 5) -> list[Suggestion]:
    from itline.operation.models import KnownError

    index = known_error_index()
    if not len(index.ids):
        return []
    related = _related_nodes(subject)
    ranked = _rank(
        index.corpus,
        subject,
        index.service_ids,
        index.component_ids,
        limit=limit,
        related=related,
    )
    if not ranked:
        return []
    ids = [int(index.ids[k]) for k, *_ in ranked]
    records = KnownError.objects.select_related("service", "component", "problem").in_bulk(ids)
    paths: dict[int, list[int]] = {}
    node_ids: set[int] = set()
    for k, _score, _text, kind, _shared in ranked:
        node_ids.update((int(index.service_ids[k]), int(index.component_ids[k])))
        if kind in (3, 4):
            node = int(index.component_ids[k] if kind == 3 else index.service_ids[k])
            paths[node] = related.path(node)
            node_ids.update(paths[node])
    names = _node_names(node_ids)
    out = []
    for (k, score, text, kind, shared), pk in zip(ranked, ids, strict=True):
        record = records.get(pk)
        if record is None:  # retired or deleted since the index was built
            continue
        node = int(index.component_ids[k]) if kind in (1, 3) else int(index.service_ids[k])
        why = _why(kind, text, shared, node, names, paths)
        out.append(Suggestion(record, round(score, 3), round(text, 3), why, tuple(shared)))
    return out


def known_errors_for(record: Any, *, limit: int = 5) -> list[Suggestion]:
    """Known errors that probably apply to an incident or a service request, best first."""
    return known_errors_for_subject(Subject.of(record), limit=limit)


# --- similar open incidents ---------------------------------------------------------------


def _incident_candidates(subject: Subject) -> list[tuple[Any, ...]]:
    """Open incidents worth comparing: those on the same service/component, then the most
    recent open ones; two bounded queries, no per-row work in the database."""
    from itline.operation.models import Incident

    fields = ("id", "service_id", "component_id", "title", "head")
    base = Incident.objects.filter(status__in=INCIDENT_OPEN, merged_into__isnull=True).annotate(
        head=Substr("description", 1, SIMILAR_DESCRIPTION_CHARS)
    )
    if subject.exclude_incident_id:
        base = base.exclude(pk=subject.exclude_incident_id)
    near = Q()
    if subject.service_id:
        near |= Q(service_id=subject.service_id)
    if subject.component_id:
        near |= Q(component_id=subject.component_id)
    rows: dict[int, tuple[Any, ...]] = {}
    if near:
        for row in base.filter(near).order_by("-id").values_list(*fields)[:SIMILAR_CANDIDATES_NEAR]:
            rows[row[0]] = row
    for row in base.order_by("-id").values_list(*fields)[:SIMILAR_CANDIDATES_RECENT]:
        rows.setdefault(row[0], row)
    return sorted(rows.values())


def similar_incidents_for_subject(subject: Subject, *, limit: int = 5) -> list[Suggestion]:
    from itline.operation.models import Incident

    rows = _incident_candidates(subject)
    if not rows:
        return []
    corpus = Corpus.build([f"{r[3]}\n{r[4] or ''}" for r in rows])
    service_ids = np.asarray([r[1] or 0 for r in rows], dtype=np.int64)
    component_ids = np.asarray([r[2] or 0 for r in rows], dtype=np.int64)
    # Another incident on the same service is only "similar" when its text says so too.
    query = corpus.vector(subject.text)
    eligible = corpus.similarity(query) >= MIN_TEXT * 2
    ranked = _rank(corpus, subject, service_ids, component_ids, limit=limit, eligible=eligible)
    ids = [int(rows[k][0]) for k, *_ in ranked]
    records = Incident.objects.select_related(
        "service", "component", "assignee", "assigned_function"
    ).in_bulk(ids)
    names = _node_names(
        {int(service_ids[k]) for k, *_ in ranked} | {int(component_ids[k]) for k, *_ in ranked}
    )
    out = []
    for (k, score, text, kind, shared), pk in zip(ranked, ids, strict=True):
        if pk not in records:  # merged or deleted a moment ago
            continue
        node = int(component_ids[k]) if kind == 1 else int(service_ids[k])
        why = _why(kind, text, shared, node, names, {})
        out.append(Suggestion(records[pk], round(score, 3), round(text, 3), why, tuple(shared)))
    return out


def similar_incidents(record: Any, *, limit: int = 5) -> list[Suggestion]:
    """Open incidents that look like the same fault as ``record`` (an incident or a request)."""
    return similar_incidents_for_subject(Subject.of(record), limit=limit)


def text_similarity(a: str, b: str) -> float:
    """Cosine similarity of two texts on their own (for explanations and tests)."""
    corpus = Corpus.build([a, b])
    return float((corpus.matrix[0] @ corpus.matrix[1].T).toarray()[0, 0])
