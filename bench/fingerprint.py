#!/usr/bin/env python
"""Add every backend's fingerprint to a trained preset's card.

    python bench/fingerprint.py zoo/trained_presets/vampprior_mnist
    python bench/fingerprint.py runs/my-preset --backends jax,torch

The fingerprint (zoo.trained.FINGERPRINT: the mean IS log p(x) of the first 1,000 test images,
k = 100, seed 0) depends on the backend's random draws: each backend reproduces its own value to
round-off, and differs from the others by the estimator's noise. bench/likelihood.py
--save-preset records the training backend's; this script computes the others, each in a
subprocess with KERAS_BACKEND set, and rewrites metadata.json and the model card in place
(written beside them and renamed). Run it before a preset ships: the shipped-preset tests check
each backend against its own value.
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")

ONE_BACKEND = """
import json, sys
import zoo, zoo.evaluate
folder = sys.argv[1]
metadata = zoo.trained.preset_metadata(folder)
data = zoo.evaluate.preset_data(metadata)
entry = zoo.trained.fingerprint_entry(zoo.from_preset(folder), data.x_test, metadata.get("fingerprint"))
print(json.dumps(entry))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="a preset folder (zoo.save_preset)")
    parser.add_argument("--backends", default=",".join(BACKENDS), help="comma-separated backends")
    args = parser.parse_args(argv)
    folder = pathlib.Path(args.folder)
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        parser.error(f"unknown backend(s) {', '.join(unknown)}; choose from {', '.join(BACKENDS)}")
    sys.path.insert(0, str(ROOT))
    import zoo.trained

    metadata = zoo.trained.preset_metadata(folder)
    values = zoo.trained.fingerprint_values(metadata["fingerprint"]) if metadata.get("fingerprint") else {}
    for backend in backends:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run([sys.executable, "-c", ONE_BACKEND, str(folder)], env=env, cwd=ROOT,
                                capture_output=True, text=True)
        if result.returncode != 0:
            sys.exit(f"fingerprint.py: {backend} failed:\n{result.stderr[-2000:]}")
        entry = json.loads(result.stdout.strip().splitlines()[-1])
        values[backend] = entry["log_px"][backend]
        print(f"{backend:10s} {values[backend]:.4f}")
        metadata["fingerprint"] = {**{k: entry[k] for k in zoo.trained.FINGERPRINT}, "log_px": dict(values)}
    for name, text in (("metadata.json", json.dumps(metadata, indent=2)),
                       ("README.md", zoo.trained.model_card(folder.name, metadata))):
        partial = folder / (name + ".partial")
        partial.write_text(text)
        partial.replace(folder / name)
    print(f"written to {folder / 'metadata.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
