"""fedqsar: federated multitask QSAR/ADMET modelling on Flower."""

__version__ = "0.1.0"
