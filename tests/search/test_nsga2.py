"""NSGA-II by name, its generation sized to the sweep's budget so that a short sweep evolves."""

import optuna

from sweeper.search.samplers import make_sampler, nsga2_population


def test_a_short_sweep_of_nsga2_evolves_past_its_first_generation():
    assert [nsga2_population(b) for b in (None, 16, 100, 400)] == [50, 8, 25, 50]
    sampler = make_sampler("nsga2", seed=0, budget=16)
    assert isinstance(sampler, optuna.samplers.NSGAIISampler)
    study = optuna.create_study(directions=["maximize", "minimize"], sampler=sampler)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        return x, x * x

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=16)
    # With Optuna's 50 a generation, all 16 trials would be the first, random one.
    generations = [t.system_attrs.get("NSGAIISampler:generation") for t in study.trials]
    assert generations == [0] * 8 + [1] * 8
