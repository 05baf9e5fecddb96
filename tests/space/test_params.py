import pytest

from sweeper import Categorical, Float, Int, SpaceError


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Float("lr", 0.1, 0.001), "low must not exceed high"),
        (lambda: Int("units", 64, 8), "low must not exceed high"),
        (lambda: Float("lr", 0.0, 0.1, log=True), "log-scale range must stay above 0"),
        (lambda: Float("lr", -1.0, 0.1, log=True), "log-scale range must stay above 0"),
        (lambda: Float("x", 0.0, float("inf")), "finite number"),
        (lambda: Float("x", 1e-3, 1.0, log=True, step=0.1), "cannot be combined"),
        (lambda: Int("units", 8, 64.5), "Int needs integer"),
        (lambda: Categorical("opt", ()), "choices is empty"),
        (lambda: Categorical("opt", ("a", "a")), "repeat a value"),
        (lambda: Categorical("opt", (object(),)), "must be str, int, float, bool or None"),
        (lambda: Float("not a name", 0, 1), "Python identifier"),
        (lambda: Float("x", 0, 1, when=["optimizer"]), "when= must be a dict"),
    ],
)
def test_invalid_declarations_raise_space_error(make, message):
    with pytest.raises(SpaceError, match=message):
        make()


def test_error_names_the_parameter_and_the_values():
    with pytest.raises(SpaceError) as info:
        Float("learning_rate", 0.1, 0.001)
    assert "'learning_rate'" in str(info.value)
    assert "low=0.1" in str(info.value) and "high=0.001" in str(info.value)


def test_condition_is_active_only_for_listed_parent_values():
    momentum = Float("momentum", 0.5, 0.99, when={"optimizer": ("momentum", "nesterov")})
    assert momentum.is_active({"optimizer": "nesterov"})
    assert not momentum.is_active({"optimizer": "adam"})
    assert not momentum.is_active({})  # the parent itself was inactive
    single = Float("weight_decay", 1e-6, 1e-2, log=True, when={"optimizer": "adamw"})
    assert single.when == {"optimizer": ("adamw",)}
    assert single.describe_when() == "optimizer = adamw"


def test_describe_range():
    assert Float("lr", 1e-4, 1e-1, log=True).describe_range() == "[0.0001, 0.1] log"
    assert Int("filters", 16, 48, step=16).describe_range() == "[16, 48] step 16"
    assert Categorical("act", ("relu", "tanh")).describe_range() == "{relu, tanh}"
