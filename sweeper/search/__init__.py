"""The search: what chooses each trial's values.

The engine contract (``engine``) and its built-in engines, behind Optuna's sampler and
pruner interfaces: Optuna's samplers and pruners by name (``optuna_engine``, ``samplers``,
``pruners``) and KerasTuner's oracles (``kerastuner``). A new study's head start
(``head_start``) and the study's life: created or resumed, its engine attached, lost trials
recovered (``study``).
"""
