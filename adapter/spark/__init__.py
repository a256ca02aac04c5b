"""The same checks on Apache Spark, for Bulk Data beyond one machine (``b12-adapter spark``).

Only ``job.py`` imports pyspark and ``arrow.py`` pyarrow (the ``spark`` extra); everything else
here is plain Python that runs on the executors and is tested without Spark:

    layout.py    which files of a Bulk Data directory are data (manifest, numbered, gzipped)
    records.py   map side: one line -> rows keyed by patient, filtered to what can matter
    patients.py  reduce side: one patient's rows -> the core's checks -> output rows
    arrow.py     the mapInArrow stages: Arrow batches in and out of records and patients
    job.py       the Spark plan (DataFrame API only): read, filter, key, join Medications
                 and links, keep one claim per id, group, check, write Parquet and NDJSON
    publish.py   runs under --out: OUT/runs/<run id>/, published by OUT/_LATEST written last
    object_store.py  which connector an s3a://, gs://, abfss:// URI needs
    command.py   the ``spark`` subcommand and the ``spark-submit`` entry point (submit.py)
"""
