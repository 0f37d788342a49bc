"""The message broker: depth, delivery accounting, purge, dead letters, replay and message ids."""

from __future__ import annotations

import random

import pytest

from oncall_dojo.sim.components.queue import Queue, Run
from oncall_dojo.sim.config import QueueConfig
from oncall_dojo.sim.errors import Refusal

SALT = 0x5EED1234


def make_queue(**cfg: object) -> Queue:
    return Queue("payments", QueueConfig(**cfg), SALT)  # type: ignore[arg-type]


def seqs(runs: list[Run]) -> list[int]:
    return [seq for r in runs for seq in range(r.first, r.first + r.count)]


def assert_accounted(q: Queue) -> None:
    st = q.stats
    assert st.produced == st.acked + q.depth + q.inflight + q.dlq_depth + st.purged, (
        f"produced={st.produced} acked={st.acked} depth={q.depth} inflight={q.inflight} "
        f"dlq={q.dlq_depth} purged={st.purged}"
    )


# ----------------------------------------------------------------------------- depth


def test_depth_grows_by_enqueued_minus_taken_each_tick() -> None:
    q = make_queue()
    for t in range(1, 11):
        q.enqueue(t, 5)
        taken = q.take(3)
        assert sum(r.count for r in taken) == 3
        assert q.depth == 2 * t
        assert q.inflight == 3 * t
        assert_accounted(q)


def test_take_delivers_oldest_first_and_splits_runs() -> None:
    q = make_queue()
    q.enqueue(0, 4)  # seqs 1-4
    q.enqueue(1, 4)  # seqs 5-8
    first = q.take(3)
    assert seqs(first) == [1, 2, 3]
    second = q.take(3)
    assert seqs(second) == [4, 5, 6]
    assert [r.enq for r in second] == [0, 1]
    assert all(r.deliveries == 1 for r in first + second)
    assert q.depth == 2


def test_enqueue_of_nothing_changes_nothing() -> None:
    q = make_queue()
    assert q.enqueue(0, 0) is None
    assert q.depth == 0
    assert q.stats.produced == 0


# ----------------------------------------------------------------------------- ack / fail


def test_ack_and_fail_keep_every_message_accounted_for() -> None:
    q = make_queue(visibility_timeout_s=30)
    q.enqueue(0, 10)
    assert_accounted(q)
    (a,) = q.take(4)
    assert_accounted(q)
    q.ack(a, 2)
    assert q.stats.acked == 4
    assert_accounted(q)
    (b,) = q.take(3)
    assert_accounted(q)
    assert q.fail(b, 5) is False  # no receive limit: back to the queue, not the DLQ
    assert q.inflight == 0
    assert q.depth == 6  # 3 visible + 3 waiting out the visibility timeout
    assert_accounted(q)


def test_failed_delivery_is_redelivered_at_the_head_after_the_visibility_timeout() -> None:
    q = make_queue(visibility_timeout_s=30)
    q.enqueue(0, 3)  # seqs 1-3
    (failed,) = q.take(1)
    q.fail(failed, 5)
    q.enqueue(6, 2)  # seqs 4-5
    q.tick(34)
    assert seqs(q.take(1)) == [2], "still invisible before the timeout"
    q.tick(35)
    redelivered = q.take(1)
    assert seqs(redelivered) == [1]
    assert redelivered[0].deliveries == 2
    assert redelivered[0].enq == 0
    assert_accounted(q)


def test_max_receive_count_moves_a_message_to_the_dlq() -> None:
    q = make_queue(visibility_timeout_s=10, max_receive_count=3)
    q.enqueue(0, 1)
    t = 0
    for delivery in range(1, 4):
        (run,) = q.take(1)
        assert run.deliveries == delivery
        went_to_dlq = q.fail(run, t)
        assert went_to_dlq is (delivery == 3)
        t += 10
        q.tick(t)
        assert_accounted(q)
    assert q.dlq_depth == 1
    assert q.depth == 0
    assert q.stats.dead_lettered == 1
    assert q.take(5) == []


# ----------------------------------------------------------------------------- purge


def test_purge_loses_exactly_the_waiting_messages() -> None:
    q = make_queue(visibility_timeout_s=30)
    q.enqueue(0, 6)  # seqs 1-6
    inflight = q.take(2)  # seqs 1-2 stay in flight
    q.enqueue(1, 4)  # seqs 7-10
    (delayed,) = q.take(1)  # seq 3 fails and waits out its timeout
    q.fail(delayed, 1)
    waiting = sorted(seqs(list(q.waiting_runs())))
    depth_before = q.depth
    assert depth_before == len(waiting) == 8

    lost = q.purge()

    assert lost == depth_before
    assert q.stats.purged == depth_before
    assert q.depth == 0
    assert list(q.waiting_runs()) == []
    assert_accounted(q)
    # what was in flight is unaffected and can still be acknowledged
    for run in inflight:
        q.ack(run, 2)
    assert q.stats.acked == 2
    assert_accounted(q)
    # nothing purged ever comes back: later deliveries only carry new messages
    q.tick(1000)
    q.enqueue(1000, 3)
    delivered = q.take(100)
    assert set(seqs(delivered)).isdisjoint(waiting)
    assert seqs(delivered) == [11, 12, 13]


def test_purging_an_empty_queue_loses_nothing() -> None:
    q = make_queue()
    assert q.purge() == 0
    assert q.stats.purged == 0


# ----------------------------------------------------------------------------- dead letters


def test_move_to_dlq_splits_a_waiting_run_and_neighbours_keep_ids_and_enqueue_times() -> None:
    q = make_queue()
    q.enqueue(7, 10)  # seqs 1-10 in one run
    q.enqueue(8, 5)  # seqs 11-15
    before = {
        seq: (run.enq, q.msg_id(seq))
        for run in q.waiting_runs()
        for seq in range(run.first, run.first + run.count)
    }

    moved = q.move_to_dlq("msg_" + q.msg_id(5))

    assert (moved.first, moved.count, moved.enq) == (5, 1, 7)
    assert seqs(q.dlq) == [5]
    assert q.depth == 14
    assert q.stats.dead_lettered == 1
    after = {
        seq: (run.enq, q.msg_id(seq))
        for run in q.waiting_runs()
        for seq in range(run.first, run.first + run.count)
    }
    assert after == {k: v for k, v in before.items() if k != 5}
    # the order of delivery is unchanged around the gap
    assert seqs(q.take(100)) == [1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]
    assert_accounted(q)


def test_move_to_dlq_finds_a_message_waiting_out_its_visibility_timeout() -> None:
    q = make_queue(visibility_timeout_s=30)
    q.enqueue(3, 5)
    (run,) = q.take(5)
    q.fail(run, 4)  # seqs 1-5 now wait until tick 34
    q.move_to_dlq(q.msg_id(3))  # without the msg_ prefix works too
    assert q.depth == 4
    q.tick(34)
    back = q.take(10)
    assert seqs(back) == [1, 2, 4, 5]
    assert all(r.enq == 3 and r.deliveries == 2 for r in back)
    assert_accounted(q)


def test_replay_all_moves_every_dead_letter_back_with_fresh_deliveries() -> None:
    q = make_queue(max_receive_count=1)
    q.enqueue(0, 3)
    for run in q.take(3):
        q.fail(run, 1)
    assert q.dlq_depth == 3

    moved = q.replay_dlq(50)

    assert moved == 3
    assert q.dlq == []
    assert q.depth == 3
    assert q.stats.replayed == 3
    runs = q.take(3)
    assert seqs(runs) == [1, 2, 3]
    assert all(r.deliveries == 1 and r.replayed == 1 and r.enq == 0 for r in runs)
    assert_accounted(q)


def test_replay_by_id_moves_only_the_named_messages() -> None:
    q = make_queue(max_receive_count=1)
    q.enqueue(0, 5)
    for run in q.take(5):
        q.fail(run, 1)
    moved = q.replay_dlq(10, only={2, 4})
    assert moved == 2
    assert sorted(seqs(q.dlq)) == [1, 3, 5]
    assert seqs(q.take(10)) == [2, 4]
    assert_accounted(q)


def test_dead_letters_are_not_delivered() -> None:
    q = make_queue()
    q.enqueue(0, 3)
    q.move_to_dlq(q.msg_id(2))
    assert seqs(q.take(10)) == [1, 3]


# ----------------------------------------------------------------------------- ids and refusals


def test_msg_id_and_seq_of_round_trip() -> None:
    q = make_queue()
    q.enqueue(0, 5000)
    ids = [q.msg_id(seq) for seq in range(1, 5001)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 8 and int(i, 16) >= 0 for i in ids)
    for seq in (1, 2, 77, 4999, 5000):
        assert q.seq_of(q.msg_id(seq)) == seq
        assert q.seq_of("msg_" + q.msg_id(seq)) == seq


def test_ids_depend_on_the_queue_salt() -> None:
    a, b = Queue("a", QueueConfig(), 1), Queue("b", QueueConfig(), 2)
    assert a.msg_id(1) != b.msg_id(1)


@pytest.mark.parametrize("bad", ["msg_zzzz", "", "msg_", "123456789", "-1"])
def test_seq_of_rejects_malformed_ids(bad: str) -> None:
    q = make_queue()
    q.enqueue(0, 10)
    assert q.seq_of(bad) is None


def test_seq_of_rejects_ids_of_messages_never_enqueued() -> None:
    q = make_queue()
    q.enqueue(0, 10)
    assert q.seq_of(q.msg_id(11)) is None
    assert q.seq_of(q.msg_id(0)) is None


def test_move_to_dlq_refuses_unknown_ids() -> None:
    q = make_queue()
    q.enqueue(0, 3)
    with pytest.raises(Refusal, match="has no message"):
        q.move_to_dlq("msg_nothex")
    with pytest.raises(Refusal, match="has no message"):
        q.move_to_dlq(q.msg_id(99))
    assert q.depth == 3
    assert q.dlq == []


def test_move_to_dlq_refuses_messages_that_are_not_waiting() -> None:
    q = make_queue()
    q.enqueue(0, 3)
    (run,) = q.take(1)
    with pytest.raises(Refusal, match="not waiting"):
        q.move_to_dlq(q.msg_id(1))  # in flight
    q.ack(run, 1)
    with pytest.raises(Refusal, match="not waiting"):
        q.move_to_dlq(q.msg_id(1))  # acknowledged
    q.move_to_dlq(q.msg_id(2))
    with pytest.raises(Refusal, match=r"already in payments\.dlq"):
        q.move_to_dlq(q.msg_id(2))
    assert q.dlq_depth == 1
    assert q.depth == 1
    assert_accounted(q)


# ----------------------------------------------------------------------------- a random walk


@pytest.mark.parametrize("seed", range(6))
def test_every_message_is_in_exactly_one_place_through_random_operations(seed: int) -> None:
    """A seeded random walk over every operation; after each step every sequence number
    ever produced is exactly one of: acknowledged, waiting, in flight, dead-lettered, purged."""
    rng = random.Random(seed)
    q = make_queue(
        visibility_timeout_s=rng.choice([3, 10]), max_receive_count=rng.choice([None, 2, 4])
    )
    held: list[Run] = []
    acked: list[int] = []
    purged: list[int] = []
    for t in range(400):
        op = rng.random()
        if op < 0.30:
            q.enqueue(t, rng.randint(0, 6))
        elif op < 0.50:
            held += q.take(rng.randint(1, 5))
        elif op < 0.65 and held:
            run = held.pop(rng.randrange(len(held)))
            q.ack(run, t)
            acked += seqs([run])
        elif op < 0.78 and held:
            q.fail(held.pop(rng.randrange(len(held))), t)
        elif op < 0.85:
            waiting = seqs(list(q.waiting_runs()))
            if waiting:
                q.move_to_dlq(q.msg_id(rng.choice(waiting)))
        elif op < 0.90 and q.dlq:
            dead = seqs(q.dlq)
            only = None if rng.random() < 0.5 else set(rng.sample(dead, k=max(1, len(dead) // 2)))
            q.replay_dlq(t, only)
        elif op < 0.92:
            purged += seqs(list(q.waiting_runs()))
            q.purge()
        q.tick(t)

        places = acked + seqs(list(q.waiting_runs())) + seqs(held) + seqs(q.dlq) + purged
        assert sorted(places) == list(range(1, q.next_seq)), f"step {t}"
        assert q.inflight == sum(r.count for r in held)
        assert q.stats.acked == len(acked)
        assert q.stats.purged == len(purged)
        assert_accounted(q)


# ----------------------------------------------------------------------------- known bugs


def test_oldest_age_counts_a_replayed_message_behind_a_long_backlog() -> None:
    q = make_queue(max_receive_count=1)
    q.enqueue(0, 1)
    (run,) = q.take(1)
    q.fail(run, 0)  # dead-lettered; it was enqueued at tick 0
    for t in range(100, 200):  # a backlog of 100 runs, one per tick
        q.enqueue(t, 1)
    q.replay_dlq(200)
    assert q.oldest_age(200) == 200.5  # it arrived during (-1, 0]


def test_a_queues_kept_counts_match_its_runs_through_every_operation() -> None:
    """Depth, dead-letter depth and the oldest arrival are kept as messages come and go (they
    are gauges read every tick); whatever happens, they equal what the runs themselves say."""
    rng = random.Random(7)
    q = Queue("payments", QueueConfig(max_receive_count=3, visibility_timeout_s=4), salt=99)
    inflight: list[Run] = []

    def recounted_oldest(t: int) -> float:
        """The oldest age with the delayed runs scanned in full (the head stands for the ready
        ones, as the queue takes it, unless replays went to the tail)."""
        firsts = [r.first_arrival() for r in q.delayed]
        if q.ready:
            ready = q.ready if q._replayed_behind else [q.ready[0]]
            firsts += [r.first_arrival() for r in ready]
        return max(0.0, t - min(firsts)) if firsts else 0.0

    for t in range(1, 400):
        q.tick(t)
        op = rng.random()
        if op < 0.4:
            q.enqueue(t, rng.randint(1, 6), poison=rng.random() < 0.02)
        elif op < 0.65:
            inflight += q.take(rng.randint(1, 8))
        elif op < 0.85 and inflight:
            run = inflight.pop(rng.randrange(len(inflight)))
            if rng.random() < 0.6:
                q.fail(run, t, delay=rng.choice([None, 0, 2]))
            else:
                q.ack(run, t)
        elif op < 0.89 and q.delayed:
            q.move_to_dlq(q.msg_id(rng.choice(q.delayed).first))
        elif op < 0.92:
            q.replay_oldest(t, rng.randint(1, 5))
        elif op < 0.94 and q.dlq:
            q.replay_dlq(t, only={q.dlq[0].first})
        elif op < 0.95:
            q.park_all()
        elif op < 0.96:
            q.purge()
        elif op < 0.97:
            q.replay_dlq(t)
        assert q.depth == sum(r.count for r in q.waiting_runs()), t
        assert q.dlq_depth == sum(r.count for r in q.dlq), t
        assert q.oldest_age(t) == recounted_oldest(t), t
    assert q.stats.dead_lettered and q.stats.replayed and q.stats.purged
