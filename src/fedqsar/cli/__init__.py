"""Command-line interface: one module per verb, registered in ``fedqsar.cli.main``."""
