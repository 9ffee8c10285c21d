"""A realistic synthetic credit-risk table: the demo's data set.

Numeric and categorical columns, missing values, and sensitive attributes (sex, age group).
Default risk depends on income, debt, payment history and employment; income differs by sex
(as it does in real data), so a model can learn an indirect bias that the fairness checks of
later steps reveal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def credit_table(rows: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    sex = rng.choice(["female", "male"], size=rows, p=[0.48, 0.52])
    age = rng.integers(19, 76, size=rows)
    employment = rng.choice(
        ["employed", "self-employed", "unemployed", "student", "retired"],
        size=rows,
        p=[0.6, 0.12, 0.08, 0.1, 0.1],
    )
    base_income = rng.lognormal(mean=10.4, sigma=0.45, size=rows)
    income = (
        base_income
        * np.where(sex == "male", 1.15, 1.0)
        * np.where(employment == "unemployed", 0.35, 1.0)
    )
    loan_amount = np.round(rng.lognormal(mean=9.3, sigma=0.6, size=rows), -2)
    loan_term = rng.choice([12, 24, 36, 60], size=rows, p=[0.2, 0.3, 0.3, 0.2])
    history_years = np.clip(age - 18 - rng.integers(0, 10, size=rows), 0, None)
    late_payments = rng.poisson(lam=np.where(employment == "unemployed", 1.6, 0.6))
    housing = rng.choice(["rent", "own", "mortgage"], size=rows, p=[0.4, 0.25, 0.35])
    purpose = rng.choice(["car", "home", "education", "business", "other"], size=rows)

    debt_ratio = loan_amount / income
    logit = (
        -2.0
        + 2.2 * debt_ratio
        + 0.55 * late_payments
        - 0.04 * history_years
        + np.where(employment == "unemployed", 1.0, 0.0)
        + np.where(housing == "own", -0.4, 0.0)
        + 0.01 * (loan_term - 36)
    )
    default = rng.random(rows) < 1 / (1 + np.exp(-logit))

    frame = pd.DataFrame(
        {
            "age": age,
            "sex": sex,
            "income": np.round(income, 0),
            "employment": employment,
            "housing": housing,
            "purpose": purpose,
            "loan_amount": loan_amount,
            "loan_term": loan_term,
            "credit_history_years": history_years,
            "late_payments": late_payments,
            "default": np.where(default, "yes", "no"),
        }
    )
    frame.loc[rng.random(rows) < 0.06, "income"] = np.nan
    frame.loc[rng.random(rows) < 0.04, "employment"] = None
    frame.insert(
        2,
        "age_group",
        pd.cut(
            frame["age"], [0, 25, 40, 60, 200], labels=["18-25", "26-40", "41-60", "60+"]
        ).astype(str),
    )
    return frame
