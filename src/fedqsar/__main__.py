"""``python -m fedqsar``: the same as the ``fedqsar`` command."""

from fedqsar.cli.main import app

if __name__ == "__main__":
    app()
