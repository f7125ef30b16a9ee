"""The checks of ``zoo.VAE``'s arguments that involve more than one of them: each returns the
checked value or raises a one-line ``ValueError`` that names the argument and the valid choices."""

from losses.base import check_integer, check_non_negative

KL_ESTIMATORS = ("auto", "analytic", "monte_carlo")


def checked_part(argument, identifier, module, allowed, owner):
    """The prior or posterior layer (``module.get(identifier)``), if the architecture can use it."""
    try:
        part = module.get(identifier)
    except ValueError as error:
        raise ValueError(f"{owner}: `{argument}`: {error}") from None
    name = next((n for n, cls in module._REGISTRY.items() if type(part) is cls), None)
    if name not in allowed:
        raise ValueError(f"{owner}: {argument}={name or type(part).__name__!r} does not work with this "
                         f"model; valid choices: {', '.join(allowed)}.")
    return part


def analytic_kl(kl, prior, posterior, bound, owner):
    """Whether the closed-form KL replaces the sampled log-ratio: ``kl`` is "auto" or "analytic",
    prior and posterior have one, and the bound is the one-sample ELBO (IWAE with k = 1: the
    other bounds score sampled log-weights even at one sample)."""
    if kl not in KL_ESTIMATORS:
        raise ValueError(f"{owner}: `kl` must be one of {KL_ESTIMATORS}, got {kl!r}.")
    closed_form = prior.has_analytic_kl and posterior.has_analytic_kl
    if kl == "analytic" and not closed_form:
        raise ValueError(
            f"{owner}: kl='analytic' needs a closed-form KL(q‖p), which q = {posterior.describe()} "
            f"and p(z) = {prior.describe()} do not have; use kl='auto' or 'monte_carlo' "
            f"(log q(z|x) − log p(z) at the sampled z).")
    return closed_form and kl != "monte_carlo" and bound.num_samples == 1 and bound.name == "iwae"


def checked_free_bits(free_bits, analytic, model, owner):
    free_bits = check_non_negative("free_bits", free_bits, owner)
    if free_bits and not analytic:
        raise ValueError(f"{owner}: free_bits needs a per-dimension analytic KL: one sample (k=1, "
                         f"bound='iwae'), kl='auto' or 'analytic', a standard normal prior and a "
                         f"Gaussian posterior; got k={model.k}, bound={model.bound!r}, kl={model.kl!r}, prior "
                         f"{model.prior.describe()}, posterior {model.posterior.describe()}.")
    return free_bits


def checked_levels(levels, likelihood, owner):
    """``data_levels``: None (continuous data) or L ≥ 2, agreeing with a discrete likelihood."""
    if levels is None:
        return None
    levels = check_integer("data_levels", levels, owner)
    if levels < 2:
        raise ValueError(f"{owner}: `data_levels` must be ≥ 2, got {levels}.")
    if likelihood.is_discrete and likelihood.levels != levels:
        raise ValueError(
            f"{owner}: likelihood {likelihood.name!r} models {likelihood.levels}-level data, but "
            f"data_levels={levels}. "
            + ("Binarize the data or use a continuous likelihood (e.g. continuous_bernoulli)."
               if likelihood.levels == 2 else f"Use {likelihood.name}(levels={levels}).")
        )
    return levels


def checked_dynamic_binarization(dynamic_binarization, likelihood, owner):
    if dynamic_binarization and not (likelihood.is_discrete and likelihood.levels == 2):
        raise ValueError(f"{owner}: dynamic_binarization draws binary data, which needs the "
                         f"bernoulli likelihood, not {likelihood.name!r}.")
    return bool(dynamic_binarization)
