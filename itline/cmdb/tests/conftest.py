import pytest

from itline.cmdb import impact


@pytest.fixture(autouse=True)
def _no_shared_index():
    """Every test starts and ends without a published impact index of an earlier test."""
    impact.forget()
    yield
    impact.forget()
