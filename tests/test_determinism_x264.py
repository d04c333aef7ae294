"""libx264's bytes must not depend on what the heap held before (docs/determinism.md).

x264's AVX-512 macroblock-tree propagation read past the end of macroblock rows
whose width is not a multiple of 8 macroblocks and added uninitialised heap
memory into its rate control, so the same input gave different bytes from run
to run. glibc's ``MALLOC_PERTURB_`` fills every new allocation with a chosen
byte, which turns that garbage into something a test can set: the old code gave
different bytes for different fills on an AVX-512 CPU. Other C libraries ignore
the variable, and CPUs without AVX-512 never ran the faulty code.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from .conftest import make_clip

#: Widths of 6, 11 and 20 macroblocks (not multiples of 8): each varied with the heap's contents.
SIZES = ((96, 64), (176, 144), (320, 96))

_ENCODE = """
import hashlib, json, sys
import neurocodec
from neurocodec.bitstream import NcvReader
out = []
for clip, ncv in json.loads(sys.argv[1]):
    neurocodec.encode(clip, ncv, strategy="x264", segment_frames=4, measure_quality=False)
    with NcvReader(ncv) as reader:
        out.append([hashlib.sha256(reader.payload(s)).hexdigest() for s in reader.segments()])
print(json.dumps(out))
"""


def _encode_in_fresh_process(jobs, perturb):
    env = os.environ | {"MALLOC_PERTURB_": str(perturb), "SVT_LOG": "1"}
    res = subprocess.run([sys.executable, "-c", _ENCODE, json.dumps(jobs)], capture_output=True, text=True,
                         env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_x264_bytes_do_not_depend_on_uninitialised_memory(tmp_path):
    clips = [str(make_clip(tmp_path / f"{w}x{h}.y4m", w, h, 8)) for w, h in SIZES]
    runs = {}
    # 1 and 255: glibc fills new allocations with 0xfe and 0x00.
    for perturb in (1, 255):
        jobs = [[clip, str(tmp_path / f"{perturb}_{i}.ncv")] for i, clip in enumerate(clips)]
        runs[perturb] = _encode_in_fresh_process(jobs, perturb)
    assert runs[1] == runs[255]
    # And the same bytes in this process, whose heap holds whatever the test run left there.
    import neurocodec
    from neurocodec.bitstream import NcvReader

    for i, (clip, want) in enumerate(zip(clips, runs[1])):
        ncv = tmp_path / f"here_{i}.ncv"
        neurocodec.encode(clip, ncv, strategy="x264", segment_frames=4, measure_quality=False)
        with NcvReader(ncv) as reader:
            assert [hashlib.sha256(reader.payload(s)).hexdigest() for s in reader.segments()] == want
