"""Pinned JVM jars from Maven Central: a pom beside a lock of every jar's SHA-256.

The project runs JVM programs it does not build (the Cassandra server, the S3 server, Spark's S3A
connector). Each lives in a folder of `scripts/` holding a `pom.xml` (the one coordinate, its version
fixed) and a `dependencies.lock` (every jar of its runtime classpath, in order, with its SHA-256).
`PinnedJars.resolve` has Maven resolve the pom into its local repository (the cache: a second call
downloads nothing, and a warm cache runs Maven offline), then checks the classpath against the lock,
jar by jar; `PinnedJars.write_lock` rewrites the lock after a version change.

Standard library only: the scripts call it before or beside the virtualenv. ETL_MAVEN_REPO moves the
cache (Maven's own default, ~/.m2/repository); ETL_LOCAL_DIR holds the resolved classpaths (.local).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Pinned by its full coordinate: no plugin version is left for Maven to pick.
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"


class JarsError(RuntimeError):
    """Something the operator has to act on; the message says what."""


def local_dir() -> Path:
    return Path(os.environ.get("ETL_LOCAL_DIR") or REPO / ".local")


def maven_repo() -> Path:
    return Path(os.environ.get("ETL_MAVEN_REPO") or Path.home() / ".m2" / "repository")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_lock(lock: Path) -> dict[str, str]:
    """Jar path inside the Maven repository -> SHA-256, in classpath order."""
    entries = {}
    for line in lock.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            sha, rel = line.split()
            entries[rel] = sha
    return entries


@dataclass(frozen=True)
class PinnedJars:
    """The jars of one pom: `folder` holds pom.xml and dependencies.lock."""

    name: str  # what they are, for messages: "the Cassandra server"
    folder: Path
    lock_command: str  # what rewrites the lock: "scripts/cassandra.sh lock"
    cache: str = ""  # folder under ETL_LOCAL_DIR for the resolved classpath (default: folder's name)

    @property
    def pom(self) -> Path:
        return self.folder / "pom.xml"

    @property
    def lock(self) -> Path:
        return self.folder / "dependencies.lock"

    @property
    def _cache_dir(self) -> Path:
        return local_dir() / (self.cache or self.folder.name)

    def _maven_classpath(self, repo: Path, out: Path, offline: bool) -> list[Path]:
        """Resolve the pom's dependencies with Maven; the jars in classpath order."""
        if not shutil.which("mvn"):
            raise JarsError(f"mvn not found: install Maven (apt-get install maven) to resolve {self.name}")
        out.parent.mkdir(parents=True, exist_ok=True)
        argv = ["mvn", "-q", "-B", "-f", str(self.pom), f"-Dmaven.repo.local={repo}",
                f"{DEPENDENCY_PLUGIN}:build-classpath", f"-Dmdep.outputFile={out}"]  # fmt: skip
        if offline:
            argv.insert(1, "-o")
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            raise JarsError(
                f"Maven could not resolve {self.pom}:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
            )
        return [Path(p) for p in out.read_text().strip().split(os.pathsep)]

    def resolve(self) -> list[Path]:
        """The classpath, every jar checked against the lock. Cached per pom and lock: a second call
        runs no Maven at all (and a call with the jars in the Maven cache downloads nothing)."""
        repo = maven_repo()
        key = hashlib.sha256(self.pom.read_bytes() + self.lock.read_bytes() + str(repo).encode()).hexdigest()
        cached = self._cache_dir / f"classpath-{key[:16]}.txt"
        if cached.exists():
            jars = [Path(p) for p in cached.read_text().split(os.pathsep)]
            if all(j.exists() for j in jars):
                return jars
        lock = read_lock(self.lock)
        # Offline first: a warm Maven cache resolves without touching the network.
        try:
            jars = self._maven_classpath(repo, cached.with_suffix(".tmp"), offline=True)
        except JarsError:
            jars = self._maven_classpath(repo, cached.with_suffix(".tmp"), offline=False)
        got = {str(j.relative_to(repo)): j for j in jars}
        if set(got) != set(lock):
            added, missing = sorted(set(got) - set(lock)), sorted(set(lock) - set(got))
            raise JarsError(
                f"the resolved {self.name} differs from {self.lock}: not locked {added[:5]}, "
                f"locked but not resolved {missing[:5]} (after a version change: {self.lock_command})"
            )
        for rel, path in got.items():
            if sha256(path) != lock[rel]:
                raise JarsError(
                    f"{path} does not match its SHA-256 in {self.lock}: a corrupt or altered download"
                )
        cached.with_suffix(".tmp").replace(cached)
        return jars

    def write_lock(self) -> int:
        """Re-resolve the pom and rewrite the lock; the number of jars."""
        repo = maven_repo()
        jars = self._maven_classpath(repo, self._cache_dir / "classpath-lock.tmp", offline=False)
        lines = [f"{sha256(j)}  {j.relative_to(repo)}" for j in jars]
        header = (
            f"# SHA-256 and Maven path of every jar of {self.name} in {self.pom.name}, in classpath order.\n"
        )
        self.lock.write_text(header + "\n".join(lines) + "\n")
        return len(lines)
