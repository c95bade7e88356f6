"""Settings of the benchmark process: itline's settings (DATABASE_URL points at the SQLite file
the benchmark chose) plus a ``pg`` alias when ``ITLINE_BENCH_PG`` names a PostgreSQL database."""

import os

import dj_database_url

from itline.settings import *  # noqa: F403
from itline.settings import DATABASES

if os.environ.get("ITLINE_BENCH_PG"):
    DATABASES["pg"] = dj_database_url.parse(os.environ["ITLINE_BENCH_PG"], conn_max_age=600)
    DATABASES["pg"]["TEST"] = {"NAME": None}

# The benchmark builds the index explicitly and times it.
IMPACT_BACKGROUND_BUILD = False
