"""The space: what a sweep searches over and what it trains.

Parameter declarations with their conditions (``params``), the registries of optimizers,
learning-rate schedules and losses every space draws from (``optimizers``, ``schedules``,
``options``), ``Space`` and ``Training`` (``space``), the configurations a new sweep tries
first (``starting``), data and its loaders (``data``), KerasTuner hypermodels as spaces
(``hypermodel``) and finding space modules by name or path (``loader``).

It imports no other stage: a space can be declared, printed and validated without a study.
Keras loads only inside the functions that build a model's parts.
"""
