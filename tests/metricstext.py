"""Reading ``/metrics`` as a scraper does: parsed by prometheus_client, so label order and number
formatting (``1`` or ``1.0``) do not matter, only names, labels and values."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families


def sample(text: str, metric: str, /, **labels: str) -> float | None:
    """The value of the one sample named ``metric`` whose labels include ``labels``; None if there is none.

    AssertionError if several samples match (the labels given do not pick one).
    """
    found = [
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == metric and labels.items() <= s.labels.items()
    ]
    assert len(found) <= 1, (metric, labels, found)
    return found[0] if found else None
