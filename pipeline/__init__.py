"""StyleCast's data pipeline: the core layer, one subpackage per stage, the weekly jobs and
Airflow task functions above them, and the ``stylecast`` command line on top."""
