"""Markdown tables of the nodes' parameters, from pose_estimation_ros.core.params.

``python -m pose_estimation_ros.tools.param_docs --write README.md`` refreshes the
tables between the ``<!-- params:NODE -->`` markers of the README; without ``--write``
it prints them. test/test_docs.py fails when the README is out of date.
"""
from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from pose_estimation_ros.core.params import NODE_PARAMETERS


def _value(value) -> str:
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list) and len(value) > 6:
        return '[' + ', '.join(map(str, value[:4])) + f', ... ({len(value)} values)]'
    return str(value).replace("'", '')


_ROS_TYPES = {bool: 'bool', int: 'integer', float: 'double', str: 'string'}


def table(node: str) -> str:
    rows = ['| name | type | default | range | live | description |',
            '|---|---|---|---|---|---|']
    for p in NODE_PARAMETERS[node]:
        if isinstance(p.default, list):
            kind = f'{_ROS_TYPES[type(p.default[0])]}[]'
        else:
            kind = _ROS_TYPES[type(p.default)]
        span = f'{p.range[0]:g} .. {p.range[1]:g}' if p.range else ''
        rows.append(f'| `{p.name}` | {kind} | `{_value(p.default)}` | {span} | '
                    f'{"" if p.read_only else "yes"} | {p.description} |')
    return '\n'.join(rows)


def refresh(text: str) -> str:
    """``text`` with every marked table replaced by the current one."""
    for node in NODE_PARAMETERS:
        pattern = re.compile(rf'(<!-- params:{node} -->\n).*?(<!-- /params -->)', re.S)
        text = pattern.sub(lambda m, n=node: m.group(1) + table(n) + '\n' + m.group(2), text)
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--write', type=Path, help='file whose marked tables to refresh')
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(refresh(args.write.read_text()))
    else:
        for node in NODE_PARAMETERS:
            print(f'### {node}\n\n{table(node)}\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
