"""Which worker gets which GPU and which cores: pure logic, tested without a GPU."""

import pytest

from sweeper.backends.devices import WorkerSlot, detect_gpus, plan_workers
from sweeper.cli.values import parse_gpus
from sweeper.errors import SettingError, UsageError


def test_cpu_only_workers_get_disjoint_core_sets():
    slots = plan_workers(3, gpus=[], cpus=range(8))
    assert [s.cpus for s in slots] == [(0, 1, 2), (3, 4, 5), (6, 7)]
    assert [s.gpu for s in slots] == [None, None, None]
    assert [s.threads for s in slots] == [3, 3, 2]
    env = slots[2].environment()
    assert env["TF_NUM_INTRAOP_THREADS"] == env["OMP_NUM_THREADS"] == "2"
    assert env["CUDA_VISIBLE_DEVICES"] == ""  # a CPU worker must not grab a GPU
    assert "TF_FORCE_GPU_ALLOW_GROWTH" not in env
    assert slots[0].label == "cpu 0-2"


def test_more_workers_than_cores_share_cores_one_thread_each():
    slots = plan_workers(3, gpus=[], cpus=[4, 5])
    assert [s.cpus for s in slots] == [(4,), (5,), (4,)]
    assert slots[0].environment()["TF_NUM_INTEROP_THREADS"] == "1"


def test_auto_without_gpus_is_one_single_threaded_worker_per_core():
    slots = plan_workers("auto", gpus=[], cpus=range(16))
    assert len(slots) == 16 and all(s.threads == 1 for s in slots)
    assert len(plan_workers("auto", gpus=[], cpus=[0])) == 1


def test_gpu_workers_spread_round_robin_and_share_cores():
    slots = plan_workers(4, gpus=["0", "1"], cpus=range(8))
    assert [s.gpu for s in slots] == ["0", "1", "0", "1"]
    assert [s.threads for s in slots] == [2, 2, 2, 2]
    env = slots[1].environment()
    assert env["CUDA_VISIBLE_DEVICES"] == "1"
    assert env["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    assert env["XLA_PYTHON_CLIENT_PREALLOCATE"] == "false"  # JAX shares the GPU too
    assert slots[1].label == "gpu 1"


def test_trials_per_gpu_sets_how_many_workers_share_one_gpu():
    slots = plan_workers("auto", gpus=["2", "3"], trials_per_gpu=3, cpus=range(12))
    assert [s.gpu for s in slots] == ["2", "3", "2", "3", "2", "3"]
    assert plan_workers("auto", gpus=["0"], cpus=range(4))[0].gpu == "0"
    assert len(plan_workers(3, gpus=["0", "1"], trials_per_gpu=2, cpus=range(4))) == 3


def test_too_many_workers_for_the_gpus_is_a_usage_error():
    # The library names the settings; the CLI words the same error with its flags
    # (tests/test_cli_errors.py: "raise --trials-per-gpu to 3").
    with pytest.raises(SettingError, match="raise trials_per_gpu to 3 or lower workers"):
        plan_workers(5, gpus=["0", "1"], trials_per_gpu=2, cpus=range(8))
    with pytest.raises(UsageError, match="needs GPUs"):
        plan_workers(2, gpus=[], trials_per_gpu=2, cpus=range(8))


def test_gpu_ids_parse_and_bad_ones_say_what_is_expected():
    assert parse_gpus("0,1") == ["0", "1"]
    assert parse_gpus(" 3 ") == ["3"]
    assert parse_gpus("none") == []
    for bad in ("0,0", "a,b", "1;2"):
        with pytest.raises(UsageError, match="expected distinct GPU numbers"):
            parse_gpus(bad)


def test_gpus_are_detected_from_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,5")
    assert detect_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    assert detect_gpus() == []
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert detect_gpus() == []


def test_slot_labels():
    assert WorkerSlot(0, None, (0, 2, 5)).label == "cpu 0,2,5"
    assert WorkerSlot(0, None, (3,)).label == "cpu 3"


def test_a_gpu_this_machine_does_not_have_is_refused_saying_what_said_so(monkeypatch):
    from sweeper.backends.devices import plan_slots
    from sweeper.config import Placement

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1")
    assert [s.gpu for s in plan_slots(Placement(workers=2, gpus=("1", "0")))] == ["1", "0"]
    with pytest.raises(SettingError, match=r"names GPU 7, but this machine has GPUs 0, 1 "):
        plan_slots(Placement(workers=1, gpus=("7",)))
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("PATH", "")  # no nvidia-smi either: a machine without a GPU
    with pytest.raises(SettingError) as caught:
        plan_slots(Placement(workers=1, gpus=("7",)))
    assert "has no GPU (CUDA_VISIBLE_DEVICES is not set and nvidia-smi is not installed)" in str(
        caught.value
    )
    assert [s.gpu for s in plan_slots(Placement(workers=2, gpus=()))] == [None, None]


def test_run_with_an_absent_gpu_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    from sweeper.cli import main

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.setenv("PATH", "")
    results = tmp_path / "results"
    assert main(["run", "digits_space", "--gpus", "7", "--results-dir", str(results)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sweeper: error: --gpus names GPU 7, but this machine has no GPU")
    assert err.count("\n") == 0 and not results.exists()
