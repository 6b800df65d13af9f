#!/usr/bin/env python3
"""Generates bucketing_golden.json, the golden vectors for app/src/domain/bucketing.rs.

Run once, by hand, and commit the output; the Rust tests only read it:

    pip install mmh3==5.3.1
    python3 app/src/domain/testdata/gen_golden.py > app/src/domain/testdata/bucketing_golden.json

The hash comes from the `mmh3` package (C bindings to Austin Appleby's MurmurHash3_x86_32), not from
Rollgate's Rust code, so that a bug there cannot hide in its own expected values. The in/out and variant
rules are written here in Unleash's formulation (normalized value = h % n + 1) and cross-checked against
the bucket formula, which is how the Rust side is written.
"""

import json
import platform
from importlib.metadata import version
import random
import sys

import mmh3

BUCKET_SEED = 0
VARIANT_SEED = 86028157
VARIANTS = [["control", 50], ["blue", 30], ["green", 20]]

FLAG_KEYS = ["new-checkout", "phase2_tab_sync", "ENABLE_UI_REFRESH", "a", "x.y-z", "priority_urls_enabled", "k" * 100]
FIXED_IDS = [
    "", "0", "cust-0001", "cust-0042", "user@example.com", "with space", "id:with:colons", "\t",
    "müller", "Zoë", "ñ", "e\u0301", "Ωmega", "日本語のユーザー", "مرحبا", "😀🚀", "a" * 300,
    "9f1c2e4a-8d7b-4c3e-a1f0-5b6d7e8f9a0b",
]
UNICODE_POOL = "abcXYZ019-_:.@ äöüßéçñ ΩλЖя 日本中文 한국 مرحبا 😀🚀🎉"


def h32(text, seed):
    return mmh3.hash(text.encode("utf-8"), seed, signed=False)


def bucket(h):
    return (h % 100) * 100 + (h // 100) % 100


def variant_of(flag, unit):
    # Unleash's selectVariant: the first variant whose running total reaches normalizedVariantValue.
    target = h32(f"{flag}:{unit}", VARIANT_SEED) % sum(w for _, w in VARIANTS) + 1
    counter = 0
    for key, weight in VARIANTS:
        counter += weight
        if counter >= target:
            return key
    raise AssertionError("unreachable")


def main():
    rng = random.Random(20261121)
    pairs = [(flag, unit) for flag in FLAG_KEYS for unit in FIXED_IDS]
    for _ in range(60):
        flag = rng.choice(FLAG_KEYS)
        unit = rng.choice([
            f"cust-{rng.randrange(100000):05d}",
            "".join(rng.choice(UNICODE_POOL) for _ in range(rng.randrange(1, 20))),
            "%032x" % rng.getrandbits(128),
        ])
        pairs.append((flag, unit))

    rows = []
    for flag, unit in pairs:
        h = h32(f"{flag}:{unit}", BUCKET_SEED)
        b = bucket(h)
        whole_edge = (h % 100) * 100  # the highest whole percentage the unit is out at
        percentages = {0, 10000, whole_edge, min(whole_edge + 100, 10000), b, min(b + 1, 10000),
                       rng.randrange(0, 101) * 100, rng.randrange(0, 10001)}
        for bp in sorted(percentages):
            is_in = b < bp
            if bp % 100 == 0:
                pct = bp // 100
                unleash = pct > 0 and h % 100 + 1 <= pct
                assert is_in == unleash, (flag, unit, bp)
            rows.append([flag, unit, bp, h, b, is_in, variant_of(flag, unit)])

    header = {
        "about": "Golden vectors for Rollgate bucketing: h = murmur3_x86_32(utf8(flag_key + ':' + id), 0), "
                 "bucket = (h % 100) * 100 + (h / 100) % 100, in = bucket < basis_points; "
                 "variant: Unleash-style pick over the weights below with murmur3 seed 86028157.",
        "generated_by": f"app/src/domain/testdata/gen_golden.py, Python {platform.python_version()}, "
                        f"mmh3 {version('mmh3')} "
                        "(mmh3.hash(data, seed, signed=False)), random.Random(20261121)",
        "bucket_seed": BUCKET_SEED,
        "variant_seed": VARIANT_SEED,
        "variants": VARIANTS,
        "columns": ["flag_key", "id", "basis_points", "hash", "bucket", "in", "variant"],
    }
    out = sys.stdout
    out.write("{\n")
    for key, value in header.items():
        out.write(f"  {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)},\n")
    out.write('  "rows": [\n')
    out.write(",\n".join("    " + json.dumps(row, ensure_ascii=False) for row in rows))
    out.write("\n  ]\n}\n")


if __name__ == "__main__":
    main()
