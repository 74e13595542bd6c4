"""Training: the optimisation step, the resumable run, self-supervised fitting with its wall-time budget,
flow distillation.

| module | concern |
|---|---|
| :mod:`~stbn.training.trainer` | :class:`Trainer`: one optimisation step (loss, guard, clipping, Adam, schedule) |
| :mod:`~stbn.training.run` | :func:`train`: the resumable run of ``stbn train`` (data, validation, checkpoints, log) |
| :mod:`~stbn.training.fit` | :func:`fit`: fitting a model on the video it is to denoise (``stbn denoise --fit-*``) |
| :mod:`~stbn.training.budget` | the wall-time budget of ``denoise --fit-minutes`` (timing pass, ensemble, margins) |
| :mod:`~stbn.training.distill` | flow refinement by distillation (frozen teacher, student parameter group) |
| :mod:`~stbn.training.rng` | seeds and RNG states (exact resume) |
"""
