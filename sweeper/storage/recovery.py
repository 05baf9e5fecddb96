"""Trials lost to the machinery, not to their configuration: found, failed and retried once.

Optuna's journal storage has no heartbeat, so a trial whose process died stays RUNNING
forever. Every trial therefore records its owner (host, pid and the process' start time, so a
recycled pid is not mistaken for it); a RUNNING trial whose owner on this host is gone is
failed with reason "worker died". A lost trial ("worker died" or "interrupted") does not count
against the budget, and its parameters are enqueued to run again, once.
"""

from __future__ import annotations

import socket

import optuna
import psutil
from optuna.trial import FrozenTrial, TrialState

from sweeper.storage.record import FAIL_REASON, OWNER, RETRY_OF, WORKER_DIED, is_lost


def owner_record(worker: int, device: str, sampler_seed: int | None = None) -> dict:
    """This process, as the owner of the trials it runs."""
    me = psutil.Process()
    return {
        "host": socket.gethostname(),
        "pid": me.pid,
        "created": me.create_time(),
        "worker": worker,
        "device": device,
        "sampler_seed": sampler_seed,
    }


def owner_is_gone(trial: FrozenTrial) -> bool:
    """True when the trial's owner ran on this host and that process no longer exists.

    Owners on other hosts cannot be checked from here; their trials are left alone.
    """
    owner = trial.user_attrs.get(OWNER)
    if not owner or owner.get("host") != socket.gethostname():
        return False
    try:
        return abs(psutil.Process(owner["pid"]).create_time() - owner["created"]) > 0.01
    except psutil.NoSuchProcess:
        return True


def fail_lost(study: optuna.Study, trial: FrozenTrial, reason: str) -> None:
    """Fail a RUNNING trial that some other (dead or stopped) process owned.

    The one use of Optuna's private API in sweeper: ``study.tell(number, state=FAIL)`` is
    public, but a user attribute can only be set through the ``Trial`` object of the process
    that asked for it, and that process is gone. So the reason goes through the storage, by
    the trial's storage id (Optuna 4 and 5 keep both names).
    """
    study._storage.set_trial_user_attr(trial._trial_id, FAIL_REASON, reason)
    study.tell(trial.number, state=TrialState.FAIL)


def owned_by(study: optuna.Study, pid: int) -> list[FrozenTrial]:
    """The RUNNING trials a given local process owns."""
    host = socket.gethostname()
    return [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if (t.user_attrs.get(OWNER) or {}).get("pid") == pid
        and t.user_attrs[OWNER].get("host") == host
    ]


def enqueue_retries(study: optuna.Study) -> list[int]:
    """Queue each lost trial's parameters once more, unless already queued or itself a retry.

    Returns the numbers of the trials queued for a retry.
    """
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    queued = []
    for trial in trials:
        if is_lost(trial) and trial.number not in retried and RETRY_OF not in trial.user_attrs:
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number})
            queued.append(trial.number)
    return queued


def retry_lost(study: optuna.Study, trial: FrozenTrial) -> None:
    """Optuna's callback for a trial it failed because its heartbeat stopped: queue its retry,
    once. (Optuna's RetryHeartbeatStaleTrialCallback would queue one too, but outside the
    bookkeeping every other lost trial goes through: its retries carry no ``retry_of``, and
    ``enqueue_retries`` would queue a second.)"""
    enqueue_retries(study)


def recover(study: optuna.Study) -> tuple[list[int], list[int]]:
    """On (re)opening a study: fail orphaned RUNNING trials and queue every lost trial's retry.

    Returns (numbers failed as "worker died", numbers queued for a retry).
    """
    orphans = [
        t
        for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if owner_is_gone(t)
    ]
    for trial in orphans:
        fail_lost(study, trial, WORKER_DIED)
    return [t.number for t in orphans], enqueue_retries(study)
