"""Compile the decoder's numba steps into this machine's cache now (scripts/setup.sh runs
it after the build), so that no node compiles them at its first start::

    python -m pose_estimation_ros.tools.warm_decoder

Compiles (or, when cached, loads) every compiled function for the argument types the
decoder passes (:func:`~pose_estimation_ros.core.openpose.load_compiled_steps`: real-sized
maps of people, greedy and hungarian matching, strided and contiguous heatmaps), checks
the compiled steps against the numpy ones on those maps and prints how long it took.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from pose_estimation_ros.core import openpose_jit
from pose_estimation_ros.core.openpose import (MATCHING_METHODS, DecoderParams,
                                               OpenPoseDecoder, compiled_steps_cached,
                                               load_compiled_steps, split_network_outputs)
from pose_estimation_ros.core.synthetic_pose import crowd


def check_against_numpy(count: int = 8) -> int:
    """The compiled and numpy steps find the same people on a crowd of ``count``;
    returns how many (RuntimeError otherwise)."""
    heat, pafs, _ = split_network_outputs(crowd(count)[1][None], layout='NHWC',
                                          heatmap_channels=(0, 18))
    for matching in MATCHING_METHODS:
        params = DecoderParams(matching=matching)
        want = OpenPoseDecoder(params, 'numpy').decode(heat, pafs)
        got = OpenPoseDecoder(params, 'compiled').decode(heat, pafs)
        same = len(got) == len(want) and all(
            g.part_ids.tolist() == w.part_ids.tolist() and
            np.allclose(g.keypoints, w.keypoints, rtol=0, atol=1e-6)
            for g, w in zip(got, want))
        if not same:
            raise RuntimeError(f'the compiled decoder ({matching}) found other people than '
                               f'the numpy steps: {len(got)} against {len(want)}')
    return len(want)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='python -m pose_estimation_ros.tools.warm_decoder',
        description="Compile the decoder's numba steps into this machine's cache (once "
                    "per machine, numba version and source).")
    parser.parse_args(argv)
    if not openpose_jit.AVAILABLE:
        print('decoder: numba is not installed, the decoder runs its numpy steps (nothing '
              'to compile)')
        return 0
    if openpose_jit.CACHE_NOTE:
        print(f'decoder: warning: {openpose_jit.CACHE_NOTE}', file=sys.stderr)
    cached = compiled_steps_cached()
    if not cached:
        print('decoder: compiling the numba steps for this CPU (once per machine; about '
              'half a minute)', flush=True)
    result = load_compiled_steps()
    people = check_against_numpy()
    what = 'compiled and cached in' if result.compiled else 'loaded from'
    print(f'decoder: {what} {result.cache_dir} in {result.seconds:.1f} s; same {people} '
          f'people as the numpy steps')
    return 0


if __name__ == '__main__':
    sys.exit(main())
