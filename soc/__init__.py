"""The service shell (settings, database, API, CLI, web) and the SOC domains (cases)."""
