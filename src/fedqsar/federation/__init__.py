"""Federation on Flower: ClientApp, ServerApp, strategy, simulation and deployment helpers."""
