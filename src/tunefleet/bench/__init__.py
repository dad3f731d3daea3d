"""Benchmark harness: generated data, reference workloads and cross-engine comparisons.

Nothing here is imported by ``import tunefleet``; the workloads import their model library
(LightGBM, XGBoost, scikit-learn, PyTorch) only when a trial runs.
"""
