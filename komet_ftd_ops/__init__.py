"""komet-ftd-ops: run a flower wholesaler's Komet Sales <-> FTD integration."""

__version__ = "0.1.0"
