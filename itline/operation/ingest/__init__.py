"""Event ingestion: monitoring events in three wire formats (itline JSON, Alertmanager webhook
v4, PagerDuty Events API v2) parsed into ``NormalizedEvent``, authenticated per event source,
mapped onto the service structure and stored in bulk as alerts with their history.

    source = authenticate(request, "alertmanager")
    result = ingest(source, parse_alertmanager(body))

See docs/events.md for the formats, credentials, mapping rules and limits."""

from itline.operation.ingest.auth import Unauthorized, authenticate
from itline.operation.ingest.events import IngestError, NormalizedEvent
from itline.operation.ingest.mapping import map_labels
from itline.operation.ingest.parsers import parse_alertmanager, parse_itline, parse_pagerduty
from itline.operation.ingest.store import Busy, IngestResult, ingest

__all__ = [
    "Busy",
    "IngestError",
    "IngestResult",
    "NormalizedEvent",
    "Unauthorized",
    "authenticate",
    "ingest",
    "map_labels",
    "parse_alertmanager",
    "parse_itline",
    "parse_pagerduty",
]
