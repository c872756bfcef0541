"""The README's parameter tables are generated from the nodes' parameter tables and
must be current (refresh: python -m pose_estimation_ros.tools.param_docs --write README.md)."""
from __future__ import annotations

from conftest import REPO
from pose_estimation_ros.core.params import NODE_PARAMETERS
from pose_estimation_ros.tools.param_docs import refresh


def test_readme_parameter_tables_are_current():
    text = (REPO / 'README.md').read_text()
    for node in NODE_PARAMETERS:
        assert f'<!-- params:{node} -->' in text, f'README has no table for {node}'
    assert refresh(text) == text, ('README parameter tables are stale: run python -m '
                                   'pose_estimation_ros.tools.param_docs --write README.md')
