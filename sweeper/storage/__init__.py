"""The storage: where a study lives, and what sweeper writes on each of its trials.

Opening journal files and databases (``storages``), the trial record's schema
(``record``), damaged journals found and repaired (``journal``), trials lost to dead
processes failed and retried (``recovery``), and what a database needs of an ask/tell loop:
heartbeats and the budget's lock (``heartbeat``).
"""
