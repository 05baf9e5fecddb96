import hashlib
import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DIGITS_SOURCE = (Path(__file__).parents[1] / "search_spaces" / "digits_space.py").read_text()


@pytest.fixture(scope="session")
def digits_space():
    from sweeper import load_space

    return load_space("digits_space")


@pytest.fixture(scope="session")
def digits_data(digits_space):
    return digits_space.load_data()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# A configuration of digits_space that diverges on every backend: SGD with a learning rate
# that overflows float32 weights in one step (1e6 is enough for TensorFlow, not for JAX).
NAN_PARAMS = {
    "optimizer": "sgd", "learning_rate": 1e30, "lr_schedule": "constant", "batch_size": 16,
    "clipping": "none", "dropout": 0.0, "hidden_layers": 2, "units": 64, "activation": "relu",
}
# A sane configuration, for tests that vary one shared hyperparameter at a time.
BASE_PARAMS = {
    "optimizer": "adam", "learning_rate": 1e-2, "lr_schedule": "constant", "batch_size": 32,
    "clipping": "none", "dropout": 0.1, "hidden_layers": 1, "units": 32, "activation": "relu",
}
