"""Any sequence of valid posts: the aggregator and the detectors never crash and keep bounded state."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.aggregate import Aggregator, DictBucketStore
from streams.detection import create_detector
from streams.models import Bucket, Mention

T0 = 1_772_409_600.0  # 2026-03-02 00:00 UTC
BRANDS = ("acme", "lumen", "river")
SIZE = 60.0
RETENTION = 30

mentions = st.builds(
    lambda brand, minute, second, negative, followers, reposts, story, risk, n: Mention(
        brand=brand, post_key=f"w:{n}", source="w", post_id=str(n), author_id=f"a{n % 7}", author_name="名字",
        followers=followers, verified=followers > 100_000, text="某品牌" * (n % 5), url="",
        created_at=T0 + minute * 60 + second, negative=0.9 if negative else 0.1, sentiment=0.1 if negative else 0.9,
        is_negative=negative, reach=1.0 + (followers > 0), risk_terms=["召回"] if risk else [],
        reposts=reposts, story=story, src_partition=n % 4, src_offset=n, src_index=0),
    st.sampled_from(BRANDS),
    # mostly in order, with jumps backwards (late posts) and a long quiet gap
    st.integers(min_value=0, max_value=3 * 24 * 60),
    st.floats(min_value=0, max_value=59.999),
    st.booleans(),
    st.integers(min_value=0, max_value=10_000_000_000),
    st.integers(min_value=0, max_value=10**9),
    st.sampled_from(["", "s1", "s2", "s3"]),
    st.booleans(),
    st.integers(min_value=0, max_value=10**6),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.lists(mentions, max_size=400), st.booleans())
def test_any_valid_mentions_aggregate_and_detect_with_bounded_state(items: list[Mention], sort: bool) -> None:
    if sort:
        items = sorted(items, key=lambda m: m.created_at)
    store = DictBucketStore()
    agg = Aggregator(SIZE, 60.0, 60.0, store, retention_buckets=RETENTION)
    detectors = {brand: create_detector(None, brand) for brand in BRANDS}
    closed: list[Bucket] = []
    for offset, mention in enumerate(items):
        wall = max(mention.created_at, agg.state.clocks.get("local", [0.0, 0.0])[0])
        agg.add(mention, wall, offset)
        closed.extend(agg.close_ready(wall))
    if items:
        end = max(m.created_at for m in items) + 600
        while batch := list(agg.close_ready(end)):
            closed.extend(batch)
    # every brand's buckets come out in time order, once each
    for brand in BRANDS:
        starts = [b.start for b in closed if b.brand == brand]
        assert starts == sorted(set(starts))
    # closed buckets older than the retention are deleted from the store
    if closed:
        newest = max(b.start for b in closed)
        assert all(start >= newest - SIZE * (RETENTION + 1) for _, start in store.data)
    for bucket in closed:
        assert bucket.total >= bucket.negative >= 0
        events = detectors[bucket.brand].update(bucket)
        for event in events:
            event.to_json()
    for detector in detectors.values():
        state = json.dumps(detector.to_state())
        assert len(state.encode()) < 20_000
    assert len(json.dumps(agg.state.to_dict())) < 20_000
