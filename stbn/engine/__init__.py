"""The inference engine: one entry, :func:`denoise`, for every consumer (``stbn evaluate``, ``stbn denoise``,
validation during training, the fitting budget's timing pass).

Whole clip, streaming (spilling to disk or recomputing), tiles, the time-reversal and the shift ensembles
and flow re-estimation are views and runs of one schedule over one stored clip:

| module | concern |
|---|---|
| :mod:`~stbn.engine.schedule` | :func:`denoise`: which runs over which views, how their estimates combine |
| :mod:`~stbn.engine.clip` | the stored clip and its views (crop, time order, flows) |
| :mod:`~stbn.engine.flows` | flows estimated pair by pair, and re-estimated on a first pass (also for training) |
| :mod:`~stbn.engine.runs` | one run over one view: whole clip or streamed (STBN's recurrence, UDVD's window) |
| :mod:`~stbn.engine.tiles` | the tile grid and a run cut into tiles |
| :mod:`~stbn.engine.stores` | tensor stores in memory or on disk |
| :mod:`~stbn.engine.speed` | precision (autocast), memory format and ``auto``, shared with training |
"""

from stbn.engine.schedule import denoise

__all__ = ["denoise"]
