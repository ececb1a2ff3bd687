"""pushlift: real-time marketing messages, measured with real statistics."""

__version__ = "0.1.0"
