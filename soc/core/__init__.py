"""The ground floor: settings, database, errors, audit, principal, base schemas and the typed
request dependencies. It knows no domain."""
