"""CMDB, providers' operational events correlated over the dependency graph, and status."""
