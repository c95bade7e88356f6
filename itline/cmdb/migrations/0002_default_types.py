"""Every installation starts with the common component and relation types; admins add more."""

from django.db import migrations

COMPONENT_TYPES = [
    ("server", "Server", {"type": "object", "properties": {"cpu": {"type": "integer", "minimum": 1}, "memory_gb": {"type": "number", "minimum": 0}, "os": {"type": "string"}, "serial": {"type": "string"}}}),
    ("virtual-machine", "Virtual machine", {"type": "object", "properties": {"vcpu": {"type": "integer", "minimum": 1}, "memory_gb": {"type": "number", "minimum": 0}, "os": {"type": "string"}}}),
    ("database", "Database", {"type": "object", "properties": {"engine": {"type": "string", "enum": ["postgresql", "mysql", "mariadb", "oracle", "sqlserver", "mongodb", "redis", "other"]}, "version": {"type": "string"}, "size_gb": {"type": "number", "minimum": 0}}}),
    ("application", "Application", {"type": "object", "properties": {"version": {"type": "string"}, "vendor": {"type": "string"}, "url": {"type": "string"}}}),
    ("network-device", "Network device", {"type": "object", "properties": {"role": {"type": "string", "enum": ["router", "switch", "firewall", "load-balancer", "access-point", "other"]}, "model": {"type": "string"}, "management_ip": {"type": "string"}}}),
    ("storage", "Storage", {"type": "object", "properties": {"capacity_tb": {"type": "number", "minimum": 0}, "protocol": {"type": "string"}}}),
    ("cloud-resource", "Cloud resource", {"type": "object", "properties": {"provider": {"type": "string"}, "region": {"type": "string"}, "resource_id": {"type": "string"}}}),
]

RELATION_TYPES = [
    ("depends-on", "depends on", "is needed by", True),
    ("runs-on", "runs on", "runs", True),
    ("hosted-on", "is hosted on", "hosts", True),
    ("connects-to", "connects to", "is connected from", False),
]


def forwards(apps, schema_editor):
    ComponentType = apps.get_model("cmdb", "ComponentType")
    RelationType = apps.get_model("cmdb", "RelationType")
    for slug, name, schema in COMPONENT_TYPES:
        ComponentType.objects.get_or_create(slug=slug, defaults={"name": name, "attribute_schema": schema})
    for slug, name, inverse, propagates in RELATION_TYPES:
        RelationType.objects.get_or_create(
            slug=slug, defaults={"name": name, "inverse_name": inverse, "propagates_impact": propagates}
        )


class Migration(migrations.Migration):
    dependencies = [("cmdb", "0001_initial")]
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
