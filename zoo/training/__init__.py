"""What ``fit`` runs with: callbacks, JAX's scanned steps, PyTorch's traced steps, data parallelism."""
