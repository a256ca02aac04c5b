"""The file ``spark-submit`` runs (it takes a script, not a console command):

    spark-submit --archives b12env.tar.gz#env ... "$(python -m adapter.spark.submit --path)" \\
        --source s3a://bucket/export/ --out s3a://bucket/b12-run/

The same arguments as ``b12-adapter spark``; see the README, "On Apache Spark".
"""

from __future__ import annotations

import sys

from adapter.spark.command import main

if __name__ == "__main__":
    if sys.argv[1:] == ["--path"]:  # where this file is, for spark-submit's command line
        print(__file__)
        sys.exit(0)
    sys.exit(main(sys.argv[1:]))
