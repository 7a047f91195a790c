"""kokemus: customer experience management, from the promise to the action."""

__version__ = "0.1.0"
