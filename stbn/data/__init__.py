"""Datasets and data handling: video/frame/raw I/O, noise models and the noise-level estimate, the dataset catalog,
embedded clips and the video corpus, training clips."""
