"""The trials: the one loop that asks, trains and tells.

The trial loop and its gates (``loop``), the stop flag that signals and deadlines set
(``stop``), the failure streak that stops a sweep whose every trial fails (``streak``), and
the observer protocol a live view implements (``observer``). It draws nothing itself.
"""
