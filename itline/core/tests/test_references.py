import threading

import pytest
from django.db import close_old_connections, connection

from itline.core.models import Sequence, next_reference
from itline.org.models import Function


@pytest.mark.django_db
def test_references_count_up_per_prefix_with_six_digits():
    assert next_reference("INC") == "INC-000001"
    assert next_reference("INC") == "INC-000002"
    assert next_reference("CHG") == "CHG-000001"


@pytest.mark.django_db
def test_a_saved_record_gets_its_reference_once():
    function = Function(name="Service Desk")
    function.save()
    assert function.reference == "FUN-000001"
    function.name = "Service Desk 1st line"
    function.save()
    function.refresh_from_db()
    assert function.reference == "FUN-000001"
    assert Sequence.objects.get(prefix="FUN").value == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_creators_never_receive_the_same_reference():
    results: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            for _ in range(15):
                ref = next_reference("RACE")
                with lock:
                    results.append(ref)
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 90
    assert len(set(results)) == 90
    assert sorted(results)[-1] == "RACE-000090"
