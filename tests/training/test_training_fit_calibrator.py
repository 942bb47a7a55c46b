"""qa/training/fit_calibrator.py: the band rule and the per-part figures, on hand-made records."""

from __future__ import annotations

from qa.training.fit_calibrator import bands_by_part, part_bands


def _records(part: str, rows: list[tuple[float, bool]]) -> tuple[list[dict[str, object]], list[float]]:
    return [{"part": part, "right": right} for _, right in rows], [c for c, _ in rows]


def test_bands_hold_on_every_part_and_a_part_that_never_reaches_an_accuracy_is_named():
    # news: right from 0.8 up, half right in 0.5-0.8, wrong below; clean: right everywhere;
    # traps: never 80 % right at any confidence, half right from 0.6.
    news, news_conf = _records("news", [(0.9, True)] * 20 + [(0.6, True), (0.6, False)] * 10 + [(0.3, False)] * 20)
    clean, clean_conf = _records("clean", [(0.4, True)] * 30)
    traps, traps_conf = _records("traps", [(0.95, True), (0.95, False)] * 10 + [(0.65, True), (0.65, False)] * 10)
    records, conf = news + clean + traps, news_conf + clean_conf + traps_conf
    (medium, high), edges = part_bands(records, conf)
    assert high == 0.61 and edges["high"] == {"news": 0.61, "traps": None, "clean": 0.0}
    assert edges["unreachable"]["high"] == ["traps"]
    assert medium == 0.31 and edges["medium"]["traps"] is None  # no traps answer below "high"
    assert all(edge is None or edge <= medium for edge in edges["medium"].values())
    by_part = bands_by_part(records, conf, (medium, high))
    assert by_part["news"]["high"] == {"answers": 20, "right": 1.0}
    assert by_part["news"]["medium"] == {"answers": 20, "right": 0.5}
    assert by_part["traps"]["high"] == {"answers": 40, "right": 0.5}, "named as unreachable, not hidden"
    assert by_part["clean"]["medium"] == {"answers": 30, "right": 1.0}
