"""A model saved on this backend loads on the other two with identical outputs (subprocesses)."""

import os
import subprocess
import sys
import textwrap

import numpy as np

import losses
import zoo
from tests.helpers import BACKEND, to_numpy
from tests.zoo.common import digit_labels, digits, fingerprint

OTHER_BACKENDS = [b for b in ("tensorflow", "jax", "torch") if b != BACKEND]

LOAD_AND_PREDICT = textwrap.dedent("""
    import sys
    import numpy as np, keras
    import zoo  # registers the zoo's classes
    from tests.zoo.common import fingerprint
    for folder in sys.argv[1:]:
        model = keras.saving.load_model(folder + "/model.keras")
        data = np.load(folder + "/inputs.npz")
        if "family" in data:
            np.savez(folder + "/" + keras.backend.backend() + ".npz", **fingerprint(model, data["x"]))
            continue
        inputs = (data["x"], data["labels"]) if "labels" in data else data["x"]
        prediction = keras.ops.convert_to_numpy(model.predict(inputs, verbose=0))
        condition = model._split_inputs(None, data["z_labels"])[1] if "z_labels" in data else None
        params = keras.ops.convert_to_numpy(model.decode(data["z"], condition))
        np.savez(folder + "/" + keras.backend.backend() + ".npz", prediction=prediction, params=params)
""")

MODELS = {
    "mlp_student_t": lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,),
                                        likelihood=losses.StudentT(df="learned"), data_levels=17),
    "conv_huber": lambda: zoo.ConvVAE(input_shape=(8, 8, 1), latent_dim=3, filters=(4, 8),
                                      likelihood=losses.Huber(alpha=0.5, scale="learned"), data_levels=17),
    "conditional_bernoulli": lambda: zoo.ConditionalVAE(num_classes=10, input_shape=(8, 8, 1),
                                                        latent_dim=3, hidden=(16,)),
}


#: Every family of priors, posteriors and hierarchies, compared through ``fingerprint``.
FAMILIES = {
    "vampprior": lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,),
                                    prior=zoo.priors.VampPrior(num_components=7)),
    "mog": lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), prior=zoo.priors.get("mog", num_components=5)),
    "planar": lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,), posterior="planar"),
    "iaf": lambda: zoo.MLPVAE(input_shape=(8, 8, 1), latent_dim=3, hidden=(16,),
                              posterior=zoo.posteriors.IAF(num_steps=2, hidden=(8,))),
    "hvae": lambda: zoo.HVAE(input_shape=(8, 8, 1), latent_dim=3, hidden_dim=4, hidden=(16,),
                             prior=zoo.priors.VampPrior(num_components=5)),
    "ladder": lambda: zoo.LadderVAE(input_shape=(8, 8, 1), latent_dims=(4, 2), hidden=(16, 8)),
}


def moved_off_initial_values(model):
    """Every float weight moved by seeded noise and the optimizer's variables built, as a fitted
    model has them. A fit moves each weight by only ~lr and costs a compiled step (~4 s a model
    on TensorFlow); the families differ from the models above in their weights and config, not
    in how they fit, and fitting then saving and reloading is checked on every backend in
    tests/zoo (run_family_checks)."""
    rng = np.random.default_rng(1)
    model.set_weights([w + rng.normal(scale=0.05, size=w.shape).astype(w.dtype)
                       if np.issubdtype(w.dtype, np.floating) else w for w in model.get_weights()])
    model.optimizer.build(model.trainable_variables)


def save_family(name, folder):
    model = FAMILIES[name]()
    x = digits(16)
    model.compile(optimizer="adam")
    moved_off_initial_values(model)
    folder.mkdir()
    model.save(folder / "model.keras")
    np.savez(folder / "inputs.npz", x=x, family=True)
    return fingerprint(model, x)


def save_with_outputs(name, folder):
    """Train a model briefly (a family: move its weights), save it, and return its outputs on
    saved inputs."""
    if name in FAMILIES:
        return save_family(name, folder)
    model = MODELS[name]()
    conditional = isinstance(model, zoo.ConditionalVAE)
    x = digits(16, binary=conditional)
    labels = digit_labels(16)
    model.compile(optimizer="adam")
    model.fit(*((x, labels) if conditional else (x,)), epochs=1, verbose=0)
    z = np.random.default_rng(0).normal(size=(4, 3)).astype("float32")
    condition = model._split_inputs(None, labels[:4])[1] if conditional else None
    folder.mkdir()
    model.save(folder / "model.keras")
    extra = {"labels": labels, "z_labels": labels[:4]} if conditional else {}
    np.savez(folder / "inputs.npz", x=x, z=z, **extra)
    return {
        "prediction": to_numpy(model.predict((x, labels) if conditional else x, verbose=0)),
        "params": to_numpy(model.decode(z, condition)),
    }


def test_saved_here_loads_elsewhere_with_identical_outputs(tmp_path):
    expected = {name: save_with_outputs(name, tmp_path / name) for name in {**MODELS, **FAMILIES}}
    for backend in OTHER_BACKENDS:
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        result = subprocess.run(
            [sys.executable, "-c", LOAD_AND_PREDICT, *(str(tmp_path / name) for name in expected)],
            env=env, capture_output=True, text=True, timeout=600,
            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
        )
        assert result.returncode == 0, f"{backend}: {result.stderr[-3000:]}"
        for name, outputs in expected.items():
            loaded = np.load(tmp_path / name / f"{backend}.npz")
            for key, value in outputs.items():
                # Same weights, another backend's kernels: equal to float32 round-off (the
                # families' fingerprints include encoder outputs near 0, off by ~2e-6 after a
                # 64-wide layer's differently ordered sum).
                np.testing.assert_allclose(loaded[key], value, rtol=1e-5, atol=1e-5 if name in FAMILIES else 1e-6,
                                           err_msg=f"{name} {key}: saved on {BACKEND}, loaded on {backend}")
