"""scikit-learn's estimator checks, and a user's script run as a subprocess.

Every check that applies to a classifier runs on ``TuneSearchCV`` (the two estimators
share their ``fit``) with the default engine (threads of this process, ``n_jobs=None``)
and none is expected to fail. (For a regressor, scikit-learn's own
``GridSearchCV(Ridge())`` fails ``check_supervised_y_2d``, as ours does: ``BaseSearchCV``
does not copy its estimator's multi-output tag.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from sklearn.linear_model import SGDClassifier
from sklearn.utils.estimator_checks import parametrize_with_checks

from tunefleet.sklearn import TuneSearchCV


@parametrize_with_checks(
    [
        TuneSearchCV(
            SGDClassifier(max_iter=5, tol=None, random_state=0),
            {"alpha": [1e-4, 1e-3]},
            n_trials=1,
            cv=2,
        )
    ]
)
def test_sklearn_compatible(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_script_without_main_guard(tmp_path) -> None:
    """The default local engine (worker processes) from a plain script, as users run it."""
    script = tmp_path / "search.py"
    script.write_text(
        textwrap.dedent(
            """
            from sklearn.datasets import load_iris
            from sklearn.linear_model import SGDClassifier
            from tunefleet.sklearn import TuneSearchCV

            X, y = load_iris(return_X_y=True)
            search = TuneSearchCV(
                SGDClassifier(random_state=0),
                {"alpha": [1e-4, 1e-3, 10.0], "penalty": ["l2", "l1"]},
                n_trials=4, cv=2, n_jobs=2, early_stopping=True, max_iters=3, random_state=0,
            )
            search.fit(X, y)
            print("BEST", search.best_params_["alpha"], len(search.cv_results_["params"]))
            """
        )
    )
    out = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr[-2000:]
    best = [line for line in out.stdout.splitlines() if line.startswith("BEST")]
    assert best and best[0].endswith(" 4") and float(best[0].split()[1]) < 10
