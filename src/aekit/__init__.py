"""aekit: autoencoders to learn, research and use. See README.md."""

__version__ = "0.1.0"
