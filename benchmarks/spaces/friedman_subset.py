"""The search-efficiency benchmark's friedman task (benchmarks/spaces/tasks.py), as a space file."""

from benchmarks.spaces.tasks import task_space

SPACE = task_space("friedman")
