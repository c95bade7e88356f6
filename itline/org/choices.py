"""Choice lists of the organisation app."""

from django.db import models


class GovernanceLevel(models.TextChoices):
    STRATEGIC = "strategic", "Strategic"
    TACTICAL = "tactical", "Tactical"
    OPERATIONAL = "operational", "Operational"


class MembershipRole(models.TextChoices):
    MEMBER = "member", "Member"
    LEAD = "lead", "Lead"
    DEPUTY = "deputy", "Deputy lead"
    COORDINATOR = "coordinator", "Coordinator"
