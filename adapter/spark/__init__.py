"""The same checks on Apache Spark, for Bulk Data beyond one machine (``b12-adapter spark``).

Only ``job.py`` imports pyspark (the ``spark`` extra); everything else here is plain Python that
runs on the executors and is tested without Spark:

    layout.py    which files of a Bulk Data directory are data (manifest, numbered, gzipped)
    records.py   map side: one line -> rows keyed by patient, filtered to what can matter
    patients.py  reduce side: one patient's rows -> the core's checks -> output rows
    job.py       the Spark plan: read, filter, key, join Medications and links, keep one
                 claim per id, group, check, write
    command.py   the ``spark`` subcommand and the ``spark-submit`` entry point (submit.py)
"""
