"""KerasTuner searches over the zoo: likelihood, latent size and Huber α, ranked on a
comparable number (validation bits/dim on the discrete data's scale).

>>> import tuning
>>> result = tuning.search(data="digits", tuner="bayesian", max_trials=10, epochs=20, out="search")
"""

from tuning.hypermodel import OBJECTIVE, VAEHyperModel, applicable_likelihoods
from tuning.search import TUNERS, configure_distribution, search, trial_rows, write_results
