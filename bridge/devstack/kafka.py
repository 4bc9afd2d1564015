"""A real, single-node Apache Kafka broker (KRaft) for development and tests.

The broker is a set of jars on Maven Central: the first use fetches them with ``mvn`` into
a cache (``~/.cache/smsbridge/kafka/<version>/libs``, or ``$SMSBRIDGE_CACHE_DIR``), then
every start formats KRaft storage in a data directory and runs ``kafka.Kafka`` on free
loopback ports. The JVM dies with the Python process (PR_SET_PDEATHSIG), so a crashed test
run leaves no broker behind.

    python -m bridge.devstack.kafka fetch   # download the jars only (CI prefetches)
    python -m bridge.devstack.kafka run     # start a broker, print its address, run until ^C
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType
from typing import Any, Self

# The newest 4.x whose transactions aiokafka 0.14 drives correctly here (see README).
KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.24.3"

_POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>smsbridge.devstack</groupId><artifactId>kafka-broker</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <!-- Kafka's POM carries no logging backend: slf4j 1.7 -> log4j2. -->
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

_LOG4J2 = """<Configuration status="warn">
  <Appenders>
    <File name="file" fileName="{log}"><PatternLayout pattern="%d %p %c{{1}} %m%n"/></File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
  </Loggers>
</Configuration>
"""


class KafkaUnavailable(RuntimeError):
    """The broker cannot be fetched or started; the message says why."""


def cache_dir() -> Path:
    base = os.environ.get("SMSBRIDGE_CACHE_DIR")
    root = Path(base) if base else Path.home() / ".cache" / "smsbridge"
    return root / "kafka" / KAFKA_VERSION


def fetch_jars() -> Path:
    """The broker's jars, fetched from Maven Central once; returns the libs directory."""
    libs = cache_dir() / "libs"
    if libs.is_dir() and any(libs.glob("kafka_2.13-*.jar")):
        return libs
    if shutil.which("mvn") is None:
        raise KafkaUnavailable("mvn is not installed: it fetches the Kafka broker jars")
    libs.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=libs.parent, prefix="fetch-") as tmp:
        work = Path(tmp)
        (work / "pom.xml").write_text(_POM.format(kafka=KAFKA_VERSION, log4j=LOG4J_VERSION))
        result = subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                "-f",
                str(work / "pom.xml"),
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={work / 'libs'}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            tail = (result.stdout + result.stderr)[-3000:]
            raise KafkaUnavailable(f"mvn could not fetch Kafka {KAFKA_VERSION}:\n{tail}")
        # Atomic: a half-finished fetch never looks like a cache.
        with contextlib.suppress(FileExistsError, OSError):
            (work / "libs").rename(libs)
    if not any(libs.glob("kafka_2.13-*.jar")):
        raise KafkaUnavailable(f"the Kafka jars are not in {libs} after fetching")
    return libs


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    # Linux: the JVM gets SIGKILL when the process that started it dies.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    os.setpgrp()


class LocalKafka:
    """One KRaft broker+controller on loopback. ``start`` waits until it answers metadata."""

    def __init__(
        self,
        data_dir: Path | None = None,
        *,
        host: str = "127.0.0.1",
        start_timeout_s: float = 90.0,
        extra_properties: dict[str, str] | None = None,
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = data_dir or Path(tempfile.mkdtemp(prefix="smsbridge-kafka-"))
        self.host = host
        self.port = free_port(host)
        self.controller_port = free_port(host)
        self._start_timeout_s = start_timeout_s
        self._extra = extra_properties or {}
        self._process: subprocess.Popen[bytes] | None = None
        self._formatted = False
        self.started_in_s: float | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def properties(self) -> dict[str, str]:
        """The broker's settings: single node, loopback, test-friendly timings."""
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@{self.host}:{self.controller_port}",
            "listeners": f"PLAINTEXT://{self.host}:{self.port},"
            f"CONTROLLER://{self.host}:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://{self.host}:{self.port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "1",
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            "min.insync.replicas": "1",
            "group.initial.rebalance.delay.ms": "0",
            "log.cleaner.enable": "true",
            "log.cleaner.backoff.ms": "1000",
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            "transaction.remove.expired.transaction.cleanup.interval.ms": "60000",
            "group.consumer.session.timeout.ms": "10000",
            "group.consumer.min.session.timeout.ms": "1000",
            "group.min.session.timeout.ms": "1000",
        }
        props.update(self._extra)
        return props

    # --- lifecycle -----------------------------------------------------------------------

    def start(self) -> Self:
        if self._process is not None and self._process.poll() is None:
            return self
        if shutil.which("java") is None:
            raise KafkaUnavailable("java is not installed: the Kafka broker needs Java 17")
        libs = fetch_jars()
        began = time.monotonic()
        config = self.data_dir / "server.properties"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        config.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        (self.data_dir / "log4j2.xml").write_text(_LOG4J2.format(log=self.log_file))
        classpath = f"{libs}/*"
        java = [
            "java", "-Xms256m", "-Xmx1g", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.xml'}",
            "-cp", classpath,
        ]  # fmt: skip
        if not self._formatted and not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = uuid.uuid4().hex[:22]
            fmt = subprocess.run(
                [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
                capture_output=True,
                text=True,
                check=False,
            )
            if fmt.returncode != 0:
                raise KafkaUnavailable(f"formatting KRaft storage failed:\n{fmt.stderr[-2000:]}")
        self._formatted = True
        with open(self.data_dir / "broker.out", "ab") as out:
            self._process = subprocess.Popen(
                [*java, "kafka.Kafka", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,  # PDEATHSIG: no orphan JVM
            )
        atexit.register(self.stop)
        try:
            self._wait_ready(began)
        except BaseException:
            self.stop()
            raise
        self.started_in_s = time.monotonic() - began
        return self

    def _wait_ready(self, began: float) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        async def probe() -> bool:
            admin = AIOKafkaAdminClient(
                bootstrap_servers=self.bootstrap_servers, request_timeout_ms=3000
            )
            try:
                await admin.start()
                await admin.describe_cluster()
                return True
            except Exception:
                return False
            finally:
                with contextlib.suppress(Exception):
                    await admin.close()

        while time.monotonic() - began < self._start_timeout_s:
            if self._process is None or self._process.poll() is not None:
                raise KafkaUnavailable(f"the broker exited at start:\n{self._log_tail()}")
            if _port_open(self.host, self.port) and _run_sync(probe()):
                return
            time.sleep(0.2)
        raise KafkaUnavailable(
            f"the broker did not answer within {self._start_timeout_s:.0f}s:\n{self._log_tail()}"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(timeout=10)
            self._process = None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _log_tail(self, chars: int = 4000) -> str:
        parts = []
        for name in ("broker.out", "broker.log"):
            path = self.data_dir / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-chars:])
        return "\n".join(parts) or "(no broker log)"

    # --- topics --------------------------------------------------------------------------

    async def create_topics(
        self,
        names: list[str],
        partitions: int = 1,
        *,
        compacted: bool = False,
        config: dict[str, str] | None = None,
    ) -> None:
        await create_topics(
            self.bootstrap_servers, names, partitions, compacted=compacted, config=config
        )


async def create_topics(
    bootstrap_servers: str,
    names: list[str],
    partitions: int = 1,
    *,
    compacted: bool = False,
    config: dict[str, str] | None = None,
    connection: dict[str, Any] | None = None,
) -> None:
    """Create topics that do not exist yet (replication 1: the dev stack has one broker)."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic_config = dict(config or {})
    if compacted:
        topic_config.setdefault("cleanup.policy", "compact")
        topic_config.setdefault("segment.ms", "60000")
        topic_config.setdefault("min.cleanable.dirty.ratio", "0.1")
    options = connection or {"bootstrap_servers": bootstrap_servers}
    admin = AIOKafkaAdminClient(**options)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, partitions, 1, topic_configs=topic_config)
            for name in names
            if name not in existing
        ]
        if wanted:
            await admin.create_topics(wanted)
    finally:
        await admin.close()


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _run_sync(coro: Any) -> Any:
    """Run a coroutine from sync code, inside or outside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: list[Any] = []
    import threading

    thread = threading.Thread(target=lambda: box.append(asyncio.run(coro)))
    thread.start()
    thread.join()
    return box[0] if box else None


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "run"
    try:
        if command == "fetch":
            began = time.monotonic()
            libs = fetch_jars()
            print(f"Kafka {KAFKA_VERSION} jars in {libs} ({time.monotonic() - began:.1f}s)")
            return 0
        if command == "run":
            with LocalKafka() as kafka:
                print(f"Kafka {KAFKA_VERSION} on {kafka.bootstrap_servers}", flush=True)
                print(f"started in {kafka.started_in_s:.1f}s; data in {kafka.data_dir}")
                signal.signal(signal.SIGTERM, signal.default_int_handler)
                with contextlib.suppress(KeyboardInterrupt):
                    while True:
                        time.sleep(3600)
            return 0
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m bridge.devstack.kafka [fetch|run]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
