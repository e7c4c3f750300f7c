"""Evaluation: routers behind one interface, cost settings, cost-quality metrics, reports."""
