"""COCO keypoint AP of the whole pipeline: image encoder -> network -> OpenPose decoder.

Usage::

    python -m pose_estimation_ros.tools.evaluate_coco \\
        --images ../shared/data/coco_val_mini \\
        --annotations ../shared/data/coco_val_mini/test_coco.json \\
        [--params config/mobilenet_thin.yaml] [--model models/mobilenet_thin.onnx] \\
        [--backend onnxruntime] [--width 432 --height 368] \\
        [--param threshold_heatmap=0.05 ...] \\
        [--keep-aspect-ratio true|false] [--cache /tmp/maps] [--output results.json]

Without ``--params``: ``--model``'s shipped file, else the default model's
(human-pose-estimation-0001 when installed, else mobilenet_thin; see
:mod:`pose_estimation_ros.core.models`); without
``--model`` the parameters file's model (a bare name is looked up in ``models/``). The
backend defaults to ONNX Runtime for ``.onnx`` files and OpenVINO for IR ``.xml`` files.

Runs every image of the annotation file (images without people count too: they catch
false positives) through :class:`~pose_estimation_ros.core.pipeline.Pipeline`, configured
like the nodes: the node defaults, or ``--params`` (a ROS 2 parameters file), then the
command-line overrides (``--param`` sets decoder parameters, YAML values). Prints
pycocotools' keypoint AP/AP50/AR (COCO-17 keypoints from the 18 OpenPose parts, neck
dropped; score = person score) and the decode time (median/p90, measured after all
inference and one untimed decode: the steady state of a running node), and writes the
COCO-format results. ``--cache DIR`` keeps the network outputs for re-runs.
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from pose_estimation_ros.core.models import default_model, params_file_for, resolve_model_path
from pose_estimation_ros.core.coco import (STAT_NAMES, coco17_mapping, evaluate_keypoints,
                                           people_to_coco)
from pose_estimation_ros.core.params import (DECODER_NODE, DECODER_PARAMETERS, ENCODER_NODE,
                                             INFERENCE_NODE, NODE_PARAMETERS, defaults,
                                             load_parameters_file)
from pose_estimation_ros.core.pipeline import Pipeline


@dataclass
class Evaluation:
    stats: dict[str, float]
    results: list[dict]
    decode_ms: np.ndarray
    num_images: int


REPO = Path(__file__).resolve().parents[2]
MODELS_DIR = REPO / 'models'


def encoder_input_shape(encoder: Mapping[str, Any]) -> list[int]:
    """The encoder's tensor shape (batch 1) from its parameter values."""
    height, width = int(encoder['network_image_height']), int(encoder['network_image_width'])
    return [1, 3, height, width] if encoder['tensor_layout'] == 'nchw' else [1, height, width, 3]


def make_pipeline(model: str | Path | None = None, params_file: str | Path | None = None, *,
                  width: int | None = None, height: int | None = None,
                  keep_aspect_ratio: bool | None = None, backend: str | None = None,
                  decoder: Mapping[str, Any] | None = None) -> Pipeline:
    """A CPU pipeline from the node defaults or a parameters file, with model, backend
    (default: ONNX Runtime for ONNX, OpenVINO for IR), encoder size/letterbox and
    decoder parameter overrides; the model input is shaped like the encoder's tensor."""
    parameters = (load_parameters_file(params_file) if params_file else
                  {node: defaults(table) for node, table in NODE_PARAMETERS.items()})
    encoder = {k: v for k, v in (('network_image_width', width),
                                 ('network_image_height', height),
                                 ('keep_aspect_ratio', keep_aspect_ratio)) if v is not None}
    model = resolve_model_path(str(model or parameters[INFERENCE_NODE]['model_file_path']
                                   or MODELS_DIR / 'mobilenet_thin.onnx'), MODELS_DIR)
    if backend is None:
        backend = 'openvino' if model.endswith('.xml') else 'onnxruntime'
    shape = encoder_input_shape({**parameters[ENCODER_NODE], **encoder})
    return Pipeline(parameters, {
        ENCODER_NODE: encoder,
        INFERENCE_NODE: {'backend': backend, 'model_file_path': model, 'input_shape': shape},
        DECODER_NODE: dict(decoder or {})})


def infer_cached(pipeline: Pipeline, image: np.ndarray, cache: str | Path | None,
                 key: str):
    """``pipeline.infer`` of a BGR image, its outputs kept in folder ``cache`` (if given)
    under ``key`` plus a tag of the model file and encoder settings, and read back from
    there on later runs."""
    if not cache:
        return pipeline.infer(image, 'bgr8')
    model = Path(pipeline.values[INFERENCE_NODE]['model_file_path'])
    tag = hashlib.sha1(f'{model.resolve()}:{model.stat().st_size}:'
                       f'{pipeline.encoder.config}'.encode()).hexdigest()
    cached = Path(cache) / f'{tag[:16]}_{key}.npz'
    if cached.is_file():
        with np.load(cached) as z:
            outputs = {str(n): z[f'a{i}'] for i, n in enumerate(z['names'])}
        return outputs, pipeline.encoder.encode(image, 'bgr8')[1]
    outputs, geometry = pipeline.infer(image, 'bgr8')
    cached.parent.mkdir(parents=True, exist_ok=True)
    names = list(outputs)
    np.savez(cached, names=np.array(names), **{f'a{i}': outputs[n] for i, n in enumerate(names)})
    return outputs, geometry


def parameter_overrides(parser: argparse.ArgumentParser, items) -> dict:
    """``--param NAME=VALUE`` items -> {decoder parameter: YAML value}; a parser error
    for an unknown name."""
    import yaml

    names = [p.name for p in DECODER_PARAMETERS]
    overrides = {}
    for item in items:
        name, sep, text = item.partition('=')
        if not sep or name not in names:
            parser.error(f'--param {item!r}: expected NAME=VALUE with NAME one of {names}')
        overrides[name] = yaml.safe_load(text)
    return overrides


def evaluate(images: str | Path, annotations: str | Path, pipeline: Pipeline, *,
             cache: str | Path | None = None) -> Evaluation:
    """Run ``pipeline`` on every image of a COCO keypoint annotation file."""
    import cv2
    from pycocotools.coco import COCO

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(annotations))
    mapping = coco17_mapping(pipeline.decoder.params.labels)
    if mapping is None:
        raise ValueError('the decoder labels do not name all 17 COCO keypoints: '
                         f'{list(pipeline.decoder.params.labels)}')
    image_ids = sorted(gt.getImgIds())
    maps = []
    for image_id in image_ids:
        path = Path(images) / gt.loadImgs(image_id)[0]['file_name']
        image = cv2.imread(str(path))
        if image is None:
            raise RuntimeError(f'cannot read image {path}')
        outputs, geometry = infer_cached(pipeline, image, cache, str(image_id))
        maps.append((image_id, outputs, geometry))
    pipeline.inference.close()
    # Decode after all inference (its worker threads would compete for the cores) and
    # after one untimed decode (first-call costs).
    results, times = [], []
    for k, (image_id, outputs, geometry) in enumerate(maps[:1] + maps):
        start = time.perf_counter()
        people = pipeline.decode(outputs, geometry)
        if k:
            times.append(time.perf_counter() - start)
            results += people_to_coco(people, image_id, mapping=mapping)
    stats = evaluate_keypoints(gt, results, image_ids=image_ids)
    return Evaluation(stats, results, np.asarray(times) * 1e3, len(image_ids))


def _bool(text: str) -> bool:
    if text.lower() in ('1', 'true', 'yes', 'on'):
        return True
    if text.lower() in ('0', 'false', 'no', 'off'):
        return False
    raise argparse.ArgumentTypeError(f'expected true or false, got {text!r}')


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--images', required=True, help='folder of the images')
    parser.add_argument('--annotations', required=True, help='COCO keypoint annotation file')
    parser.add_argument('--model', help='model file (default: the parameters file\'s)')
    parser.add_argument('--backend', choices=('onnxruntime', 'openvino', 'tensorrt'),
                        help='default: onnxruntime for .onnx, openvino for .xml')
    parser.add_argument('--width', type=int, help='network input width (default: params)')
    parser.add_argument('--height', type=int, help='network input height (default: params)')
    parser.add_argument('--params', help='ROS 2 parameters YAML file (default: the default '
                                         'model\'s, see README "Models")')
    parser.add_argument('--param', action='append', default=[], metavar='NAME=VALUE',
                        help='decoder parameter override (repeatable)')
    parser.add_argument('--keep-aspect-ratio', type=_bool, default=None,
                        help='letterbox (true) or stretch (false); default: params')
    parser.add_argument('--cache', help='folder to keep network outputs in')
    parser.add_argument('--output', help='COCO results JSON to write')
    args = parser.parse_args(argv)

    overrides = parameter_overrides(parser, args.param)
    if args.params is None and args.model:
        args.params = params_file_for(args.model, REPO / 'config')
    elif args.params is None:
        chosen = default_model(REPO / 'config', MODELS_DIR)
        print(chosen.reason, file=sys.stderr)
        args.params = chosen.params_file
    try:
        pipeline = make_pipeline(args.model, args.params, width=args.width,
                                 height=args.height, keep_aspect_ratio=args.keep_aspect_ratio,
                                 backend=args.backend, decoder=overrides)
    except (TypeError, ValueError, RuntimeError) as e:
        parser.error(str(e))
    run = evaluate(args.images, args.annotations, pipeline, cache=args.cache)
    s, cfg = run.stats, pipeline.encoder.config
    print(f'{pipeline.inference.reason}')
    print(f'{run.num_images} images, {cfg.network_image_width}x{cfg.network_image_height} '
          f'{"letterbox" if cfg.keep_aspect_ratio else "stretch"}, '
          f'matching {pipeline.decoder.params.matching}')
    print(' '.join(f'{name} {s[name]:.3f}' for name in STAT_NAMES))
    t = run.decode_ms
    print(f'decode ms: median {np.median(t):.3f}  p90 {np.percentile(t, 90):.3f}  '
          f'max {t.max():.3f}')
    if args.output:
        Path(args.output).write_text(json.dumps(run.results))
        print(f'wrote {len(run.results)} results to {args.output}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
