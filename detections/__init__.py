"""Detections: Sigma rules loaded with pySigma and evaluated on events."""
