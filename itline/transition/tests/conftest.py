import pytest

from itline.cmdb import impact


@pytest.fixture(autouse=True)
def _no_shared_index():
    """Risk, collisions and CAB impact summaries use the impact engine: no index of an
    earlier test leaks in."""
    impact.forget()
    yield
    impact.forget()
