"""A database that goes away under a sweep: a short outage (a restart, a failover) is ridden
out, saying so; a longer one ends the sweep with one line naming the database, its password
hidden; and the same command resumes it exactly once the database is back."""

import threading
import time

import fakes
import pg_server
import pytest
from optuna.trial import TrialState
from pg_server import PASSWORD
from sqlalchemy.exc import OperationalError

import sweeper
from sweeper.cli import error_line
from sweeper.storage.outage import RideOut, RidingOut, StorageUnavailable
from sweeper.storage.record import TrialRecord, counted
from sweeper.trials.observer import SweepObserver

URL = "postgresql://sweeper:secret@db.example:5432/sweeps"


class AwayFor:
    """A stand-in storage whose reads fail as a database that is away does, ``calls`` times."""

    def __init__(self, calls: int) -> None:
        self.left = calls

    def get_all_trials(self, *args, **kwargs):
        if self.left > 0:
            self.left -= 1
            refused = ConnectionRefusedError("connection refused")
            raise OperationalError("SELECT", {}, refused)
        return []

    def set_trial_user_attr(self, *args):
        raise ValueError("a value the database refuses: no outage")


def riding_out(inner, seconds: float, **hooks) -> RidingOut:
    return RidingOut(inner, URL, RideOut(seconds, **hooks))


def test_a_short_outage_is_ridden_out_and_said_once_then_back():
    notices: list = []
    assert riding_out(AwayFor(2), 30, notify=notices.append).get_all_trials(0) == []
    assert len(notices) == 2 and notices[1] is None
    assert notices[0].startswith("database postgresql://sweeper:***@db.example:5432/sweeps")
    assert "unreachable (connection refused); retrying for up to 30 s" in notices[0]


def test_past_the_window_it_is_one_line_and_later_calls_do_not_wait_again():
    storage = riding_out(AwayFor(10**6), 1.0)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable) as caught:
        storage.get_all_trials(0)
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert message.startswith("lost the database postgresql://sweeper:***@db.example:5432/")
    assert "secret" not in message and "\n" not in message
    assert "storage_retry" in message and "--storage-retry" in error_line(caught.value)
    started = time.monotonic()
    with pytest.raises(StorageUnavailable):
        storage.get_all_trials(0)
    assert time.monotonic() - started < 0.5


def test_other_errors_and_stop_requests_do_not_wait():
    with pytest.raises(ValueError):
        riding_out(AwayFor(0), 30).set_trial_user_attr(0, "k", "v")
    with pytest.raises(KeyboardInterrupt):
        riding_out(AwayFor(10**6), 30, stop_requested=lambda: True).get_all_trials(0)


# --- a real PostgreSQL server, stopped as a crash would stop it, under a running sweep ----


@pytest.fixture
def server():
    if pg_server.binaries() is None:
        pytest.skip("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    server = pg_server.start()  # its own: this test stops it
    yield server
    server.stop()


class Notices(SweepObserver):
    def __init__(self) -> None:
        self.storage: list = []

    def storage_notice(self, message, worker: int = 0) -> None:
        self.storage.append(message)


def outage(server, after: float, lasting: float | None) -> threading.Thread:
    """Halt the server ``after`` seconds, for ``lasting`` seconds (None: until resumed)."""

    def run() -> None:
        time.sleep(after)
        server.halt()
        if lasting is not None:
            time.sleep(lasting)
            server.resume()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def sweep(url: str, tmp_path, **settings):
    return sweeper.run_sweep(
        fakes.SPACE,
        n_trials=6,
        max_epochs=3,
        workers=2,
        storage=url,
        results_dir=tmp_path,
        make_objective=fakes.slow,  # 1 s epochs: the outage comes mid-trial
        **settings,
    )


def test_a_restart_under_a_sweep_is_ridden_out_and_loses_nothing(server, tmp_path):
    url = server.create_database()
    notices = Notices()
    halted = outage(server, after=4, lasting=5)
    result = sweep(url, tmp_path, observer=notices)
    halted.join()
    trials = result.study.get_trials(deepcopy=False)
    assert counted(trials) == len(trials) == 6
    assert not [t for t in trials if t.state in (TrialState.RUNNING, TrialState.FAIL)]
    said = [n for n in notices.storage if n]
    assert said and "unreachable" in said[0] and PASSWORD not in said[0]
    assert notices.storage[-1] is None  # and that it was back
    assert "is back" in (tmp_path / "fake_space" / "sweep.log").read_text()


def test_a_longer_outage_ends_the_sweep_in_one_line_and_the_same_call_resumes(server, tmp_path):
    url = server.create_database()
    halted = outage(server, after=4, lasting=None)
    with pytest.raises(StorageUnavailable) as caught:
        sweep(url, tmp_path, storage_retry=2)
    halted.join()
    message = error_line(caught.value)
    assert message.startswith("lost the database postgresql://sweeper:***@127.0.0.1:")
    assert PASSWORD not in message and "\n" not in message and "--storage-retry" in message

    server.resume()
    result = sweep(url, tmp_path)
    trials = result.study.get_trials(deepcopy=False)
    assert counted(trials) == 6 and not [t for t in trials if t.state == TrialState.RUNNING]
    lost = [t for t in trials if TrialRecord.of(t).is_lost]
    retried = {t.user_attrs.get("retry_of") for t in trials} - {None}
    assert {t.number for t in lost} == retried  # every trial the outage cut is run again
