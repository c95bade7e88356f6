"""The component and relation types every installation starts with. Created after every
migrate and after a flush (post_migrate), never overwritten: admins may edit or add types."""

from __future__ import annotations

from typing import Any

COMPONENT_TYPES: list[tuple[str, str, dict[str, Any]]] = [
    (
        "server",
        "Server",
        {
            "type": "object",
            "properties": {
                "cpu": {"type": "integer", "minimum": 1},
                "memory_gb": {"type": "number", "minimum": 0},
                "os": {"type": "string"},
                "serial": {"type": "string"},
            },
        },
    ),
    (
        "virtual-machine",
        "Virtual machine",
        {
            "type": "object",
            "properties": {
                "vcpu": {"type": "integer", "minimum": 1},
                "memory_gb": {"type": "number", "minimum": 0},
                "os": {"type": "string"},
            },
        },
    ),
    (
        "database",
        "Database",
        {
            "type": "object",
            "properties": {
                "engine": {
                    "type": "string",
                    "enum": [
                        "postgresql",
                        "mysql",
                        "mariadb",
                        "oracle",
                        "sqlserver",
                        "mongodb",
                        "redis",
                        "other",
                    ],
                },
                "version": {"type": "string"},
                "size_gb": {"type": "number", "minimum": 0},
            },
        },
    ),
    (
        "application",
        "Application",
        {
            "type": "object",
            "properties": {
                "version": {"type": "string"},
                "vendor": {"type": "string"},
                "url": {"type": "string"},
            },
        },
    ),
    (
        "network-device",
        "Network device",
        {
            "type": "object",
            "properties": {
                "role": {
                    "type": "string",
                    "enum": [
                        "router",
                        "switch",
                        "firewall",
                        "load-balancer",
                        "access-point",
                        "other",
                    ],
                },
                "model": {"type": "string"},
                "management_ip": {"type": "string"},
            },
        },
    ),
    (
        "storage",
        "Storage",
        {
            "type": "object",
            "properties": {
                "capacity_tb": {"type": "number", "minimum": 0},
                "protocol": {"type": "string"},
            },
        },
    ),
    (
        "cloud-resource",
        "Cloud resource",
        {
            "type": "object",
            "properties": {
                "provider": {"type": "string"},
                "region": {"type": "string"},
                "resource_id": {"type": "string"},
            },
        },
    ),
]

RELATION_TYPES: list[tuple[str, str, str, bool]] = [
    ("depends-on", "depends on", "is needed by", True),
    ("runs-on", "runs on", "runs", True),
    ("hosted-on", "is hosted on", "hosts", True),
    ("connects-to", "connects to", "is connected from", False),
]


def ensure_default_types(**kwargs: Any) -> None:
    from itline.cmdb.models import ComponentType, RelationType

    for slug, name, schema in COMPONENT_TYPES:
        ComponentType.objects.get_or_create(
            slug=slug, defaults={"name": name, "attribute_schema": schema}
        )
    for slug, name, inverse, propagates in RELATION_TYPES:
        RelationType.objects.get_or_create(
            slug=slug,
            defaults={"name": name, "inverse_name": inverse, "propagates_impact": propagates},
        )
