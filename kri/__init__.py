"""Key risk indicators: catalogue, monthly collection and reports (to come)."""
