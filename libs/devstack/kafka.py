"""A real Apache Kafka broker, single node in KRaft mode (combined broker + controller).

Its jars are resolved by Maven from the pinned ``deploy/kafka/pom.xml`` into a gitignored cache;
the storage is formatted once (``kafka.tools.StorageTool format``), then ``kafka.Kafka`` runs with
a capped heap, bound to 127.0.0.1, with ``auto.create.topics.enable=false`` so every topic comes
from the catalogue.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from libs.config import REPO_ROOT
from libs.devstack.errors import StackError
from libs.devstack.procs import pid_alive, port_open, read_pid, stop_pid, wait_for

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"


def kafka_version() -> str:
    m = re.search(r"<kafka.version>([^<]+)</kafka.version>", POM.read_text())
    assert m, "deploy/kafka/pom.xml must define kafka.version"
    return m.group(1)


def check_java() -> None:
    java = shutil.which("java")
    if java is None:
        raise StackError("Java 17 or newer is needed to run Kafka locally: install a JDK "
                         "(for example `apt-get install openjdk-17-jre-headless`).")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    m = re.search(r'version "(\d+)', out)
    if m and int(m.group(1)) < 17:
        raise StackError(f"Kafka 4 needs Java 17 or newer, but `java` is version {m.group(1)}: "
                         "install a newer JDK (for example `apt-get install openjdk-17-jre-headless`).")


def ensure_jars(cache_dir: Path, progress=None) -> Path:
    """Resolve the pinned Kafka jars into ``cache_dir``; return the folder of jars."""
    libs = cache_dir / "kafka" / kafka_version() / "libs"
    if (libs / ".complete").exists():
        return libs
    check_java()
    mvn = shutil.which("mvn")
    if mvn is None:
        raise StackError("Maven is needed to fetch the pinned Kafka jars: install it "
                         "(for example `apt-get install maven`).")
    if progress:
        progress(f"resolving Apache Kafka {kafka_version()} with Maven (first run only)")
    tmp = libs.with_name("libs.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    res = subprocess.run(
        [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
         f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"],
        capture_output=True, text=True,
    )
    if res.returncode != 0:
        raise StackError("Maven could not resolve the Kafka jars:\n" + (res.stdout + res.stderr)[-2000:])
    shutil.rmtree(libs, ignore_errors=True)
    tmp.rename(libs)
    (libs / ".complete").touch()
    return libs


@dataclass
class LocalKafka:
    data_dir: Path
    port: int
    controller_port: int
    cache_dir: Path
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.data_dir / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "kafka.pid"

    def _properties(self) -> Path:
        props = self.data_dir / "server.properties"
        props.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                "inter.broker.listener.name=PLAINTEXT",
                f"log.dirs={self.data_dir / 'data'}",
                "auto.create.topics.enable=false",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "num.partitions=1",
                "",
            ])
        )
        return props

    def _format_args(self) -> list[str]:
        """Extra arguments for the storage format (a secured broker adds its SCRAM users)."""
        return []

    def pid(self) -> int | None:
        return read_pid(self.pid_file)

    def running(self) -> bool:
        return self.pid() is not None and port_open(self.port)

    def start(self, progress=None, timeout_s: float = 90) -> None:
        if self.running():
            return
        check_java()
        libs = ensure_jars(self.cache_dir, progress)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        classpath = f"{libs}/*"
        log4j = REPO_ROOT / "deploy" / "kafka" / "log4j2.properties"
        jvm = ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
               "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true",
               f"-Dlog4j2.configurationFile={log4j}", f"-Dkafka.logs.dir={self.data_dir}",
               "-cp", classpath]
        if not (self.data_dir / "data" / "meta.properties").exists():
            if progress:
                progress("formatting Kafka storage (KRaft)")
            res = subprocess.run(
                jvm + ["kafka.tools.StorageTool", "format", f"--cluster-id={_cluster_id()}", "-c", str(props),
                       "--standalone", "--ignore-formatted", *self._format_args()],
                capture_output=True, text=True,
            )
            if res.returncode != 0:
                raise StackError("Kafka storage format failed: " + (res.stdout + res.stderr)[-2000:])
        if progress:
            progress(f"starting Kafka {kafka_version()} on {self.bootstrap}")
        with open(self.log, "ab") as out:
            proc = subprocess.Popen(jvm + ["kafka.Kafka", str(props)], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)
        self.pid_file.write_text(str(proc.pid))
        self._proc = proc
        wait_for(lambda: port_open(self.port) or not pid_alive(proc.pid), timeout_s,
                 "Kafka", self.log)
        if not pid_alive(proc.pid):
            raise StackError("Kafka exited during start-up; see " + str(self.log) + "\n"
                             + "\n".join(self.log.read_text(errors="replace").splitlines()[-25:]))

    def stop(self) -> None:
        """Controlled shutdown (SIGTERM): the broker flushes and deregisters."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, signal.SIGTERM, timeout_s=60)

    def kill(self) -> None:
        """kill -9: the broker dies as in a power cut."""
        pid = self.pid()
        if pid is not None:
            stop_pid(pid, signal.SIGKILL, timeout_s=10)

    def status(self) -> str:
        return f"running (pid {self.pid()}) on {self.bootstrap}" if self.running() else "stopped"


def _cluster_id() -> str:
    import base64

    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
