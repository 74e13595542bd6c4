"""One module per `stbn` verb (see stbn/cli.py)."""
