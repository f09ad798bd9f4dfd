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


# ---- one brand's incident as the detector reports it (the demo's crisis) -------

STARTED = T0 - 1920  # 12:08 in Beijing
ENDED = T0 + 7200
# (author, followers, verified, excerpt, story, reposts, reach, terms); story keys as streams.sentiment.preprocess makes them.
CRISIS_POSTS = [
    ("育儿百科", 5_104_377, True, "晨光牛奶股价盘中大跌5%，问题晨光奶粉已被多地下架", "9f3c01aa", 1204, 12.1, ["下架"]),
    ("消费维权观察", 2_095_603, True, "＃晨光召回＃晨光牛奶股价盘中大跌7%，问题晨光纯牛奶已被多地下架", "51d0e7c2", 862, 11.3,
     ["召回", "下架"]),
    ("咖啡研究所", 1_635_616, False, "西安市场监管局通报：晨光乳业一批次晨光鲜奶黄曲霉毒素M1不合格，大家怎么看", "c07be913", 355,
     10.2, ["不合格"]),
    ("美食探店达人", 333_795, False, "转发微博//@咖啡研究所:西安市场监管局通报：晨光乳业一批次晨光鲜奶黄曲霉毒素M1不合格",
     "c07be913", 12, 8.7, ["不合格"]),
    ("西安生活圈", 294_458, False, "晨光乳业股价盘中大跌9%，问题晨光酸奶已被多地下架［思考］", "e2a4d6f0", 40, 8.1, ["下架"]),
    ("橘子2020", 1_024, False, "晨光乳業彻底翻车，过期奶换日期标签再卖，太恶心了［怒］", "7a11b5e3", 3, 4.0, ["过期"]),
]
STORY_COUNTS = {"7a11b5e3": [38, 898], "c07be913": [18, 3948], "51d0e7c2": [9, 1320], "9f3c01aa": [7, 1290],
                "e2a4d6f0": [2, 52]}


def crisis_posts() -> list[dict[str, Any]]:
    return [{"id": f"weibo-sim:49800005610{i:05d}", "author": author, "followers": followers, "excerpt": excerpt,
             "url": f"https://weibo.example/u{i}/49800005610{i:05d}", "negative": 0.95, "reach": reach,
             "created_at": STARTED + 30 * i, "story": story, "reposts": reposts, "verified": verified, "terms": terms}
            for i, (author, followers, verified, excerpt, story, reposts, reach, terms) in enumerate(CRISIS_POSTS)]


def tally(signals: list[str], negative: int = 212, total: int = 301, stories: int = 57,
          severity: str = "critical") -> dict[str, Any]:
    return {"opened_at": STARTED, "negative": negative, "total": total, "stories": stories, "more_stories": False,
            "severity": severity, "signals": signals, "story_counts": dict(STORY_COUNTS)}


SIGNALS: dict[str, dict[str, Any]] = {
    "negative_share": dict(value=0.718, baseline=0.235, statistic=6.7, window_seconds=300.0, negative=28, total=39,
                           negative_share=0.718, baseline_share=0.235, peak_value=0.718, peak_window_seconds=300.0),
    "negative_volume": dict(value=28.0, baseline=5.18, statistic=7.6, window_seconds=300.0, negative=28, total=39,
                            negative_share=0.718, baseline_share=0.235, peak_value=28.0, peak_window_seconds=300.0),
    "risk_terms": dict(value=14.0, baseline=0.62, statistic=7.9, window_seconds=300.0, negative=24, total=25,
                       negative_share=0.96, baseline_share=0.235, peak_value=14.0, peak_window_seconds=300.0),
    "kol": dict(value=5_104_377.0, baseline=100_000.0, statistic=3.1, window_seconds=60.0, negative=6, total=8,
                negative_share=0.75, baseline_share=0.235, peak_value=5_104_377.0, peak_window_seconds=60.0),
}
KOL_EVIDENCE = {"account": "育儿百科", "account_followers": 5_104_377, "account_verified": True,
                "post_id": "weibo-sim:4980000561000000", "usual_per_week": 0.04}


def crisis_alert(signal: str, state: str = "firing", severity: str = "critical", sequence: int = 1,
                 signals: list[str] | None = None, **extra: Any) -> AlertEvent:
    fields: dict[str, Any] = dict(
        key=f"chenguang:{signal}", brand="chenguang", brand_name="晨光乳业", signal=signal, state=state,
        severity=severity, started_at=STARTED, event_time=ENDED if state == "resolved" else STARTED + 300,
        volume_change=4.2, summary=f"{signal} fired", ended_at=ENDED if state == "resolved" else None,
        peak_severity=severity, risk_terms=[["过期", 12], ["致癌", 11], ["召回", 9], ["下架", 8]],
        top_posts=crisis_posts(), sparkline=[2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1, 2, 1, 2, 1, 1, 1, 1, 6, 6, 9],
        sequence=sequence, detector="adaptive",
        evidence={"incident": tally(signals or ["negative_share", "kol", "negative_volume", "risk_terms"]),
                  **(KOL_EVIDENCE if signal == "kol" else {})},
        **SIGNALS[signal])
    fields.update(extra)
    return AlertEvent(**fields)


def crisis_firing() -> list[AlertEvent]:
    """The first message: four signals at once, critical."""
    return [crisis_alert(s) for s in ("negative_share", "negative_volume", "risk_terms", "kol")]


def crisis_update() -> tuple[list[AlertEvent], dict[str, dict[str, Any]]]:
    """The channel heard the share (a warning, peak 61.0 %) and the KOL post;
    now the share is critical at a new peak and two signals joined."""
    from alerting.episode import episode_id

    share = crisis_alert("negative_share", sequence=2)
    kol = crisis_alert("kol", severity="warning")
    alerts = [share, crisis_alert("negative_volume"), crisis_alert("risk_terms"), kol]
    told = {episode_id(share): {"sequence": 1, "current": False, "severity": "warning", "peak_value": 0.61},
            episode_id(kol): {"sequence": 1, "current": True, "severity": "warning", "peak_value": 5_104_377.0}}
    return alerts, told


def crisis_resolved() -> list[AlertEvent]:
    """The last two signals resolve; the share and the KOL alert resolved in
    earlier messages. The risk signal's last window had no posts at all."""
    final = dict(signals=["negative_share", "kol", "negative_volume", "risk_terms"])
    volume = crisis_alert("negative_volume", state="resolved", sequence=2, peak_value=116.0, value=9.0, baseline=8.4,
                          window_seconds=900.0, negative=33, total=126, negative_share=0.262, **final)
    risk = crisis_alert("risk_terms", state="resolved", sequence=2, peak_value=31.0, value=0.0, negative=0, total=0,
                        negative_share=0.0, ended_at=ENDED - 240, **final)
    for event in (volume, risk):
        event.evidence["incident"].update(negative=1412, total=3347, stories=609)
    return [volume, risk]


def config_error(alerting: dict[str, Any], environ: dict[str, str] | None = None) -> Any:
    """The ConfigError a config with this alerting section fails with (AssertionError if none)."""
    from streams.settings import ConfigError

    try:
        config(alerting, environ=environ)
    except ConfigError as exc:
        return exc
    raise AssertionError("the configuration was accepted")
