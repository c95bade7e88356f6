"""Configuration rows Operation needs from the first start: the default priority matrix."""

from __future__ import annotations

from typing import Any

# impact (1 high .. 3 low) x urgency (1 high .. 3 low) -> priority (1 critical .. 4 low)
DEFAULT_MATRIX: dict[tuple[int, int], int] = {
    (1, 1): 1,
    (1, 2): 2,
    (1, 3): 3,
    (2, 1): 2,
    (2, 2): 3,
    (2, 3): 4,
    (3, 1): 3,
    (3, 2): 4,
    (3, 3): 4,
}


def ensure_priority_matrix(**kwargs: Any) -> None:
    """Fill the missing cells of the priority matrix; edited cells are kept."""
    from itline.operation.models import PriorityRule

    existing = set(PriorityRule.objects.values_list("impact", "urgency"))
    PriorityRule.objects.bulk_create(
        [
            PriorityRule(impact=i, urgency=u, priority=p)
            for (i, u), p in DEFAULT_MATRIX.items()
            if (i, u) not in existing
        ]
    )
