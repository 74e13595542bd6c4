"""Datasets and data handling: video/frame/raw I/O, noise models, the dataset catalog, embedded clips."""
