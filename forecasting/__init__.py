"""Forecasting: models behind one contract, backtests, intervals and trend scores."""
