"""The rate gate every job to one API host shares, on a virtual clock: exact, never a race
with the wall clock (the end-to-end storm in test_lists.py counts what the simulator saw)."""
from nodes.remote.pacing import MAX_INTERVAL, MIN_INTERVAL, RateGate


class VirtualClock:
    """Time that passes only when someone sleeps; ``at`` runs a callback once at a moment."""

    def __init__(self):
        self.t, self.events = 0.0, []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += seconds
        for due in [e for e in self.events if e[0] <= self.t]:
            self.events.remove(due)
            due[1]()

    def at(self, t: float, action) -> None:
        self.events.append((t, action))


def gate():
    clock = VirtualClock()
    return RateGate(clock=clock.now, sleep=clock.sleep), clock


def test_a_429_makes_the_next_request_wait_its_retry_after():
    g, clock = gate()
    assert g.wait() == 0.0                                  # nothing held: at once
    g.hold(3.0)
    g.wait()
    assert clock.t >= 3.0 and g.held == 1


def test_a_longer_pause_arriving_while_waiting_holds_the_waiter_too():
    g, clock = gate()
    g.hold(1.0)
    clock.at(0.5, lambda: g.hold(4.0))                      # another job's 429, mid-wait
    g.wait()
    assert clock.t >= 4.5                                   # not released at 1.0


def test_a_retry_after_is_capped_and_none_means_a_default_pause():
    g, clock = gate()
    g.max_pause = 10.0
    g.hold(3600.0)
    g.wait()
    assert 10.0 <= clock.t < 10.5
    start = clock.t
    g.hold(None)
    g.wait()
    assert clock.t - start >= 1.0


def test_submits_are_paced_slowed_after_a_429_and_eased_after_successes():
    g, clock = gate()
    g.wait(submit=True)
    g.wait(submit=True)
    assert clock.t >= MIN_INTERVAL                          # the second waited one interval
    g.hold(0.0, submit=True)
    assert g.interval == 2 * MIN_INTERVAL
    for _ in range(20):
        g.hold(0.0, submit=True)
    assert g.interval == MAX_INTERVAL                       # doubling stops at the slowest pace
    before = g.interval
    g.passed(submit=True)
    assert g.interval < before and g.interval == before * 0.98
    for _ in range(1000):
        g.passed(submit=True)
    assert g.interval == MIN_INTERVAL


def test_reads_are_not_paced_only_held():
    g, clock = gate()
    for _ in range(5):
        g.wait(submit=False)
    assert clock.t == 0.0
