"""The platform's two roots (`etl_drop_dir`, `etl_data_dir`) on a local disk or on an object store.

A root is a local path, as it has always been, or an `s3://bucket/prefix` URL (`s3a://` is taken as
the same) on S3 or an S3-compatible store, each root on its own. The store's endpoint and credentials
come from the Amazon provider's `aws` connection `aws_default` (`endpoint_url` and `region_name` in
its extras, the keys as login and password), never from code:

- the Airflow side reads and writes a root through `root_path`: a `pathlib.Path` for a local root,
  Airflow's `ObjectStoragePath` (fsspec's s3fs through the provider) for a URL. Both offer the
  `pathlib` calls the platform makes (`/`, `exists`, `iterdir`, `open`, `read_text`, `unlink`, ...);
- the Spark side reads and writes through Hadoop's S3A connector: `spark_url` names a path the way
  Hadoop does (`s3a://bucket/key`), and `s3a_settings` turns the connection into S3A's settings,
  the public ones and the secret ones apart (plugins/analytics_etl/spark.py hands the secret ones to
  spark-submit in a 0600 file, never on its command line).

Object stores have no directory and no atomic rename: see docs/decisions.md, "Object storage", for
how the platform publishes on them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

STORE_CONN_ID = "aws_default"
OBJECT_SCHEMES = ("s3", "s3a")
DEFAULT_REGION = "us-east-1"


def is_object_store(root: str | Path) -> bool:
    """True for an `s3://` or `s3a://` URL, False for a local path (a `file://` URL included)."""
    return urlsplit(str(root)).scheme.lower() in OBJECT_SCHEMES


def _bucket_key(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket = parts.hostname or ""
    if not bucket or parts.username or parts.port or parts.query or parts.fragment:
        raise ValueError(f"{url!r} is not an object-store root: expected s3://bucket/prefix")
    return bucket, parts.path.strip("/")


def root_path(root: str | Path, conn_id: str = STORE_CONN_ID) -> Path | ObjectStoragePath:
    """A root as the Airflow side uses it: a local path unchanged, an `s3://` / `s3a://` URL as an
    `ObjectStoragePath` on the store of `conn_id`."""
    if not is_object_store(root):
        text = str(root)
        return Path(text.removeprefix("file://")) if text.startswith("file://") else Path(text)
    from airflow.sdk import ObjectStoragePath

    bucket, key = _bucket_key(str(root))
    return ObjectStoragePath(f"s3://{bucket}/{key}" if key else f"s3://{bucket}/", conn_id=conn_id)


def as_text(path: str | Path | ObjectStoragePath) -> str:
    """A path as text that `root_path` turns back into it: `s3://bucket/key` for a path on the store
    (the text of an `ObjectStoragePath` itself names its connection, which `root_path` refuses), the
    local path unchanged. What the run's XCom and the task logs carry."""
    if getattr(path, "protocol", None) in OBJECT_SCHEMES:
        return f"s3://{path.bucket}/{path.key}".rstrip("/")
    return str(path)


def on_store(path: str | Path | ObjectStoragePath) -> bool:
    """Whether `path` (a path object or its text) is on an object store."""
    return getattr(path, "protocol", None) in OBJECT_SCHEMES or is_object_store(str(path))


def upload(local: Path, target: Path | ObjectStoragePath) -> None:
    """Copy the local file `local` to `target`: on a store one PUT (multipart for a large file), so
    the object appears whole or not at all; on a local disk aside and renamed."""
    if isinstance(target, Path):
        target.parent.mkdir(parents=True, exist_ok=True)
        aside = target.with_name(f".{target.name}.uploading")
        shutil.copyfile(local, aside)
        aside.replace(target)
        return
    target.fs.put_file(str(local), target.path)


def parquet_dataset(path: str | Path | ObjectStoragePath) -> Any:
    """A pyarrow Parquet dataset of a file or a folder (Spark's part files; `_SUCCESS`, `.crc` are
    ignored), local or on the store (through the store's fsspec filesystem, wrapped by pyarrow)."""
    import pyarrow.dataset as ds

    if isinstance(path, str):
        path = root_path(path)
    if isinstance(path, Path):
        return ds.dataset(str(path), format="parquet")
    path.fs.invalidate_cache(path.path)  # another process (Spark) wrote it
    return ds.dataset(path.path, filesystem=path.fs, format="parquet")


def remove_tree(path: Path | ObjectStoragePath) -> None:
    """Delete `path` and everything under it (a folder or a prefix; nothing when it is not there).

    On a store, the objects go first and then whatever is left: folder markers, the empty `folder/`
    objects that S3A writes and the local S3Proxy lists for each folder it holds. Deleted before its
    objects, a marker costs that server 10 s of retries per folder (its filesystem backend cannot
    remove a folder that is not empty); on S3 the order changes nothing."""
    if isinstance(path, Path):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
        return
    fs, key = path.fs, path.path
    entries = fs.find(key, withdirs=True, detail=True)
    files = [name for name, info in entries.items() if info["type"] == "file"]
    if files:
        fs.rm(files)
    fs.invalidate_cache(key)
    if fs.find(key, withdirs=True):
        fs.rm(key, recursive=True)


def spark_url(path: str | Path | ObjectStoragePath) -> str:
    """How a Spark job names `path`: `s3a://bucket/key` for a path on the store (S3A is Hadoop's
    connector; `s3://` has none in Hadoop 3.4), the local path unchanged."""
    if getattr(path, "protocol", None) in OBJECT_SCHEMES:  # an ObjectStoragePath (its str() names the conn)
        bucket, key = path.bucket, path.key
    elif is_object_store(path):
        bucket, key = _bucket_key(str(path))
    else:
        return str(path)
    return f"s3a://{bucket}/{key}".rstrip("/")


def s3a_settings(conn_id: str = STORE_CONN_ID) -> tuple[dict[str, str], dict[str, str]]:
    """(public, secret) Spark settings for S3A from the connection `conn_id`: the endpoint, region,
    path-style access and TLS in the first, the keys (and a session token) in the second. Without
    the connection both are empty: S3A's own credential chain (environment, instance profile) and
    AWS's endpoints apply."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsGenericHook
    from airflow.providers.common.compat.sdk import AirflowNotFoundException

    try:
        AwsGenericHook.get_connection(conn_id)
    except AirflowNotFoundException:
        return {}, {}
    hook = AwsGenericHook(aws_conn_id=conn_id, client_type="s3")
    config = hook.conn_config
    h = "spark.hadoop.fs.s3a."
    public = {
        "spark.hadoop.fs.s3.impl": "org.apache.hadoop.fs.s3a.S3AFileSystem",  # s3:// as s3a://
        f"{h}endpoint.region": config.region_name or DEFAULT_REGION,
    }
    endpoint = config.get_service_endpoint_url(service_name="s3")
    if endpoint:  # an S3-compatible store: its own address, buckets in the path
        public |= {
            f"{h}endpoint": endpoint,
            f"{h}path.style.access": "true",
            f"{h}connection.ssl.enabled": str(endpoint.startswith("https://")).lower(),
        }
    secret: dict[str, str] = {}
    creds = hook.get_credentials()
    if creds.access_key and creds.secret_key:
        secret = {f"{h}access.key": creds.access_key, f"{h}secret.key": creds.secret_key}
        provider = "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        if creds.token:
            secret[f"{h}session.token"] = creds.token
            provider = "org.apache.hadoop.fs.s3a.TemporaryAWSCredentialsProvider"
        public[f"{h}aws.credentials.provider"] = provider
    return public, secret
