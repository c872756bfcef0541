"""tools/benchmark end to end on the real model, a few frames: every measurement runs and
lands in the JSON, the Markdown table and the plot, with the target ratios. (It measures
speed; this only checks that it measures, no timing is asserted.)"""
from __future__ import annotations

import json

from conftest import require_model

from pose_estimation_ros.tools import benchmark


def test_benchmark_writes_json_table_plot_and_ratios(tmp_path, capsys, monkeypatch):
    model = require_model()
    calls = []

    def in_process_graph(bench, size):
        # A stand-in for the lead's graph harness: the in-process pipeline's real fps.
        calls.append(size)
        run = benchmark.stages(bench, size)
        return {'fps': run['fps'], 'latency': {**run['decode'], 'p95_ms': run['decode']['p90_ms']}}

    monkeypatch.setattr(benchmark, 'GRAPH_BENCHMARKS', {})
    benchmark.graph_benchmark('single_process')(in_process_graph)
    output = tmp_path / 'bench.json'
    assert benchmark.main(['--frames', '2', '--sizes', '432x368', '--model', str(model),
                           '--people', '1', '5', '20', '--coco', 'mini', '--soak', '6',
                           '--no-messages', '--output', str(output)]) == 0
    results = json.loads(output.read_text())
    assert calls == [(432, 368)]
    assert {'date', 'cpu', 'cpus', 'versions'} <= set(results['machine'])
    assert '--soak 6' in results['command']
    raw = results['raw_inference']['432x368']
    assert raw['n'] == 2 and raw['median_ms'] > 0 and raw['backend'] == 'onnxruntime'
    stages = results['stages']['432x368']
    assert {'encode', 'infer', 'decode'} <= set(stages)
    assert stages['encode']['p90_ms'] >= stages['encode']['median_ms'] > 0
    graph = results['graphs']['432x368']['single_process']
    assert graph['throughput_ratio'] == round(graph['fps'] / raw['fps'], 3)
    coco = results['decoder_coco']['432x368']['mini']
    assert coco['images'] == 4 and {'numpy', 'compiled'} <= set(coco)
    assert coco['compiled']['n'] == 4 * 5  # every image, five rounds
    people = results['decoder_people']
    assert [people[c]['people_found'] for c in ('1', '5', '20')] == [1, 5, 20]
    soak = results['soak']['432x368']
    assert soak['frames'] == 6 and soak['rss_mib'][-1][0] == 6
    targets = {r['target'] for r in results['targets']}
    assert {'encode_ms', 'decode_coco_median_ms', 'decode_coco_p90_ms', 'decode_growth',
            'single_process_throughput_ratio', 'p95_over_median_latency',
            'rss_growth'} <= targets
    table = output.with_suffix('.md').read_text()
    assert 'raw inference (the limit)' in table and '| mini | 4 |' in table
    assert output.with_suffix('.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    printed = capsys.readouterr().out
    assert 'decode median per image, COCO mini, 432x368' in printed
