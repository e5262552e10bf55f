# The platform's Airflow image: Airflow 3.3 with Java 17 for spark-submit and the pinned stack.
FROM apache/airflow:3.3.2-python3.11
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends openjdk-17-jre-headless \
 && rm -rf /var/lib/apt/lists/*
USER airflow
COPY requirements.txt constraints.txt /opt/analytics-etl/
RUN pip install --no-cache-dir -r /opt/analytics-etl/requirements.txt -c /opt/analytics-etl/constraints.txt
ENV SPARK_HOME=/home/airflow/.local/lib/python3.11/site-packages/pyspark \
    GX_ANALYTICS_ENABLED=false
