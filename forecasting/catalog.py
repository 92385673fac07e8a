"""The model names the engine accepts, and its default pool.

A module of its own, free of heavy imports, so the command line's help can show them
without loading pandas and statsforecast.
"""

BASE_MODELS = ("seasonal_naive", "auto_ets", "auto_theta", "auto_arima", "seasonal_ets",
               "optimized_theta", "global_gbm", "harmonic")
# The automatic searches are left out of the default pool: they cost the most. The form
# AutoETS picks for most apparel series, ETS(M,N,M), is in it as ``seasonal_ets`` at a
# fraction of the cost; likewise the form AutoTheta picks for most of them (OTM, for 19-23
# of the 24 Australian series), the optimised Theta model, as ``optimized_theta`` instead of
# AutoTheta's four-form search. The pool was chosen on 8 older origins of the real apparel
# data (benchmarks/forecast.py, "development origins"), never on the two origins the
# benchmark scores it on.
DEFAULT_CANDIDATES = ("seasonal_naive", "optimized_theta", "seasonal_ets", "global_gbm",
                      "harmonic")
