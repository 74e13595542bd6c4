"""The paper's tables and figures, rebuilt from this run's outputs beside the paper's own numbers."""
