"""The search-efficiency benchmark's fashion-raw task (benchmarks/spaces/tasks.py), a space file."""

from benchmarks.spaces.tasks import task_space

SPACE = task_space("fashion-raw")
