import io

import pytest
from django.core.management import call_command

from itline.cmdb.models import Component, Relation, Service
from itline.org.models import Function


@pytest.mark.django_db
def test_the_demo_structure_is_realistic_owned_and_connected():
    call_command("demo", stdout=io.StringIO())
    assert Service.objects.filter(service_kind="it_service").count() == 12
    assert Service.objects.filter(service_kind="supporting").count() == 30
    assert 380 <= Component.objects.count() <= 420
    assert set(Component.objects.values_list("component_type__slug", flat=True)) >= {
        "server",
        "virtual-machine",
        "database",
        "application",
        "network-device",
        "storage",
        "cloud-resource",
    }
    assert not Component.objects.filter(owner_function__isnull=True).exists()
    assert set(Component.objects.values_list("owner_function__name", flat=True)) <= set(
        Function.objects.values_list("name", flat=True)
    )
    assert Relation.objects.count() > 800
    # every IT service reaches components, and is agreed with at least one customer or HR
    for service in Service.objects.filter(service_kind="it_service"):
        assert service.outgoing.exists(), service
