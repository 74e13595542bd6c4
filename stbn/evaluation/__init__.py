"""Evaluation: the paper's protocol, its metrics, and the classical baselines scored by the same protocol.

| module | concern |
|---|---|
| :mod:`~stbn.evaluation.protocol` | test sequences with their fixed noise, one-pass denoising, per-frame rows |
| :mod:`~stbn.evaluation.metrics` | PSNR/SSIM as the paper's evaluation; aggregation frame -> sequence (-> ISO) |
| :mod:`~stbn.evaluation.baselines` | BM3D, OpenCV and scikit-image NLM, timed per frame |
"""
