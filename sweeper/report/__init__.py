"""The report: what a sweep shows people and scripts.

The ranked leaderboard and ``leaderboard.csv`` (``leaderboard``), ``leaderboard.html``
(``page``) with its plots (``plots``), the live view in a terminal or a notebook
(``live``), and the sweep as Python sees it (``view``: what ``run`` and ``load`` return).
"""
