"""Choice lists of the service structure."""

from django.db import models


class NodeKind(models.TextChoices):
    SERVICE = "service", "Service"
    COMPONENT = "component", "Component"


class ServiceKind(models.TextChoices):
    IT_SERVICE = "it_service", "IT service"
    SUPPORTING = "supporting", "Supporting service"


class Lifecycle(models.TextChoices):
    PROPOSED = "proposed", "Proposed"
    APPROVED = "approved", "Approved"
    IN_TRANSITION = "in_transition", "In transition"
    LIVE = "live", "Live"
    RETIRING = "retiring", "Retiring"
    RETIRED = "retired", "Retired"


class Criticality(models.IntegerChoices):
    VERY_LOW = 1, "Very low"
    LOW = 2, "Low"
    MEDIUM = 3, "Medium"
    HIGH = 4, "High"
    VERY_HIGH = 5, "Very high"


class ComponentStatus(models.TextChoices):
    PLANNED = "planned", "Planned"
    IN_USE = "in_use", "In use"
    IN_MAINTENANCE = "in_maintenance", "In maintenance"
    RETIRED = "retired", "Retired"
