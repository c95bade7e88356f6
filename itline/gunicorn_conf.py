"""gunicorn settings used by ``itline serve`` (``--config python:itline.gunicorn_conf``)."""

from __future__ import annotations

import logging
import threading
from typing import Any


def _warm_impact_index() -> None:
    # The first impact question after a start would otherwise be answered by the slower SQL
    # fallback while the index builds; build it before anyone asks.
    try:
        from django.db import connection

        from itline.cmdb import impact

        impact.warm()
        connection.close()
    except Exception:  # a failed warm-up only costs speed; queries still have the fallback
        logging.getLogger("itline").exception("warming the impact index failed")


def post_worker_init(worker: Any) -> None:
    threading.Thread(target=_warm_impact_index, name="itline-warm-index", daemon=True).start()
