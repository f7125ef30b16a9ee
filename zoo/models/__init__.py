"""The architectures: each a ``zoo.VAE`` that adds only what differs from the base."""
