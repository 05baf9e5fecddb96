"""``mnist_space`` (its model, ranges and budget) on a seeded subset of MNIST: ``BENCH_TRAIN``
training and ``BENCH_VAL`` validation images from the environment (3,000 and 1,000 unless
set), and the whole official test set (benchmarks/spaces/tasks.py). The accuracy-cost
benchmark's space."""

import dataclasses

from benchmarks.spaces.tasks import load_mnist
from search_spaces.mnist_space import SPACE as MNIST_SPACE

SPACE = dataclasses.replace(MNIST_SPACE, load_data=load_mnist, name="mnist_space_subset")
