import pytest

from sweeper import SpaceError, UsageError, available_spaces, load_space

GOOD_SPACE = '''"""A test space."""
from sweeper import Space, Training, Int

def build_model(params, data):
    raise NotImplementedError

SPACE = Space(params=[Int("units", 4, 8)], training=Training(TRAINING_ARGS),
              build_model=build_model, load_data=lambda data_dir: None)
'''


def write_space(tmp_path, name="my_space", training_args=""):
    path = tmp_path / f"{name}.py"
    path.write_text(GOOD_SPACE.replace("TRAINING_ARGS", training_args))
    return path


def test_shipped_spaces_are_listed_and_load():
    spaces = available_spaces()
    assert {"mnist_space", "digits_space"} <= set(spaces)
    assert "MNIST" in spaces["mnist_space"]
    space = load_space("mnist_space")
    assert space.name == "mnist_space"
    assert {"filters", "units", "optimizer", "dropout"} <= {p.name for p in space.all_params}


def test_space_loads_from_a_path_and_takes_the_file_name(tmp_path):
    space = load_space(str(write_space(tmp_path)))
    assert space.name == "my_space"
    assert space.description == "A test space."


def test_unknown_space_is_a_usage_error_listing_the_choices():
    with pytest.raises(UsageError, match="unknown search space 'nope'; choose from .*digits_space"):
        load_space("nope")


def test_missing_file_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_space(str(tmp_path / "gone.py"))


@pytest.mark.parametrize(
    "source, message",
    [
        ("SPACE = Space(\n", "syntax error at line"),
        ("import no_such_module_xyz\n", r"failed to import \(ModuleNotFoundError"),
        ("X = 1\n", "defines no SPACE"),
    ],
)
def test_broken_modules_give_one_clear_error(tmp_path, source, message):
    path = tmp_path / "broken.py"
    path.write_text("from sweeper import Space\n" + source)
    with pytest.raises(SpaceError, match=message) as info:
        load_space(str(path))
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_invalid_range_in_a_module_names_the_module(tmp_path):
    path = write_space(tmp_path, training_args="learning_rate=(0.1, 0.001)")
    with pytest.raises(SpaceError, match=r"my_space\.py: parameter 'learning_rate'"):
        load_space(str(path))
