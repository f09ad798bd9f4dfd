"""Alert events and configs for the alerting tests (no I/O)."""

from __future__ import annotations

from typing import Any

from streams.cli.config import KoubeiConfig, parse_koubei_config
from streams.models import AlertEvent

T0 = 1_763_700_000.0  # 2025-11-21 04:40 UTC: a fixed clock for renders

BRANDS = [
    {"id": "acme", "name": "艾克美", "aliases": ["艾克美", "acme"]},
    {"id": "bolt", "name": "闪电奶茶", "aliases": ["闪电奶茶"]},
    {"id": "cola", "name": "可乐星球", "aliases": ["可乐星球"]},
]


def alert(brand: str = "acme", state: str = "firing", severity: str = "warning", sequence: int = 1,
          started_at: float = T0 - 900, signal: str = "negative_share", posts: int = 3, **extra: Any) -> AlertEvent:
    names = {b["id"]: b["name"] for b in BRANDS}
    top = [
        {"id": f"weibo:{i}", "author": f"用户{i}", "followers": 1200 * (i + 1),
         "excerpt": f"第{i}条：{names.get(brand, brand)}的奶茶喝出了异物，客服也不理人，太失望了！",
         "url": f"https://weibo.example/{i}", "negative": 0.93, "reach": 4.2, "created_at": T0 - 60 * i}
        for i in range(posts)
    ]
    fields: dict[str, Any] = dict(
        key=f"{brand}:{signal}", brand=brand, brand_name=names.get(brand, brand), signal=signal, state=state,
        severity=severity, started_at=started_at, event_time=T0, window_seconds=900.0, value=0.46, baseline=0.11,
        statistic=6.2, negative=92, total=200, negative_share=0.46, baseline_share=0.11, volume_change=2.5,
        summary="negative share 46% vs 11% usual", ended_at=T0 if state == "resolved" else None,
        peak_value=0.52, peak_severity="critical" if severity == "critical" else "warning",
        risk_terms=[["异物", 31], ["退款", 12], ["客服", 9]], top_posts=top,
        sparkline=[3, 4, 3, 5, 4, 6, 9, 14, 22, 35, 41, 38], sequence=sequence, detector="adaptive",
    )
    fields.update(extra)
    return AlertEvent(**fields)


def config(alerting: dict[str, Any] | None, environ: dict[str, str] | None = None, **top: Any) -> KoubeiConfig:
    raw: dict[str, Any] = {"brands": BRANDS, **top}
    if alerting is not None:
        raw["alerting"] = alerting
    return parse_koubei_config(raw, environ=environ or {})
