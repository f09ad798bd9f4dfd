"""No alert is lost to an outage: the pure pipeline with a fake clock and a
channel that goes down and comes back (the notifier's retry-topic round
trip is simulated, records serialised as the notifier writes them)."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).parent / "alerting"))
from alert_samples import T0, alert, config  # noqa: E402

from alerting.channels import Outcome, SendResult  # noqa: E402
from alerting.episode import episode_id  # noqa: E402
from alerting.labels import Labeler  # noqa: E402
from alerting.message import Notification  # noqa: E402
from alerting.notifier import make_renderer  # noqa: E402
from alerting.pipeline import Dispatcher, Job, RetryPolicy  # noqa: E402
from alerting.policy.dedup import DeliveryLog  # noqa: E402
from alerting.policy.silences import SilenceStore  # noqa: E402
from streams.models import AlertEvent  # noqa: E402

CHANNEL = {"name": "pr", "type": "webhook", "url": "http://127.0.0.1:9/pr"}
FIRED = T0 + 28 * 60  # 13:08 in Shanghai


def crisis(step: str, started_at: float = FIRED) -> AlertEvent:
    """fired 13:08 (warning), critical 13:12, resolved 13:40."""
    if step == "fired":
        return alert(started_at=started_at, event_time=started_at, sequence=1)
    if step == "critical":
        return alert(started_at=started_at, event_time=started_at + 240, sequence=2, severity="critical")
    return alert(started_at=started_at, event_time=started_at + 1920, sequence=3, severity="critical",
                 state="resolved", ended_at=started_at + 1920)


class Flaky:
    """The notifier's delivery loop around a Dispatcher, with a channel that is
    ``up`` or not; a failed delivery is parked (a JSON record, as in the retry
    topic) and read back when due."""

    def __init__(self, routes: dict[str, Any] | None = None, delivery: dict[str, Any] | None = None,
                 ledger: DeliveryLog | None = None) -> None:
        self.cfg = config({"channels": [CHANNEL], "routes": routes or {"receiver": "pr"},
                           "delivery": delivery or {}})
        self.ledger = ledger or DeliveryLog()
        self.dispatcher = Dispatcher(self.cfg.alerting, Labeler(), self.ledger, SilenceStore())
        self.retry = RetryPolicy(self.cfg.alerting.delivery, random.Random(3))
        self.now = T0
        self.up = True
        self.accepted: list[Notification] = []
        self.dead: list[Notification] = []
        self.parked: list[bytes] = []  # written to the retry topic, not read back yet
        self.delayed: list[tuple[float, Job]] = []
        self.attempts = 0
        self.queue: list[Job] = []

    def restart(self) -> Flaky:
        """A new process: the delivery log and the parked records survive (Kafka), memory does not."""
        other = Flaky(ledger=self.ledger)
        other.cfg, other.dispatcher = self.cfg, Dispatcher(self.cfg.alerting, Labeler(), self.ledger, SilenceStore())
        # Parked records not committed yet are read again: those whose job was waiting.
        other.now, other.up = self.now, self.up
        other.parked = list(self.parked) + [src for job in self.dispatcher.jobs.values() for src in job.sources]
        return other

    def push(self, event: AlertEvent) -> None:
        self.dispatcher.accept(event, None, self.now)

    def advance(self, seconds: float, step: float = 5.0) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now = min(end, self.now + step)
            self.read_parked()
            jobs, _ = self.dispatcher.due(self.now)
            self.queue += jobs
            for due, job in [d for d in self.delayed if d[0] <= self.now]:
                self.delayed.remove((due, job))
                self.queue.append(job)
            queue, self.queue = self.queue, []
            for job in queue:
                self.deliver(job)

    def read_parked(self) -> None:
        """The consumer reads a parked record back at once; its job waits until it is due."""
        for record in self.parked:
            data = json.loads(record)
            job, new = self.dispatcher.resume(Notification.from_dict(data["notification"]), data["route"], record,
                                              data["attempt"], data["first_failed_at"], data["overdue"], self.now)
            if new:
                self.delayed.append((data["due_at"], job))
        self.parked = []

    def deliver(self, job: Job) -> None:
        note, _ = self.dispatcher.materialize(job, self.now)
        if note is None:
            self.dispatcher.nothing_to_send(job, self.now)
            return
        self.attempts += 1
        if self.up:
            self.dispatcher.delivered(job, note, self.now)
            self.accepted.append(note)
            return
        job.attempt += 1
        job.first_failed_at = job.first_failed_at or self.now
        decision = self.retry.decide(job, SendResult(Outcome.RETRY, "ConnectError"), self.now, 0)
        if decision.gave_up and not job.overdue:
            job.overdue = True
            self.dead.append(note)
        group = self.dispatcher.grouper.groups[job.group_key]
        record = {"notification": note.to_dict(), "route": group.route.path, "attempt": job.attempt,
                  "first_failed_at": job.first_failed_at, "due_at": decision.at, "overdue": job.overdue}
        self.dispatcher.parked(job, decision.at)
        self.parked.append(json.dumps(record, ensure_ascii=False).encode())


def timeline(note: Notification, event: AlertEvent) -> list[str]:
    return [m["kind"] for m in note.timelines.get(episode_id(event), [])]


def text_of(flaky: Flaky, note: Notification) -> str:
    renderer = make_renderer(flaky.cfg, flaky.cfg.alerting)
    return renderer.title(note) + "\n" + renderer.render(note).text()


def down_through_escalation(then: float) -> Flaky:
    """The channel is down from before 13:08; the alert fires then and turns critical at 13:12."""
    f = Flaky()
    f.up = False
    f.now = FIRED
    f.push(crisis("fired"))
    f.advance(240)
    f.push(crisis("critical"))
    f.advance(then)
    return f


def test_an_outage_through_a_whole_crisis_ends_in_one_summary_message() -> None:
    f = down_through_escalation(1680)
    f.push(crisis("resolved"))
    f.advance(600)
    assert f.accepted == [] and f.attempts > 5
    f.up = True
    f.advance(600)
    [note] = f.accepted
    [event] = note.alerts
    assert (event.state, event.sequence) == ("resolved", 3)
    assert timeline(note, event) == ["fired", "escalated", "resolved"]
    text = text_of(f, note)
    assert "【已恢复·补发】艾克美" in text
    assert "经过：13:08 触发（警告） → 13:12 升级为严重 → 13:40 恢复" in text
    f.advance(6 * 3600, step=60)
    assert len(f.accepted) == 1 and f.delayed == [] and f.dispatcher.grouper.groups == {}


def test_a_channel_back_mid_crisis_hears_the_firing_and_the_escalation_at_once() -> None:
    f = down_through_escalation(600)
    f.up = True
    f.advance(300)
    [note] = f.accepted
    assert [(a.severity, a.state) for a in note.alerts] == [("critical", "firing")]
    assert timeline(note, note.alerts[0]) == ["fired", "escalated"]
    assert "经过：13:08 触发（警告） → 13:12 升级为严重" in text_of(f, note)
    f.push(crisis("resolved"))
    f.advance(600)
    resolved = f.accepted[1]
    # The channel knew of the crisis: a plain resolve, no story retold.
    assert resolved.alerts[0].state == "resolved" and resolved.timelines == {}
    assert "【已恢复】艾克美" in text_of(f, resolved)


def test_a_delivery_parked_before_a_restart_still_tells_the_whole_story() -> None:
    f = down_through_escalation(300)
    assert f.dispatcher.jobs  # parked and read back: the alerts' offsets are committed, the record is not
    f = f.restart()
    # After the restart only the resolve is read from the alerts topic.
    f.push(crisis("resolved"))
    f.up = True
    f.advance(900)
    [note] = f.accepted
    assert timeline(note, note.alerts[0]) == ["fired", "escalated", "resolved"]
    assert "13:08 触发（警告） → 13:12 升级为严重 → 13:40 恢复" in text_of(f, note)


def test_past_the_retry_deadline_a_copy_is_dead_lettered_once_and_delivery_goes_on() -> None:
    f = Flaky(delivery={"retry_deadline": "1h", "max_backoff": "5m"})
    f.up = False
    f.now = FIRED
    f.push(crisis("fired"))
    f.advance(5 * 3600, step=30)
    assert len(f.dead) == 1 and f.accepted == []
    assert len(f.delayed) == 1  # one delivery per group, however long the outage
    attempts = f.attempts
    assert attempts < 5 * 12 + 20  # after the deadline, every max_backoff (5 min)
    f.up = True
    f.advance(600)
    [note] = f.accepted
    assert note.alerts[0].state == "firing"


def test_an_alert_that_flaps_inside_group_wait_is_still_not_sent() -> None:
    f = Flaky()
    f.up = False
    f.push(crisis("fired"))
    f.push(crisis("resolved"))
    f.up = True
    f.advance(600)
    assert f.accepted == [] and f.attempts == 0


def test_a_reused_sequence_number_at_another_severity_is_news() -> None:
    """A detector that lost its state re-sends sequence 1, now critical."""
    f = Flaky()
    f.push(crisis("fired"))
    f.advance(60)
    f.push(alert(started_at=FIRED, event_time=FIRED + 240, sequence=1, severity="critical"))
    f.advance(600)
    assert [n.alerts[0].severity for n in f.accepted] == ["warning", "critical"]


# ---- a property: whatever the outages, nothing is lost and no resolve comes first

STEPS = st.lists(st.sampled_from(["escalate", "deescalate", "down", "up", "wait", "resolve", "refire"]),
                 min_size=1, max_size=25)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(STEPS)
def test_no_episode_is_lost_and_no_resolve_is_heard_first(steps: list[str]) -> None:
    f = Flaky(routes={"receiver": "pr", "group_interval": "1m"}, delivery={"max_backoff": "2m"})
    f.now = FIRED
    started, seq, severity, state = FIRED, 1, "warning", "firing"
    episodes: list[AlertEvent] = []

    def send(event: AlertEvent) -> None:
        episodes.append(event)
        f.push(event)

    send(alert(started_at=started, event_time=f.now, sequence=seq, severity=severity))
    for step in steps:
        if step in ("escalate", "deescalate") and state == "firing":
            seq += 1
            severity = "critical" if step == "escalate" else "warning"
            send(alert(started_at=started, event_time=f.now, sequence=seq, severity=severity))
        elif step == "resolve" and state == "firing":
            seq, state = seq + 1, "resolved"
            send(alert(started_at=started, event_time=f.now, sequence=seq, severity=severity, state="resolved",
                       ended_at=f.now))
        elif step == "refire" and state == "resolved":
            started, seq, severity, state = f.now + 60, 1, "warning", "firing"
            send(alert(started_at=started, event_time=started, sequence=1))
        elif step == "down":
            f.up = False
        elif step == "up":
            f.up = True
        f.advance(90, step=15)
    f.up = True
    f.advance(3600, step=30)
    heard_first: dict[str, AlertEvent] = {}
    for note in f.accepted:
        for event in note.alerts:
            eid = episode_id(event)
            if eid not in heard_first:
                heard_first[eid] = event
                # A channel hears of an episode first as firing, or as a story that says it fired.
                assert event.state == "firing" or timeline(note, event)[:1] == ["fired"], (steps, note)
    latest: dict[str, AlertEvent] = {}
    for event in episodes:
        latest[episode_id(event)] = event
    for eid, event in latest.items():
        if eid in heard_first:
            # Announced episodes end with the channel knowing their current state.
            assert f.ledger.heard("pr", event), (steps, event)
    assert f.delayed == [] and not f.dispatcher.jobs


def test_an_escalation_overtaken_by_its_resolve_is_still_told() -> None:
    """A worker catching up after a restart emits the critical update and the
    resolve within one group_interval: the resolve message says it escalated."""
    f = Flaky(routes={"receiver": "pr", "group_wait": "0s", "group_interval": "2s"})
    f.now = FIRED
    f.push(crisis("fired"))
    f.advance(1, step=1)
    f.push(crisis("critical"))
    f.push(crisis("resolved"))
    f.advance(5, step=1)
    first, last = f.accepted
    assert first.alerts[0].severity == "warning" and last.alerts[0].state == "resolved"
    assert timeline(last, last.alerts[0]) == ["escalated", "resolved"]
    assert "经过：13:12 升级为严重 → 13:40 恢复" in text_of(f, last)
    assert "补发" not in text_of(f, last)  # the channel heard it fire: not a late story
