"""C2C matcher: partner suggestions between European and Mexican cluster organisations."""

__version__ = "0.1.0"
