"""The references hold to what is known in closed form, and their formulas to their simulations."""

from __future__ import annotations

import math
import random

import pytest

from .reference import (
    erlang_c,
    impatient_pool,
    mdc_mean_wait,
    mdc_simulated_wait,
    mmc_response_factor,
    poisson_at_least,
    ps_sojourns,
    quantile,
)


def erlang_b(c: int, a: float) -> float:
    """Erlang B from its textbook sum, apart from the recursion in the reference."""
    terms = [a**k / math.factorial(k) for k in range(c + 1)]
    return terms[-1] / sum(terms)


@pytest.mark.parametrize(("k", "mu"), [(0, 3.0), (3, 3.0), (10, 3.0), (2, 40.0), (60, 40.0)])
def test_the_poisson_tail_is_one_minus_the_head(k: int, mu: float) -> None:
    head = sum(math.exp(-mu) * mu**j / math.factorial(j) for j in range(k))
    assert poisson_at_least(k, mu) == pytest.approx(1.0 - head, abs=1e-12)


@pytest.mark.parametrize("rho", [0.3, 0.5, 0.8, 0.9, 0.95])
@pytest.mark.parametrize("D", [0.1, 1.0, 10.0])
def test_crommelin_with_one_server_is_pollaczek_khinchine(rho: float, D: float) -> None:
    assert mdc_mean_wait(rho / D, D, 1) == pytest.approx(rho * D / (2 * (1 - rho)), rel=1e-5)


@pytest.mark.parametrize(("c", "rho"), [(2, 0.5), (4, 0.8), (8, 0.9)])
def test_crommelin_matches_the_exact_m_d_c_recursion(c: int, rho: float) -> None:
    D = 1.0
    lam = rho * c / D
    sims = [mdc_simulated_wait(lam, D, c, 150_000, seed) for seed in (1, 2)]
    assert sum(sims) / 2 == pytest.approx(mdc_mean_wait(lam, D, c), rel=0.06)


def test_m_d_c_waits_half_as_long_as_m_m_c_in_heavy_traffic() -> None:
    # Kingman: the wait scales with (ca^2 + cs^2) / 2, which is 1/2 for deterministic service
    c, rho, D = 4, 0.95, 1.0
    mmc_wait = erlang_c(c, c * rho) / (c / D * (1 - rho))
    assert mdc_mean_wait(rho * c / D, D, c) / mmc_wait == pytest.approx(0.5, abs=0.04)


@pytest.mark.parametrize(("c", "a", "want"), [(1, 0.5, 0.5), (2, 1.0, 1 / 3), (4, 2.0, 0.173913)])
def test_erlang_c_known_values(c: int, a: float, want: float) -> None:
    assert erlang_c(c, a) == pytest.approx(want, rel=1e-5)


def test_m_m_c_response_factors_for_a_four_core_database() -> None:
    got = [round(mmc_response_factor(4, rho), 2) for rho in (0.5, 0.8, 0.9, 0.95)]
    assert got == [1.09, 1.75, 2.97, 5.46]


def test_an_impatient_pool_with_no_patience_loses_what_erlang_b_says() -> None:
    # M/G/c/c is insensitive to the hold time's distribution: blocking is Erlang B
    c, a, h = 10, 8.0, 0.2
    st = impatient_pool(a / h, lambda r: r.uniform(0.5 * h, 1.5 * h), c, 0.0, 200_000, 3)
    assert st.timeout_rate == pytest.approx(erlang_b(c, a), rel=0.05)
    assert st.mean_in_use == pytest.approx(a * (1 - erlang_b(c, a)), rel=0.02)


def test_an_impatient_pool_with_endless_patience_is_m_d_c() -> None:
    c, rho, h = 4, 0.8, 0.5
    lam = rho * c / h
    st = impatient_pool(lam, lambda r: h, c, math.inf, 200_000, 4)
    assert st.timeout_rate == 0
    assert st.mean_wait_served == pytest.approx(mdc_mean_wait(lam, h, c), rel=0.06)
    assert st.mean_in_use == pytest.approx(lam * h, rel=0.02)
    assert st.mean_waiting == pytest.approx(lam * st.mean_wait_served, rel=0.02)  # Little


def test_an_overloaded_impatient_pool_serves_its_capacity_and_times_out_the_rest() -> None:
    c, h = 10, 0.1
    lam = 2.0 * c / h
    st = impatient_pool(lam, lambda r: h, c, 1.0, 100_000, 5)
    assert st.timeout_rate == pytest.approx(1 - 1 / 2.0, abs=0.01)
    assert st.mean_in_use == pytest.approx(c, rel=0.01)


def test_processor_sharing_mean_sojourn_is_insensitive_to_the_size_distribution() -> None:
    # M/G/1-PS: E[T] = E[S] / (1 - rho) whatever the distribution of S
    rho, mean = 0.7, 0.1
    sigma = 0.35
    mu = math.log(mean) - sigma**2 / 2

    def size(r: random.Random) -> float:
        return r.lognormvariate(mu, sigma)

    xs = ps_sojourns(rho / mean, size, 60_000, 6)
    assert sum(xs) / len(xs) == pytest.approx(mean / (1 - rho), rel=0.07)
    # and its tail widens with load: p99/p50 is several times the service time's own (2.26)
    assert quantile(xs, 0.99) / quantile(xs, 0.5) > 4
