"""The pure ``review()`` path in-process (no TLS, no HTTP): reviews/s and patch size per body.

Run by bench/run.py in the tree of the build being measured (the compiled copy or the source), so
the figures are those of that build; prints one JSON list.

    python -m bench.micro [SECONDS]
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import orjson

from bench.reviews import bodies
from webhook.core.admission import review
from webhook.core.mesh import MeshHint
from webhook.core.review import decode_patch
from webhook.core.settings import Settings


def measure(seconds: float) -> list[dict[str, Any]]:
    settings = Settings(default_hint=MeshHint.parse("istio", "1.9"))
    out = []
    for name, body in bodies().items():
        raw = orjson.dumps(body)
        for _ in range(50):  # warm caches before timing
            review(orjson.loads(raw), settings)
        count = 0
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            review(orjson.loads(raw), settings)
            count += 1
        elapsed = time.perf_counter() - started
        patch = decode_patch(review(orjson.loads(raw), settings).response)
        out.append(
            {
                "body": name,
                "body_bytes": len(raw),
                "reviews_per_s": round(count / elapsed),
                "us_per_review": round(elapsed / count * 1e6, 1),
                "patch_ops": len(patch),
                "patch_bytes": len(orjson.dumps(patch)),
            }
        )
    return out


if __name__ == "__main__":
    print(json.dumps(measure(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0)))
