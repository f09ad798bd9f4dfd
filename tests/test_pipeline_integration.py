"""The whole pipeline on a real broker process: worker, receiver, replay.

Runs against the embedded broker started by the fixtures, or against
KOUBEI_KAFKA_URL (Apache Kafka) when that is set.
"""

from __future__ import annotations

import base64
import json
import signal
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from connectors.file_replay import load_records, replay
from streams import topics
from streams.brands import BrandMatcher
from streams.cli.config import load_koubei_config
from streams.gate import Gate, InputRules
from streams.kafka import BrokerQuirks, ensure_topics, make_producer, read_topic
from streams.models import Bucket
from tests.harness import metric_sum
from tests.pipeline_support import (
    BRANDS,
    MINUTES,
    START,
    Pipeline,
    SmallScenario,
    bucket_counts,
    buckets_of,
    build_small_scenario,
    end_of_stream_lines,
    wait_for,
    write_lines,
)

# The scenarios are dated March 2026: replay them whatever today's date is.
HISTORY = Gate(InputRules(max_age=0))

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENARIO_BUCKETS = {START.timestamp() + 60 * m for m in range(MINUTES)}


def expected_mentions(scenario: SmallScenario) -> Counter[str]:
    from streams.config import Brand

    matcher = BrandMatcher([Brand(id=b["id"], name=b["name"], aliases=tuple(b["aliases"]),
                                  exclude=tuple(b.get("exclude", ()))) for b in BRANDS])
    counts: Counter[str] = Counter()
    for post in scenario.posts:
        counts.update(matcher.match(post["text"]))
    return counts


def run_replay(path: Path, bootstrap: str, quirks: BrokerQuirks, topic: str, speed: float | None = None,
               stop: threading.Event | None = None) -> None:
    producer = make_producer(bootstrap, quirks)
    try:
        replay(load_records(path, gate=HISTORY), producer, topic, speed=speed, stop=stop)
    finally:
        producer.close()


def watermarks_past_end(workers: list[Any]) -> bool:
    """Both mentions partitions (whichever worker owns them) have closed every scenario bucket."""
    marks = [v for w in workers for k, v in w.metrics().items() if k.startswith("koubei_watermark_timestamp_seconds")]
    return len(marks) >= 2 and min(marks) >= START.timestamp() + 60 * MINUTES


def scenario_done(pipeline: Pipeline, need_resolved: bool = True) -> bool:
    """Every partition's watermark is past the scenario's end and the crisis resolved."""
    assert pipeline.worker is not None
    resolved = [a for a in pipeline.receiver.alerts() if a["brand"] == "xinghe" and a["state"] == "resolved"]
    return watermarks_past_end([pipeline.worker]) and (bool(resolved) or not need_resolved)


END_OF_STREAM = end_of_stream_lines()


def prepare(tmp: Path, kafka_url: str, bootstrap: str, name: str) -> tuple[SmallScenario, Path, Pipeline, Any]:
    """The small scenario on disk (followed by END_OF_STREAM), and a pipeline
    (receiver, config, topics) on its own topics."""
    scenario = build_small_scenario()
    path = write_lines(tmp / "posts.jsonl", scenario.lines + END_OF_STREAM)
    pipeline = Pipeline(tmp, kafka_url, prefix=f"{name}{int(time.time() * 1000) % 10**9}")
    config = load_koubei_config(pipeline.config_path)
    ensure_topics(bootstrap, config.topics.plan(topics.PIPELINE))
    return scenario, path, pipeline, config


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory, kafka_url: str, kafka_bootstrap: str,
                  broker_quirks: BrokerQuirks) -> Any:
    scenario, path, pipeline, config = prepare(tmp_path_factory.mktemp("pipeline"), kafka_url, kafka_bootstrap, "it")
    try:
        pipeline.start_worker()
        run_replay(path, kafka_bootstrap, broker_quirks, config.topic("posts"))
        wait_for(lambda: scenario_done(pipeline), timeout=240, what="all buckets closed and the crisis resolved",
                 on_timeout=lambda: pipeline.worker.tail() if pipeline.worker else "")
        time.sleep(2.0)
        assert pipeline.worker is not None
        result = {
            "scenario": scenario,
            "config": config,
            "metrics": pipeline.worker.metrics(),
            "ready": pipeline.worker.get("/readyz")[0],
            "healthy": pipeline.worker.get("/healthz")[0],
            "alerts": list(pipeline.receiver.alerts()),
            "messages": list(pipeline.receiver.all),
            "buckets": bucket_counts(read_topic(kafka_bootstrap, config.topic("buckets"))),
            "raw_buckets": buckets_of(read_topic(kafka_bootstrap, config.topic("buckets"))),
            "dead": [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic("posts.dead"))],
            "alerts_topic": [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic("alerts"))],
        }
    finally:
        pipeline.close()
    return result


def test_crisis_brand_fires_then_resolves(uninterrupted: Any) -> None:
    alerts = [a for a in uninterrupted["alerts"] if a["brand"] == "xinghe"]
    firing = [a for a in alerts if a["state"] == "firing"]
    resolved = [a for a in alerts if a["state"] == "resolved"]
    assert firing, "no firing alert for the crisis brand"
    assert resolved, "no resolved alert after the crisis ended"
    first = min(firing, key=lambda a: a["event_time"])
    onset = START.timestamp() + 95 * 60
    assert onset <= first["event_time"] <= onset + 10 * 60, "alert not within 10 minutes of the crisis onset"
    assert first["top_posts"], "alert carries no sample posts"
    assert first["negative"] > 0 and first["total"] >= first["negative"]
    assert {a["key"] for a in resolved} <= {a["key"] for a in firing}
    assert max(a["event_time"] for a in resolved) > START.timestamp() + 110 * 60


def test_buckets_carry_each_risk_story_once(uninterrupted: Any) -> None:
    crisis = {k: v for k, v in uninterrupted["buckets"].items() if k[0] == "xinghe" and v[2]}
    assert crisis, "no bucket of the crisis brand counted a post with a risk term"
    for total, _, risk_hits, stories in crisis.values():
        assert 0 < len(stories) <= risk_hits <= total
        assert len(set(stories)) == len(stories)
        # Below the cap, so the sets compared by the restart and two-worker
        # tests do not depend on the order mentions arrived in.
        assert len(stories) < Bucket.MAX_RISK_STORIES
    # The scenario's reposts of one crisis post share its story.
    assert sum(len(v[3]) for v in crisis.values()) < sum(v[2] for v in crisis.values())


def test_calm_brands_never_fire(uninterrupted: Any) -> None:
    assert not [a for a in uninterrupted["alerts"] if a["brand"] != "xinghe"]
    assert not [a for a in uninterrupted["alerts_topic"] if a["brand"] != "xinghe"]


def test_receiver_message_is_readable(uninterrupted: Any) -> None:
    message = next(m for m in uninterrupted["messages"] if m["status"] == "firing")
    assert "星河手机" in message["text"]
    assert message["alerts"][0]["brand"] == "xinghe"


def test_metrics_report_what_was_replayed(uninterrupted: Any) -> None:
    scenario: SmallScenario = uninterrupted["scenario"]
    samples = uninterrupted["metrics"]
    assert metric_sum(samples, "koubei_posts_ingested_total") == scenario.valid + len(END_OF_STREAM)
    for brand, count in expected_mentions(scenario).items():
        assert metric_sum(samples, "koubei_mentions_total", brand=brand) == count, brand
    buckets = uninterrupted["buckets"]
    for brand, count in expected_mentions(scenario).items():
        lost = {name: metric_sum(samples, name, brand=brand) for name in ("koubei_late_mentions_total",)}
        lost["duplicates"] = metric_sum(samples, "koubei_duplicate_records_total")
        assert sum(v[0] for (b, s), v in buckets.items() if b == brand) == count, (brand, lost)
    assert metric_sum(samples, "koubei_alerts_total", brand="xinghe", state="firing") >= 1
    assert metric_sum(samples, "koubei_alerts_total", brand="chenguang") == 0
    reasons = Counter(reason for _, reason in scenario.bad_records)
    for reason, count in reasons.items():
        assert metric_sum(samples, "koubei_dead_letters_total", reason=reason) == count, reason
    assert metric_sum(samples, "koubei_record_failures_total") == 0
    assert metric_sum(samples, "koubei_stage_up") == 3
    # Dashboards show names through it (deploy/grafana).
    assert samples.get('koubei_brand_info{brand="xinghe",name="星河手机"}') == 1


def test_the_worker_stays_ready_through_hostile_records(uninterrupted: Any) -> None:
    assert (uninterrupted["ready"], uninterrupted["healthy"]) == (200, 200)


def test_bad_records_are_dead_lettered_with_reason_and_original_bytes(uninterrupted: Any) -> None:
    scenario: SmallScenario = uninterrupted["scenario"]
    dead = uninterrupted["dead"]
    assert len(scenario.bad_records) >= 60
    assert sorted(d["reason"] for d in dead) == sorted(reason for _, reason in scenario.bad_records)
    reason_of = {base64.b64decode(d["original_b64"]): d["reason"] for d in dead}
    assert reason_of == dict(scenario.bad_records)
    for record in dead:
        assert record["error"]


def test_restart_mid_replay_gives_the_same_bucket_counts(uninterrupted: Any, tmp_path: Path, kafka_url: str,
                                                          kafka_bootstrap: str, broker_quirks: BrokerQuirks) -> None:
    _, path, pipeline, config = prepare(tmp_path, kafka_url, kafka_bootstrap, "rs")
    try:
        pipeline.start_worker()
        # Paced so that the replay is still running when the worker dies.
        replayer = threading.Thread(target=run_replay, args=(path, kafka_bootstrap, broker_quirks,
                                                              config.topic("posts"), 600.0))
        replayer.start()
        assert pipeline.worker is not None
        wait_for(lambda: metric_sum(pipeline.worker.metrics(), "koubei_mentions_total") > 300, timeout=60,
                 what="the worker to score part of the replay")
        # SIGKILL: no graceful commit. Offsets roll back to the last commit and
        # the stages must not count anything twice.
        pipeline.worker.stop(signal.SIGKILL)
        time.sleep(2.0)
        pipeline.start_worker()
        replayer.join(timeout=120)
        # Not waiting for the resolved message: replayed at 600x, the restarted
        # notifier may first see the firing and the resolved event together,
        # and (like Alertmanager) does not announce the end of an alert it
        # never announced. This test is about the counts.
        wait_for(lambda: scenario_done(pipeline, need_resolved=False), timeout=240,
                 what="the restarted worker to finish the scenario",
                 on_timeout=lambda: pipeline.worker.tail() if pipeline.worker else "")
        restarted = bucket_counts(read_topic(kafka_bootstrap, config.topic("buckets")))
        alerts = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic("alerts"))]
    finally:
        pipeline.close()
    before = {k: v for k, v in uninterrupted["buckets"].items() if k[1] in SCENARIO_BUCKETS}
    after = {k: v for k, v in restarted.items() if k[1] in SCENARIO_BUCKETS}
    assert len(before) == len(BRANDS) * MINUTES
    assert after == before
    # The detectors' state came back from the changelog: the alert timeline is
    # the uninterrupted run's (a lost state would restart the baselines cold
    # and change it). A bucket re-delivered after the kill may re-emit an
    # event already sent, hence sets; the notifier drops such repeats.
    assert timeline(alerts) == timeline(uninterrupted["alerts_topic"])


def timeline(alerts: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(a["key"], a["state"], a["sequence"], a["severity"], a["event_time"]) for a in alerts}


def test_two_workers_split_the_brands_and_count_exactly_once(uninterrupted: Any, tmp_path: Path, kafka_url: str,
                                                             kafka_bootstrap: str, broker_quirks: BrokerQuirks) -> None:
    """Two workers in one group: each owns some posts partitions and some brands.

    The watermark has one clock per posts partition, so neither worker can
    close buckets the other's posts still have to fill: together they count
    exactly what one worker does, and each brand's detector runs once.
    """
    from streams.broker import free_port
    from tests.harness import WorkerProcess

    _, path, pipeline, config = prepare(tmp_path, kafka_url, kafka_bootstrap, "tw")
    second = WorkerProcess(pipeline.config_path, tmp_path / "worker2.log", free_port(),
                           extra_args=("--data-dir", str(tmp_path / "state2")))
    try:
        # Started together, so both are in the group before the replay: the
        # point is that posts are split between them, not a rebalance.
        first = pipeline.start_worker()
        second.start()
        second.wait_ready(timeout=120)
        first.wait_ready(timeout=120)  # it rebalanced when the second joined
        workers = [first, second]
        run_replay(path, kafka_bootstrap, broker_quirks, config.topic("posts"))
        wait_for(lambda: watermarks_past_end(workers), timeout=240, what="both workers to close every bucket",
                 on_timeout=lambda: first.tail() + "\n----\n" + second.tail())
        counts = bucket_counts(read_topic(kafka_bootstrap, config.topic("buckets")))
        alerts = [json.loads(r.value) for r in read_topic(kafka_bootstrap, config.topic("alerts"))]
        scored = [metric_sum(w.metrics(), "koubei_mentions_total") for w in workers]
        aggregated = [metric_sum(w.metrics(), "koubei_mentions_aggregated_total") for w in workers]
        late = sum(metric_sum(w.metrics(), "koubei_late_mentions_total") for w in workers)
        # Seen failing once (5 posts short, nothing late): what each worker
        # took in and skipped, and its log's warnings, for the next time.
        diagnostics = "\n".join(
            f"worker {i}: ingested {metric_sum(w.metrics(), 'koubei_posts_ingested_total'):.0f}, dead-lettered "
            f"{metric_sum(w.metrics(), 'koubei_dead_letters_total'):.0f}, skipped offsets "
            f"{metric_sum(w.metrics(), 'koubei_posts_skipped_offsets_total'):.0f}, scored {scored[i]:.0f}, "
            f"aggregated {aggregated[i]:.0f}\n" + "\n".join(
                line for line in w.tail(4000).splitlines() if "WARNING" in line or "ERROR" in line)[-6000:]
            for i, w in enumerate(workers))
    finally:
        second.stop()
        pipeline.close()
    before = {k: v for k, v in uninterrupted["buckets"].items() if k[1] in SCENARIO_BUCKETS}
    after = {k: v for k, v in counts.items() if k[1] in SCENARIO_BUCKETS}
    assert all(n > 0 for n in scored), f"one worker scored every post: {scored}"
    assert all(n > 0 for n in aggregated), f"one worker aggregated every brand: {aggregated}"
    assert late == 0, f"{late} mentions were late: a worker's partitions were closed without it"
    assert after == before, diagnostics
    assert sum(aggregated) == sum(v[0] for v in before.values()), diagnostics
    firings = [a["key"] for a in alerts if a["state"] == "firing" and a["sequence"] == 1]
    assert firings and all(key.startswith("xinghe:") for key in firings)
    assert len(firings) == len(set(firings)), "an alert was opened twice: two workers ran one brand's detector"


CRISIS_WORDS = ("爆炸", "曝光", "翻车", "避雷", "拒绝退款")


def test_posts_seen_again_are_counted_once_and_update_reach(uninterrupted: Any, tmp_path: Path, kafka_url: str,
                                                           kafka_bootstrap: str, broker_quirks: BrokerQuirks) -> None:
    """A crawler sends posts again: right after themselves (a re-crawl in the
    same run), and later, after the worker has counted them, with far more
    followers and reposts (the post went viral). Every bucket counts what the
    file without repeats gives; the repeats are counted in
    koubei_duplicate_posts_total; the crisis brand's reach evidence grows."""
    scenario, _, pipeline, config = prepare(tmp_path, kafka_url, kafka_bootstrap, "rp")
    crisis = [p for p in scenario.posts if "星河手机" in p["text"] and any(w in p["text"] for w in CRISIS_WORDS)]
    # Posts that name no tracked brand are not remembered (nothing counts them).
    calm = [p for p in scenario.posts if p not in crisis
            and any(alias in p["text"] for brand in BRANDS for alias in brand["aliases"])]
    again_now = calm[::40] + crisis[::10]  # sent again at once, unchanged or with a few more likes
    viral = crisis[5::12]  # sent again later with far more reach
    assert len(again_now) > 20 and len(viral) > 10
    lines = list(scenario.lines) + [json.dumps({**p, "likes": p["likes"] + 3}, ensure_ascii=False).encode()
                                    for p in again_now]
    first = write_lines(tmp_path / "with-repeats.jsonl", lines)
    later = write_lines(tmp_path / "viral.jsonl", [json.dumps(
        {**p, "reposts": 50_000, "author": {**p["author"], "followers": 3_000_000}}, ensure_ascii=False).encode()
        for p in viral])
    try:
        pipeline.start_worker()
        assert pipeline.worker is not None
        worker = pipeline.worker
        run_replay(first, kafka_bootstrap, broker_quirks, config.topic("posts"))
        expected = sum(expected_mentions(scenario).values())
        wait_for(lambda: metric_sum(worker.metrics(), "koubei_mentions_aggregated_total")
                 + metric_sum(worker.metrics(), "koubei_late_mentions_total") >= expected, timeout=180,
                 what="the worker to count the first replay", on_timeout=worker.tail)
        run_replay(later, kafka_bootstrap, broker_quirks, config.topic("posts"))
        wait_for(lambda: metric_sum(worker.metrics(), "koubei_duplicate_posts_total") >= len(again_now) + len(viral),
                 timeout=120, what="the repeats to be recognised", on_timeout=worker.tail)
        # Only now the end of the stream: the reach revisions of the viral
        # repeats reach their open bucket before the watermark closes it.
        run_replay(write_lines(tmp_path / "end.jsonl", END_OF_STREAM), kafka_bootstrap, broker_quirks,
                   config.topic("posts"))
        wait_for(lambda: scenario_done(pipeline, need_resolved=False), timeout=240,
                 what="every bucket closed", on_timeout=worker.tail)
        time.sleep(3.0)  # the bucket that took the late reach revisions closes too
        samples = worker.metrics()
        records = read_topic(kafka_bootstrap, config.topic("buckets"))
    finally:
        pipeline.close()
    assert metric_sum(samples, "koubei_duplicate_posts_total", source="weibo") == len(again_now) + len(viral)
    assert metric_sum(samples, "koubei_posts_ingested_total") == \
        scenario.valid + len(again_now) + len(viral) + len(END_OF_STREAM)
    for brand, count in expected_mentions(scenario).items():
        assert metric_sum(samples, "koubei_mentions_total", brand=brand) == count, brand
    counts = bucket_counts(records)
    raw = buckets_of(records)
    before = {k: v for k, v in uninterrupted["buckets"].items() if k[1] in SCENARIO_BUCKETS}
    after = {k: v for k, v in counts.items() if k[1] in SCENARIO_BUCKETS}
    assert after == before
    reach = {(b["brand"], b["start"]): b["reach_negative"] for b in raw}
    reach_before = {(b["brand"], b["start"]): b["reach_negative"] for b in uninterrupted["raw_buckets"]}
    for key in reach_before:
        if key in reach and key[1] in SCENARIO_BUCKETS:
            assert reach[key] >= reach_before[key] - 1e-6, key
    grown = sum(v for (brand, _), v in reach.items() if brand == "xinghe") - sum(
        v for (brand, _), v in reach_before.items() if brand == "xinghe")
    # Each viral repost adds log10 of ~3,000,000 followers and 50,000 reposts, less what it had.
    assert grown > 5 * len(viral)



# Distinct words per post (the auto model's sample keeps one post per distinct
# set of words): what people say, with the emoticon that labels it.
AUTO_ANGRY = (["电池", "屏幕", "客服", "快递", "售后", "包装", "价格", "系统", "信号", "充电器"],
              ["坏了", "太差", "骗人", "拖了一周", "退不了款", "出问题", "又卡死", "没人管", "发热严重", "掉漆"])
AUTO_HAPPY = (["拍照", "续航", "外观", "手感", "音质", "速度", "颜色", "做工", "赠品", "门店"],
              ["真不错", "超喜欢", "很满意", "好用", "惊喜", "值得", "很舒服", "推荐", "很棒", "满分"])


def test_worker_with_model_auto_learns_swaps_and_resumes(tmp_path: Path, kafka_url: str, kafka_bootstrap: str,
                                                         broker_quirks: BrokerQuirks) -> None:
    """sentiment.model: auto in the worker: it scores with the default model,
    learns from the posts' own emoticons, swaps its model in (with the
    negative-share offset of auto_keep_share) without losing a mention, and a
    restarted worker scores with the model it learnt."""
    import random
    from datetime import timedelta

    import yaml

    from streams.sentiment._snowdata import read_marshal_gz
    from tests.pipeline_support import START as T0

    rng = random.Random(5)
    posts: list[dict[str, Any]] = []
    for n in range(300):
        angry = n % 2 == 0
        nouns, verbs = AUTO_ANGRY if angry else AUTO_HAPPY
        text = f"{BRANDS[n % len(BRANDS)]['name']}的{rng.choice(nouns)}{rng.choice(verbs)}，第{n}次说" + (
            "[怒]" if angry else "[哈哈]")
        posts.append({"source": "weibo", "id": f"auto{n}", "text": text,
                      "author": {"id": f"u{n}", "name": f"用户{n}", "followers": 10},
                      "created_at": (T0 + timedelta(minutes=n // 8)).isoformat()})
    path = write_lines(tmp_path / "posts.jsonl",
                       [json.dumps(p, ensure_ascii=False).encode() for p in posts] + END_OF_STREAM)
    pipeline = Pipeline(tmp_path, kafka_url, prefix=f"au{int(time.time() * 1000) % 10**9}")
    raw = yaml.safe_load(pipeline.config_path.read_text(encoding="utf-8"))
    # The first model after 220 weakly labelled posts: by then more than the 200
    # readings auto_keep_share needs (streams/sentiment/auto.py, SHARE_MIN_TEXTS).
    raw["sentiment"] = {"model": "auto", "auto_min_examples": 220, "auto_max_examples": 5000}
    pipeline.config_path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    config = load_koubei_config(pipeline.config_path)
    ensure_topics(kafka_bootstrap, config.topics.plan(topics.PIPELINE))
    model_file = Path(config.worker.data_dir) / "sentiment-auto" / "auto.model"
    try:
        worker = pipeline.start_worker()
        run_replay(path, kafka_bootstrap, broker_quirks, config.topic("posts"))
        wait_for(lambda: metric_sum(worker.metrics(), "koubei_mentions_total") >= len(posts), timeout=180,
                 what="every post scored", on_timeout=worker.tail)
        wait_for(lambda: "now scoring with a model learnt from" in worker.tail(), timeout=60,
                 what="the auto model to be swapped in", on_timeout=worker.tail)
        assert metric_sum(worker.metrics(), "koubei_mentions_total") == len(posts)
        metadata = read_marshal_gz(model_file)["koubei"]
        assert metadata["weak_positive"] >= 100 and metadata["weak_negative"] >= 100
        # auto_keep_share: matched to what the default model read before the swap.
        assert "negative_logit_offset" in metadata and metadata["kept_share"]["posts"] >= 200
        worker.stop()
        restarted = pipeline.start_worker()
        # The whole log (both workers write it; only a worker that found a model resumes).
        wait_for(lambda: "resumed with the model it learnt" in (tmp_path / "worker.log").read_text(encoding="utf-8"),
                 timeout=60,
                 what="the restarted worker to score with its auto model", on_timeout=restarted.tail)
    finally:
        pipeline.close()
