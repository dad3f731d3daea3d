"""Conformance suites that every executor (and later searcher, scheduler, store) must pass.

They are shipped in the package, like Optuna's ``optuna.testing`` and scikit-learn's
``check_estimator``, so that third-party components can be tested against the same rules.
Importing a suite needs pytest.
"""
