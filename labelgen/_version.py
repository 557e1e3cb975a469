"""labelgen's version (one place: the package, reports and journals read it here)."""
__version__ = "0.1.0"
