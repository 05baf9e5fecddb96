"""The backends: where trials run.

The backend contract (``base``) and the built-in backends: this process (``in_process``),
supervised worker processes on this machine (``processes``, with ``supervisor``, ``worker``
and the GPU and CPU plan in ``devices``), and a Dask cluster (``dask_cluster``, its slots in
``dask_slot`` and the live view from the study in ``study_watcher``).
"""
