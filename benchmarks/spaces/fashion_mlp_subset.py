"""The search-efficiency benchmark's fashion-mlp task (benchmarks/spaces/tasks.py), a space file."""

from benchmarks.spaces.tasks import task_space

SPACE = task_space("fashion-mlp")
