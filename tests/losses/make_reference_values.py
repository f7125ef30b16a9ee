"""Write reference_values.json: every likelihood's log_prob on fixed inputs.

Run once on any backend (`KERAS_BACKEND=jax python -m tests.losses.make_reference_values`);
test_base.py checks that every backend reproduces these numbers.
"""

import json
import pathlib

import numpy as np
import keras

from tests.losses.cases import CASES, IDS, data_for, make, params_for

PATH = pathlib.Path(__file__).with_name("reference_values.json")


def inputs(lik, case_index):
    rng = np.random.default_rng(100 + case_index)
    return data_for(lik, (3, 5), rng), params_for(lik, (3, 5), rng)


def main():
    values = {}
    for i, (case_id, (name, kwargs)) in enumerate(zip(IDS, CASES)):
        lik = make(name, kwargs)
        x, params = inputs(lik, i)
        values[case_id] = np.asarray(keras.ops.convert_to_numpy(lik.log_prob(x, params))).tolist()
    PATH.write_text(json.dumps({"backend": keras.backend.backend(), "log_prob": values}, indent=1))


if __name__ == "__main__":
    main()
