"""Security cases: alerts grouped per tenant, rule and host, triaged through a workflow."""
