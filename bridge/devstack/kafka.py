"""A real, single-node Apache Kafka broker (KRaft) for development and tests.

The broker is a set of jars on Maven Central: the first use fetches them with ``mvn`` into a
cache (``~/.cache/smsbridge/kafka/<version>/libs``; ``$SMSBRIDGE_CACHE_DIR`` replaces
``~/.cache/smsbridge``), then a start formats KRaft storage in a data directory (once) and
runs ``kafka.Kafka`` on loopback ports that stay the same across ``stop()``/``start()``.
The JVM dies with the Python process (PR_SET_PDEATHSIG), so a crashed run leaves no broker.

    python -m bridge.devstack.kafka fetch   # download the jars only (CI prefetches)
    python -m bridge.devstack.kafka run     # start a broker, print its address, run until ^C

Version: 4.4.0, the newest release; aiokafka 0.14's transactions pass against it
(tests/integration/test_kafka_broker.py), as they do against 3.9.1. aiokafka speaks v0 of
every transaction API (InitProducerId, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
TxnOffsetCommit), which 4.4 still serves: a new 4.x cluster finalizes transaction.version 2,
but such clients get the v1 protocol. ``$SMSBRIDGE_KAFKA_VERSION`` runs another release.

Single-node choices: topics are never auto-created (a misspelt topic fails instead of
appearing), internal topics have replication 1 and few partitions (a first group or
transaction is ready in well under a second), the log cleaner runs every second so that
compaction of changelog topics can be seen in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import base64
import concurrent.futures
import contextlib
import ctypes
import fcntl
import functools
import hashlib
import os
import queue
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

__all__ = [
    "DEFAULT_KAFKA_VERSION",
    "KafkaUnavailable",
    "Listener",
    "LocalKafka",
    "create_topics",
    "fetch_jars",
    "kafka_version",
]

DEFAULT_KAFKA_VERSION = "4.4.0"
LOG4J_VERSION = "2.24.3"  # Kafka 4.x logs through slf4j 1.7: log4j-slf4j-impl binds it
RELOAD4J_VERSION = "1.2.25"  # 3.9.x: slf4j-reload4j, as Kafka's own 3.9 distribution
SLF4J_1_VERSION = "1.7.36"

_T = TypeVar("_T")


class KafkaUnavailable(RuntimeError):
    """The broker cannot be fetched or started; the message says why."""


def kafka_version() -> str:
    return os.environ.get("SMSBRIDGE_KAFKA_VERSION") or DEFAULT_KAFKA_VERSION


def _major(version: str) -> int:
    return int(version.split(".", 1)[0])


# --- fetching the jars --------------------------------------------------------------------


def cache_root() -> Path:
    base = os.environ.get("SMSBRIDGE_CACHE_DIR")
    return (Path(base) if base else Path.home() / ".cache" / "smsbridge") / "kafka"


def libs_dir(version: str | None = None) -> Path:
    return cache_root() / (version or kafka_version()) / "libs"


# Written last into a fetched libs dir: without it the directory is not a cache.
_COMPLETE = ".complete"


def _logging_dependencies(version: str) -> list[tuple[str, str, str]]:
    # Kafka's POMs carry only slf4j-api; without a binding the broker logs nothing.
    if _major(version) >= 4:
        group = "org.apache.logging.log4j"
        return [
            (group, "log4j-slf4j-impl", LOG4J_VERSION),
            (group, "log4j-api", LOG4J_VERSION),
            (group, "log4j-core", LOG4J_VERSION),
        ]
    return [
        ("org.slf4j", "slf4j-reload4j", SLF4J_1_VERSION),
        ("ch.qos.reload4j", "reload4j", RELOAD4J_VERSION),
    ]


def _pom(version: str) -> str:
    deps = [("org.apache.kafka", "kafka_2.13", version), *_logging_dependencies(version)]
    body = "\n".join(
        f"    <dependency><groupId>{g}</groupId><artifactId>{a}</artifactId>"
        f"<version>{v}</version></dependency>"
        for g, a, v in deps
    )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>smsbridge.devstack</groupId><artifactId>kafka-broker</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        f"  <dependencies>\n{body}\n  </dependencies>\n</project>\n"
    )


def _is_complete(libs: Path) -> bool:
    return (libs / _COMPLETE).is_file()


def fetch_jars(version: str | None = None, *, quiet: bool = True) -> Path:
    """The broker's jars, fetched from Maven Central once; returns the libs directory.

    The download goes to a temporary directory beside the cache and is renamed into place
    only when complete; a lock file keeps two processes from fetching at once.
    """
    version = version or kafka_version()
    libs = libs_dir(version)
    if _is_complete(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaUnavailable(
            f"mvn (Apache Maven) is not installed: it fetches the Kafka {version} broker jars"
            " from Maven Central (Debian: apt-get install maven)"
        )
    home = libs.parent
    home.mkdir(parents=True, exist_ok=True)
    with open(home / ".fetch.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _is_complete(libs):  # another process fetched while we waited
            return libs
        for stale in home.glob(".fetch-*"):  # left by a fetch that was killed: we hold the lock
            shutil.rmtree(stale, ignore_errors=True)
        with tempfile.TemporaryDirectory(dir=home, prefix=".fetch-") as tmp:
            work = Path(tmp)
            (work / "pom.xml").write_text(_pom(version))
            command = [mvn, "-B", "-Dstyle.color=never", "-f", str(work / "pom.xml")]
            if quiet:
                command.append("-q")
            command += [
                "dependency:copy-dependencies",
                "-DincludeScope=runtime",
                f"-DoutputDirectory={work / 'libs'}",
            ]
            try:
                result = subprocess.run(
                    command, capture_output=quiet, text=True, check=False, timeout=1800
                )
            except subprocess.TimeoutExpired as exc:
                raise KafkaUnavailable(f"mvn did not fetch Kafka {version} in 30 min") from exc
            if result.returncode != 0:
                tail = ((result.stdout or "") + (result.stderr or ""))[-3000:]
                raise KafkaUnavailable(f"mvn could not fetch Kafka {version}:\n{tail}")
            jars = sorted(p.name for p in (work / "libs").glob("*.jar"))
            if f"kafka_2.13-{version}.jar" not in jars:
                raise KafkaUnavailable(f"mvn ran but kafka_2.13-{version}.jar is not there")
            (work / "libs" / _COMPLETE).write_text("\n".join(jars) + "\n")
            if libs.exists():  # an unfinished cache from an older layout: replace it
                shutil.rmtree(libs)
            (work / "libs").rename(libs)
    return libs


# --- Java ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Java:
    path: str
    major: int
    build: str  # identifies the JVM build: a class-data archive is valid for one build only
    # The JDK's base CDS archive loads. Without it -XX:ArchiveClassesAtExit stops the JVM
    # at start ("DynamicDumpSharedSpaces is unsupported"), so then no archive is used.
    cds: bool


@functools.cache
def _java_info(java: str) -> _Java:
    probe = [java, "-Xshare:on", "-Xmx1g", "-version"]  # the broker's heap: same base archive
    out = subprocess.run(probe, capture_output=True, text=True, check=False)
    cds = out.returncode == 0
    if not cds:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    major = int(match.group(1)) if match else 0
    if major == 1 and match:  # "1.8.0" is Java 8
        major = int(match.group(2) or 0)
    build = hashlib.sha256(f"{os.path.realpath(java)}\n{text}".encode()).hexdigest()[:12]
    return _Java(java, major, build, cds)


def _find_java(version: str) -> _Java:
    java = shutil.which("java")
    if java is None:
        raise KafkaUnavailable(
            f"java is not installed: the Kafka {version} broker needs a Java runtime"
            " (17+; Debian: apt-get install openjdk-17-jre-headless)"
        )
    needed = 17 if _major(version) >= 4 else 11
    info = _java_info(java)
    if info.major < needed:
        raise KafkaUnavailable(f"Kafka {version} needs Java {needed}+, {java} is Java {info.major}")
    return info


# --- the JVM's life is bound to ours ------------------------------------------------------

_PR_SET_PDEATHSIG = 1


@functools.cache
def _libc() -> ctypes.CDLL:
    # Loaded before fork: dlopen in the child of a threaded process can deadlock.
    return ctypes.CDLL(None, use_errno=True)


def _die_with_parent(parent_pid: int, prctl: Any) -> Callable[[], None]:
    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os._exit(1)

    return setup


class _Spawner:
    """Starts child processes from one long-lived daemon thread.

    PR_SET_PDEATHSIG fires when the *thread* that forked the child ends, not the process: a
    JVM started from a pooled worker thread (``asyncio.to_thread``) would be killed when
    that worker retires. A daemon thread lives until the process itself ends.
    """

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def call(self, job: Callable[[], _T]) -> _T:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="kafka-jvm-spawner", daemon=True
                )
                self._thread.start()
        done: concurrent.futures.Future[_T] = concurrent.futures.Future()
        self._jobs.put((job, done))
        return done.result()

    def _run(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:
                done.set_exception(exc)


_spawner = _Spawner()


# --- ports and listeners ------------------------------------------------------------------


def pick_port(host: str = "127.0.0.1", *, tries: int = 200) -> int:
    """A free port below Linux's ephemeral range (32768+).

    An ephemeral port could be taken by some outgoing connection while the broker is
    stopped, and the restart could then not bind it again. 10000-20000 also keeps clear of
    the HTTP simulator's 20000-32000.
    """
    for _ in range(tries):
        port = random.randrange(10000, 20000)
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host, port))
            except OSError:
                continue
            return port
    raise KafkaUnavailable(f"no free port on {host} between 10000 and 20000")


@dataclass(frozen=True)
class Listener:
    """One listener of the broker. SSL / SASL_SSL listeners are later additions of this."""

    name: str
    host: str
    port: int
    security_protocol: str = "PLAINTEXT"

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# --- log configuration --------------------------------------------------------------------

# Everything goes to broker.log in the data dir: the console stays quiet, and the tail of
# the file explains a failed start. No log4j shutdown hook: it would stop logging before
# Kafka's own hook has logged its shutdown.
_LOG4J2 = """<Configuration status="warn" shutdownHook="disable">
  <Appenders>
    <File name="file" fileName="{log}" append="true">
      <PatternLayout pattern="%d{{HH:mm:ss.SSS}} %-5p [%c{{1}}] %m%n"/>
    </File>
  </Appenders>
  <Loggers>
    <Root level="info"><AppenderRef ref="file"/></Root>
    <Logger name="kafka.request.logger" level="warn"/>
    <Logger name="state.change.logger" level="warn"/>
    <Logger name="org.apache.kafka.common.config.AbstractConfig" level="warn"/>
    <Logger name="org.apache.kafka.common.utils.AppInfoParser" level="warn"/>
    <Logger name="org.apache.kafka.clients" level="warn"/>
  </Loggers>
</Configuration>
"""

_LOG4J1 = """log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File={log}
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=%d{{HH:mm:ss,SSS}} %-5p [%c{{1}}] %m%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.common.config.AbstractConfig=WARN
log4j.logger.org.apache.kafka.clients=WARN
"""


# --- the broker ---------------------------------------------------------------------------


class LocalKafka:
    """One KRaft broker+controller on loopback. ``start`` returns once it answers metadata.

    ``stop()`` then ``start()`` restarts it on the same data and ports. Use as a context
    manager (sync or async), or call ``start``/``stop``/``close`` yourself.
    """

    NODE_ID = 1

    def __init__(
        self,
        data_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        controller_port: int | None = None,
        version: str | None = None,
        start_timeout_s: float = 120.0,
        stop_timeout_s: float = 30.0,
        extra_properties: Mapping[str, str] | None = None,
        jvm_options: Iterable[str] = (),
        class_data_sharing: bool = True,
    ) -> None:
        self._own_dir = data_dir is None
        self.data_dir = (
            Path(tempfile.mkdtemp(prefix="smsbridge-kafka-"))
            if data_dir is None
            else Path(data_dir)
        )
        self.host = host
        self.version = version or kafka_version()
        # A data dir used before keeps its addresses, so `run --data-dir` restarts in place.
        known = _ports_in(self.config_file)
        self.port = port or known.get("PLAINTEXT") or pick_port(host)
        self.controller_port = controller_port or known.get("CONTROLLER") or 0
        while not self.controller_port or self.controller_port == self.port:
            self.controller_port = pick_port(host)
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s
        self._extra = dict(extra_properties or {})
        self._jvm_options = list(jvm_options)
        self.class_data_sharing = class_data_sharing
        self._archive_dump: Path | None = None
        self._ready = False
        self._process: subprocess.Popen[bytes] | None = None
        self.started_in_s: float | None = None

    # --- addresses and settings ----------------------------------------------------------

    def listeners(self) -> list[Listener]:
        """Every listener; the first is the one clients use. The only place they are set."""
        return [
            Listener("PLAINTEXT", self.host, self.port),
            Listener("CONTROLLER", self.host, self.controller_port),
        ]

    @property
    def client_listener(self) -> Listener:
        return self.listeners()[0]

    @property
    def bootstrap_servers(self) -> str:
        return self.client_listener.address

    def connection_options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client of this broker."""
        listener = self.client_listener
        return {
            "bootstrap_servers": listener.address,
            "security_protocol": listener.security_protocol,
        }

    @property
    def config_file(self) -> Path:
        return self.data_dir / "server.properties"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    def _listener_properties(self) -> dict[str, str]:
        listeners = self.listeners()
        controller = next(x for x in listeners if x.name == "CONTROLLER")
        brokers = [x for x in listeners if x.name != "CONTROLLER"]
        return {
            "listeners": ",".join(f"{x.name}://{x.address}" for x in listeners),
            "advertised.listeners": ",".join(f"{x.name}://{x.address}" for x in brokers),
            "listener.security.protocol.map": ",".join(
                f"{x.name}:{x.security_protocol}" for x in listeners
            ),
            "controller.listener.names": controller.name,
            "inter.broker.listener.name": brokers[0].name,
            # Voters, not bootstrap servers: then format needs no --standalone.
            "controller.quorum.voters": f"{self.NODE_ID}@{controller.address}",
        }

    def properties(self) -> dict[str, str]:
        """The broker's server.properties: one node, loopback, test-friendly timings."""
        props = {
            "process.roles": "broker,controller",
            "node.id": str(self.NODE_ID),
            **self._listener_properties(),
            "log.dirs": str(self.log_dir),
            "auto.create.topics.enable": "false",
            "num.partitions": "1",
            "default.replication.factor": "1",
            "min.insync.replicas": "1",
            # Internal topics: one replica, few partitions (the default 50 each is slow to
            # create and buys nothing on one node).
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "4",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "transaction.state.log.num.partitions": "4",
            # After a crash (kill()) the restarted broker cannot register until its old
            # session expires: 3 s instead of 9 s. Heartbeats every 0.5 s keep a live broker
            # well inside that on a busy 2-core machine.
            "broker.heartbeat.interval.ms": "500",
            "broker.session.timeout.ms": "3000",
            "group.initial.rebalance.delay.ms": "0",
            "group.min.session.timeout.ms": "1000",
            # Timed-out transactions are aborted within a second, not ten.
            "transaction.abort.timed.out.transaction.cleanup.interval.ms": "1000",
            # Changelog topics are compacted: keep the cleaner on and prompt, and small.
            "log.cleaner.enable": "true",
            "log.cleaner.threads": "1",
            "log.cleaner.backoff.ms": "1000",
            "log.cleaner.dedupe.buffer.size": str(16 * 1024 * 1024),
            "log.segment.bytes": str(16 * 1024 * 1024),
            "num.network.threads": "2",
            "num.io.threads": "4",
            "num.recovery.threads.per.data.dir": "1",
        }
        if _major(self.version) >= 4:
            props["share.coordinator.state.topic.replication.factor"] = "1"
            props["share.coordinator.state.topic.min.isr"] = "1"
        props.update(self._extra)
        return props

    # --- lifecycle -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self.running and self._process else None

    def start(self) -> Self:
        """Start (or restart on the same data and ports); returns once metadata is served."""
        if self.running:
            return self
        began = time.monotonic()
        java = _find_java(self.version)
        libs = fetch_jars(self.version)
        deadline = time.monotonic() + self.start_timeout_s  # not counting the first fetch
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in self.properties().items()))
        command = [java.path, *self._java_options(), "-cp", f"{libs}/*"]
        archive = self._class_archive(java, libs)
        self._archive_dump = None
        if archive is not None and archive.is_file():
            command.insert(1, f"-XX:SharedArchiveFile={archive}")
        if not (self.log_dir / "meta.properties").exists():
            self._format(command)
        if archive is not None and not archive.is_file():
            # The first clean stop writes the archive: later starts load ~40% faster.
            self._archive_dump = archive.with_name(f"{archive.name}.{uuid.uuid4().hex[:8]}.tmp")
            command[1:1] = [f"-XX:ArchiveClassesAtExit={self._archive_dump}", "-Xlog:cds=off"]
        out = open(self.data_dir / "broker.out", "ab")  # noqa: SIM115 - the JVM keeps it
        try:
            prctl = _libc().prctl
            self._process = _spawner.call(
                lambda: subprocess.Popen(
                    [*command, "kafka.Kafka", str(self.config_file)],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    process_group=0,  # ^C on a terminal reaches us, and we stop it in order
                    preexec_fn=_die_with_parent(os.getpid(), prctl),
                )
            )
        finally:
            out.close()
        self._ready = False
        atexit.register(self.stop)
        try:
            _run_sync(lambda: self._wait_ready(deadline))
        except BaseException:
            self.stop()
            raise
        self._ready = True
        self.started_in_s = time.monotonic() - began
        return self

    def _class_archive(self, java: _Java, libs: Path) -> Path | None:
        """AppCDS archive of the broker's classes, one per Kafka version and JVM build."""
        if not (self.class_data_sharing and java.cds):
            return None
        # Inside libs: a new fetch (other jar mtimes, which CDS checks) starts a new archive.
        # The classpath wildcard only takes *.jar, so these files do not end up on it.
        archive = libs / f"classes-{java.build}.jsa"
        for stale in libs.glob("classes-*.jsa.*.tmp"):  # left by killed JVMs
            with contextlib.suppress(OSError):
                if time.time() - stale.stat().st_mtime > 3600:
                    stale.unlink()
        return archive

    def _keep_class_archive(self, process: subprocess.Popen[bytes], clean: bool) -> None:
        dump, self._archive_dump = self._archive_dump, None
        if dump is None:
            return
        with contextlib.suppress(OSError):
            if clean and dump.is_file() and dump.stat().st_size > 0:
                os.replace(dump, dump.with_name(dump.name.split(".jsa.", 1)[0] + ".jsa"))
            else:
                dump.unlink(missing_ok=True)

    def _java_options(self) -> list[str]:
        if _major(self.version) >= 4:
            log_config = self.data_dir / "log4j2.xml"
            log_config.write_text(_LOG4J2.format(log=self.log_file))
            logging = [f"-Dlog4j2.configurationFile={log_config}"]
        else:
            log_config = self.data_dir / "log4j.properties"
            log_config.write_text(_LOG4J1.format(log=self.log_file))
            logging = [f"-Dlog4j.configuration=file:{log_config}"]
        return [
            "-Xms512m",
            "-Xmx1g",
            # Serial GC: fewer threads on a 2-core machine; C2 stays on for throughput.
            "-XX:+UseSerialGC",
            "-XX:+ExitOnOutOfMemoryError",
            "-Djava.awt.headless=true",
            *logging,
            *self._jvm_options,
        ]

    def _format(self, command: list[str]) -> None:
        cluster_id = _cluster_id()
        result = subprocess.run(
            [*command, "kafka.tools.StorageTool", "format", "-t", cluster_id,
             "-c", str(self.config_file)],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )  # fmt: skip
        if result.returncode != 0:
            raise KafkaUnavailable(
                f"formatting KRaft storage in {self.log_dir} failed:\n"
                f"{(result.stdout + result.stderr)[-3000:]}"
            )

    async def _wait_ready(self, deadline: float) -> None:
        from aiokafka.admin import AIOKafkaAdminClient

        while True:
            if not self.running:
                raise KafkaUnavailable(
                    f"the Kafka {self.version} broker exited while starting"
                    f" (see {self.data_dir}):\n{self.log_tail()}"
                )
            # A TCP probe first: aiokafka logs an error for every refused bootstrap.
            if _port_open(self.host, self.port):
                admin = AIOKafkaAdminClient(**self.connection_options(), request_timeout_ms=5000)
                try:
                    await admin.start()
                    cluster = await admin.describe_cluster()
                    if any(b["node_id"] == self.NODE_ID for b in cluster["brokers"]):
                        return
                except Exception:  # not ready yet: retried until the deadline
                    pass
                finally:
                    with contextlib.suppress(Exception):
                        await admin.close()
            if time.monotonic() > deadline:
                raise KafkaUnavailable(
                    f"the Kafka {self.version} broker on {self.bootstrap_servers} did not"
                    f" answer a metadata request within {self.start_timeout_s:.0f}s"
                    f" (see {self.data_dir}):\n{self.log_tail()}"
                )
            await asyncio.sleep(0.25)

    def stop(self) -> None:
        """SIGTERM (a clean shutdown, data flushed), then SIGKILL if it takes too long."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is None:
            return
        if process.poll() is None:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=self.stop_timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait(timeout=30)
        _signal_group(process, signal.SIGKILL)  # anything the JVM itself started
        # Only an archive of a broker that got to serve has all the classes worth keeping.
        self._keep_class_archive(process, clean=self._ready and process.returncode in (0, 143))

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would. ``start`` recovers the logs."""
        process, self._process = self._process, None
        atexit.unregister(self.stop)
        if process is not None:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=30)
            self._keep_class_archive(process, clean=False)

    def close(self) -> None:
        """Stop, and delete the data dir if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    # A failed start keeps its data dir: the error message points to its logs.
    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.close)

    def log_tail(self, lines: int = 40) -> str:
        parts = []
        for path in (self.data_dir / "broker.out", self.log_file):
            if path.exists() and path.stat().st_size:
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                parts.append(f"--- {path.name} (last {len(tail)} lines)\n" + "\n".join(tail))
        return "\n".join(parts) or "(the broker wrote no log)"

    # --- topics --------------------------------------------------------------------------

    async def create_topics(
        self,
        names: Iterable[str],
        partitions: int = 1,
        *,
        compacted: bool = False,
        config: Mapping[str, str] | None = None,
    ) -> None:
        """Create topics (existing ones are left as they are); returns once they have leaders."""
        await create_topics(
            self.connection_options(), names, partitions, compacted=compacted, config=config
        )

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"LocalKafka({self.version}, {self.bootstrap_servers}, {state}, {self.data_dir})"


_TOPIC_ALREADY_EXISTS = 36


async def create_topics(
    connection: Mapping[str, Any],
    names: Iterable[str],
    partitions: int = 1,
    *,
    compacted: bool = False,
    config: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
) -> None:
    """Create topics with replication 1 and wait until every partition has a leader.

    aiokafka's admin client returns per-topic errors without raising: they are checked here.
    """
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    wanted = list(names)
    if not wanted:
        return
    topic_config = dict(config or {})
    if compacted:
        topic_config.setdefault("cleanup.policy", "compact")
        # Roll segments often and clean early, so that compaction happens within a test.
        topic_config.setdefault("segment.ms", "60000")
        topic_config.setdefault("min.cleanable.dirty.ratio", "0.1")
    admin = AIOKafkaAdminClient(**connection)
    await admin.start()
    try:
        response = await admin.create_topics(
            [NewTopic(name, partitions, 1, topic_configs=topic_config) for name in wanted],
            timeout_ms=int(timeout_s * 1000),
        )
        failures = [
            f"{error[0]}: error {error[1]} {error[2] if len(error) > 2 else ''}".rstrip()
            for error in response.topic_errors
            if error[1] not in (0, _TOPIC_ALREADY_EXISTS)
        ]
        if failures:
            raise RuntimeError("could not create topics: " + "; ".join(failures))
        deadline = time.monotonic() + timeout_s
        while True:
            described = await admin.describe_topics(wanted)
            if all(
                topic["error_code"] == 0
                and topic["partitions"]
                and all(p["leader"] >= 0 for p in topic["partitions"])
                for topic in described
            ):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"topics without leaders after {timeout_s}s: {described}")
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


# --- helpers ------------------------------------------------------------------------------


def _cluster_id() -> str:
    # As `kafka-storage random-uuid`: 16 random bytes, URL-safe base64, no padding, and never
    # a leading "-" (the format command would take it for an option).
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def _ports_in(config_file: Path) -> dict[str, int]:
    """Listener name -> port, from an earlier run's server.properties (if any)."""
    if not config_file.is_file():
        return {}
    for line in config_file.read_text().splitlines():
        if line.startswith("listeners="):
            found = re.findall(r"(\w+)://[^,]*:(\d+)", line)
            return {name: int(port) for name, port in found}
    return {}


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    # The JVM leads its own process group (process_group=0), so its pid is the group id.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def _run_sync(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to the end from sync code, even when this thread runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="kafka-wait") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()


# --- command line -------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bridge.devstack.kafka",
        description="A local single-node Kafka broker (KRaft) from Maven Central jars.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("fetch", help="download the broker jars into the cache, then exit")
    run = commands.add_parser("run", help="start a broker and run it until Ctrl-C")
    run.add_argument("--data-dir", type=Path, help="keep data here (default: a temp dir)")
    run.add_argument("--port", type=int, help="client port (default: a free one)")
    args = parser.parse_args(argv)
    version = kafka_version()
    try:
        if args.command == "fetch":
            began = time.monotonic()
            libs = fetch_jars(version)
            print(f"Kafka {version} jars in {libs} ({time.monotonic() - began:.1f}s)")
            return 0
        broker = LocalKafka(args.data_dir, port=args.port, version=version)
        # Both end the loop below as KeyboardInterrupt; SIGINT explicitly because a shell
        # starts background jobs with it ignored.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt), broker:
            print(f"Kafka {version} on {broker.bootstrap_servers}", flush=True)
            print(f"started in {broker.started_in_s:.1f}s; data and logs in {broker.data_dir}")
            print("Ctrl-C stops it", flush=True)
            while broker.running:
                time.sleep(1)
            print(f"the broker exited:\n{broker.log_tail()}", file=sys.stderr)
            return 1
        return 0
    except KafkaUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
