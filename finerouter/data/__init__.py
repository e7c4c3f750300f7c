"""The routing table: schema, validation, splits, importers and statistics."""

from finerouter.data.table import RawTable, RoutingTable

__all__ = ["RawTable", "RoutingTable"]
