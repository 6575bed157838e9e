"""``make demo``: the whole MyRetail product on this machine — CPU only, no keys, no network.

Stages (each prints its progress; what an earlier run built is reused):

1. build the tiny Llama-architecture base model          -> var/tiny-base/
2. fine-tune the Loyalty Program adapter and publish it  -> var/model-store/<model>/<tag>/
3. load the product catalog into embedded Qdrant         -> var/qdrant/
4. start the inference service (the fine-tuned model)    -> :8000  (INFERENCE_PORT)
5. start the RAG API (Shopping assistant)                -> :8080  (RAG_API_PORT)
6. start the chatbot UI                                  -> :7860  (UI_PORT)

Services run as child processes with their logs in var/logs/. The script waits for each
one's ``/readyz``, prints the URLs and keeps running; Ctrl-C (or SIGTERM) stops every
process it started. ``--check`` starts the stack, asks each assistant one question and
stops again (CI smoke test); ``--build-only`` runs stages 1-3.

Everything runs through the services' own console scripts, exactly as in their images:
this script imports none of the services, only ``myretail_common`` and the dev kit's
process supervisor (``myretail_testkit.processes``).

Environment: ``INFERENCE_PORT``, ``RAG_API_PORT``, ``UI_PORT`` (and ``UI_METRICS_PORT``, the
UI's ``/metrics``, kept off its public port) move the services;
``DEMO_VAR_DIR`` moves var/; ``DEMO_CHAT_PROVIDER`` (``none``, the default, or ``openai``
= the local inference service) picks the Shopping assistant's chat model; ``DEMO_HOST``
is the listen address (127.0.0.1). Training settings of ``myretail-finetune`` (e.g.
``MAX_STEPS``) pass through and are part of the adapter's tag, so changing them retrains.

``DEMO_ADAPTER_URI`` (``<model store URI>/<model>/<tag>``, e.g.
``file:///tmp/run/store/loyalty-assistant/v1``) serves an adapter that is already
published instead of stages 1-2: nothing is built or trained, both stages say "reused",
and the inference service loads that tag (on the base its manifest names). The
end-to-end tests pass the test session's adapter this way, so they train nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import hashlib
import json
import os
import shutil
import signal
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from myretail_common.model_store import ModelStore
from myretail_common.ports import PortInUseError, ensure_port_free
from myretail_common.storage import Storage
from myretail_testkit.processes import (
    LOG_HEADER,
    ProcessError,
    Supervised,
    display_path,
    http_ok,
    http_status,
    log_tail,
    stop_all,
    wait_all_ready,
)
from myretail_testkit.rag import BOOK_QUESTION

ROOT = Path(__file__).resolve().parents[1]

MODEL_NAME = "loyalty-assistant"
CATALOG = Path("data/catalog.csv")
TRAIN_FILE = Path("data/loyalty_qa_train.jsonl")
EVAL_FILE = Path("data/loyalty_qa_val.jsonl")
POLICY = Path("docs/myelite-program.md")

# Settings of myretail-finetune that change the trained adapter: part of its tag.
TRAINING_KNOBS = (
    "FINETUNE_PROFILE",
    "FINETUNE_METHOD",
    "LEARNING_RATE",
    "MAX_STEPS",
    "NUM_TRAIN_EPOCHS",
    "BATCH_SIZE",
    "GRADIENT_ACCUMULATION_STEPS",
    "LR_SCHEDULER_TYPE",
    "WARMUP_RATIO",
    "MAX_SEQ_LENGTH",
    "LORA_R",
    "LORA_ALPHA",
    "LORA_DROPOUT",
    "SEED",
)
# Variables that would point a child at something other than the local stack.
NOT_INHERITED = (
    "PORT",
    "METRICS_PORT",
    "QDRANT_ENDPOINT",
    "QDRANT_API_KEY",
    "MODEL_ASSETS_BUCKET",
    "BASE_MODEL",
)
STOP_GRACE_SECONDS = 15.0


class DemoError(Exception):
    """A stage failed; the message says which and where its log is."""


class ConfigError(DemoError):
    """The demo's settings (ports, variables) are wrong; nothing was started."""


@dataclass(frozen=True)
class PublishedTag:
    """An adapter tag that is already published: ``<store_uri>/<model>/<tag>``."""

    store_uri: str
    model: str
    tag: str

    @classmethod
    def parse(cls, uri: str) -> PublishedTag:
        parts = uri.strip().rstrip("/").rsplit("/", 2)
        if len(parts) != 3 or "://" not in parts[0] or not all(parts):
            raise ConfigError(
                f"DEMO_ADAPTER_URI={uri!r} is not <model store URI>/<model>/<tag> "
                "(e.g. file:///tmp/store/loyalty-assistant/v1)"
            )
        return cls(*parts)

    def show(self) -> str:
        """Its local folder for a file:// store (shorter), else its URI."""
        uri = f"{self.store_uri}/{self.model}/{self.tag}"
        if uri.startswith("file://"):
            return display_path(Path(urllib.request.url2pathname(uri[len("file://") :])))
        return uri


# ---------------------------------------------------------------------------- settings


def _port(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


@dataclass
class DemoConfig:
    """Where the stack keeps its files and which ports it listens on."""

    root: Path = ROOT
    var_dir: Path = ROOT / "var"
    host: str = "127.0.0.1"
    inference_port: int = 8000
    rag_port: int = 8080
    ui_port: int = 7860
    ui_metrics_port: int = 9090
    chat_provider: str = "none"
    model_name: str = MODEL_NAME
    prebuilt_adapter: PublishedTag | None = None
    bin_dir: Path = field(default_factory=lambda: Path(sys.executable).parent)
    ready_timeout_seconds: float = 600.0
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, **overrides: Any) -> DemoConfig:
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("DEMO_VAR_DIR") or ROOT / "var")
        values: dict[str, Any] = {
            "var_dir": var_dir if var_dir.is_absolute() else ROOT / var_dir,
            "host": env.get("DEMO_HOST") or "127.0.0.1",
            "inference_port": _port(env, "INFERENCE_PORT", 8000),
            "rag_port": _port(env, "RAG_API_PORT", 8080),
            "ui_port": _port(env, "UI_PORT", 7860),
            "ui_metrics_port": _port(env, "UI_METRICS_PORT", 9090),
            "chat_provider": env.get("DEMO_CHAT_PROVIDER") or "none",
            "env": env,
        }
        if env.get("DEMO_ADAPTER_URI"):
            adapter = PublishedTag.parse(env["DEMO_ADAPTER_URI"])
            values |= {"prebuilt_adapter": adapter, "model_name": adapter.model}
        values.update({key: value for key, value in overrides.items() if value is not None})
        config = cls(**values)
        if config.chat_provider not in ("none", "openai"):
            raise ConfigError("DEMO_CHAT_PROVIDER must be 'none' (retrieval-only) or 'openai'")
        return config

    # Paths under var/.
    @property
    def tiny_base(self) -> Path:
        return self.var_dir / "tiny-base"

    @property
    def model_store(self) -> Path:
        return self.var_dir / "model-store"

    @property
    def store_uri(self) -> str:
        if self.prebuilt_adapter is not None:
            return self.prebuilt_adapter.store_uri
        return self.model_store.resolve().as_uri()

    @property
    def qdrant_path(self) -> Path:
        return self.var_dir / "qdrant"

    @property
    def logs(self) -> Path:
        return self.var_dir / "logs"

    @property
    def stamps(self) -> Path:
        return self.var_dir / "stamps"

    @property
    def connect_host(self) -> str:
        """Where clients reach the services (a wildcard listen address means loopback)."""
        return "127.0.0.1" if self.host in ("0.0.0.0", "", "::") else self.host  # noqa: S104

    def url(self, port: int) -> str:
        return f"http://{self.connect_host}:{port}"

    @property
    def ports(self) -> dict[str, int]:
        """Each port with the variable that moves it."""
        return {
            "INFERENCE_PORT": self.inference_port,
            "RAG_API_PORT": self.rag_port,
            "UI_PORT": self.ui_port,
            "UI_METRICS_PORT": self.ui_metrics_port,  # the UI's /metrics, off its public port
        }


def sha256_files(*paths: Path, extra: str = "") -> str:
    digest = hashlib.sha256(extra.encode())
    for path in paths:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


# ---------------------------------------------------------------------------- progress


class Progress:
    """Stage headers, heartbeat lines while something runs, and timings."""

    def __init__(self, out: IO[str] | None = None, heartbeat_seconds: float = 10.0) -> None:
        self.out = out or sys.stdout
        self.tty = self.out.isatty()
        self.heartbeat_seconds = heartbeat_seconds
        self.started = time.monotonic()
        self._last_beat = 0.0
        self._beat_shown = False

    def line(self, text: str) -> None:
        self._end_beat()
        print(text, file=self.out, flush=True)

    def stage(self, number: int, total: int, title: str) -> None:
        self.line(f"[{number}/{total}] {title}")
        self._last_beat = time.monotonic()

    def detail(self, text: str) -> None:
        self.line(f"      {text}")

    def beat(self, started: float, status: str) -> None:
        """Show that a long step is alive: elapsed time and its latest log line."""
        now = time.monotonic()
        elapsed = f"{now - started:5.0f}s"
        status = " ".join(status.split())
        if self.tty:
            width = shutil.get_terminal_size((100, 20)).columns - 16
            text = f"\r      … {elapsed}  {status[: max(width, 20)]}"
            print(f"{text}\x1b[K", end="", file=self.out, flush=True)
            self._beat_shown = True
        elif now - self._last_beat >= self.heartbeat_seconds:
            print(f"      … {elapsed}  {status[:120]}", file=self.out, flush=True)
            self._last_beat = now

    def _end_beat(self) -> None:
        if self._beat_shown:
            print("\r\x1b[K", end="", file=self.out, flush=True)
            self._beat_shown = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started


_NOISE = (LOG_HEADER, "warnings.warn(", "Warning:", "warn(")


def last_line(path: Path, limit: int = 16384) -> str:
    """The latest informative line of a log (not warnings, not the supervisor's header)."""
    for line in reversed(log_tail(path, 40, limit)):
        if not any(marker in line for marker in _NOISE):
            return line
    return "starting …"


# ---------------------------------------------------------------------------- the stack


class Stack:
    """The local stack: build steps, service processes, readiness, shutdown."""

    STAGES = 6

    def __init__(self, config: DemoConfig, out: IO[str] | None = None) -> None:
        self.config = config
        self.progress = Progress(out)
        self.processes: list[Supervised] = []  # all it started, build steps too
        self.services: dict[Supervised, str] = {}  # the long-running ones and their URLs
        self.model_tag: str | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def check_ports(self) -> None:
        """Fail before building anything when a port is taken or two ports are the same."""
        ports = self.config.ports
        seen: dict[int, str] = {}
        for variable, port in ports.items():
            if port in seen:
                raise ConfigError(
                    f"{seen[port]} and {variable} are both {port}: give each service its own port"
                )
            seen[port] = variable
            ensure_port_free(port, variable, host=self.config.connect_host)

    def up(self) -> None:
        """Build what is missing, start the services and wait until they are ready."""
        self.check_ports()
        self.build()
        self.start()
        self.wait_ready()

    # -- build stages ----------------------------------------------------------------------
    def build(self) -> None:
        if self.config.prebuilt_adapter is not None:
            self._prebuilt_manifest()  # a wrong DEMO_ADAPTER_URI fails before anything is built
        for folder in (self.config.var_dir, self.config.logs, self.config.stamps):
            folder.mkdir(parents=True, exist_ok=True)
        self.build_tiny_base()
        self.finetune()
        self.load_catalog()

    def build_tiny_base(self) -> None:
        config = self.config
        self.progress.stage(1, self.STAGES, "Tiny base model (Llama architecture, ~4M parameters)")
        if config.prebuilt_adapter is not None:
            base = self._prebuilt_manifest().get("base_model", "?")
            self.progress.detail(f"✓ reused {display_path(Path(base))} (DEMO_ADAPTER_URI's base)")
            return
        if (config.tiny_base / "config.json").is_file() and self._stamp("tiny-base"):
            self.progress.detail(f"✓ reused {display_path(config.tiny_base)}")
            return
        shutil.rmtree(config.tiny_base, ignore_errors=True)
        started = time.monotonic()
        self._run(
            "tiny-base",
            [
                self._bin("myretail-finetune"),
                "make-tiny-base",
                "--out",
                str(config.tiny_base),
                "--catalog",
                str(config.root / CATALOG),
                "--policy",
                str(config.root / POLICY),
                "--qa",
                str(config.root / TRAIN_FILE),
                "--qa",
                str(config.root / EVAL_FILE),
            ],
            self._env(),
        )
        self._write_stamp("tiny-base", {"path": str(config.tiny_base)})
        self.progress.detail(
            f"✓ built {display_path(config.tiny_base)} in {time.monotonic() - started:.0f}s"
        )

    def adapter_tag(self) -> str:
        """``demo-<digest>``: a new tag when the data, the base or the training settings change."""
        config = self.config
        if config.prebuilt_adapter is not None:
            return config.prebuilt_adapter.tag
        knobs = json.dumps({k: config.env[k] for k in TRAINING_KNOBS if k in config.env})
        base_files = sorted(
            path for path in config.tiny_base.glob("*") if path.suffix in (".json", ".safetensors")
        )
        digest = sha256_files(
            config.root / TRAIN_FILE, config.root / EVAL_FILE, *base_files, extra=knobs
        )
        return f"demo-{digest[:12]}"

    def finetune(self) -> None:
        config = self.config
        self.model_tag = tag = self.adapter_tag()
        self.progress.stage(
            2, self.STAGES, f"Fine-tune the Loyalty Program adapter ({config.model_name}:{tag})"
        )
        if config.prebuilt_adapter is not None:
            self._prebuilt_manifest()
            self.progress.detail(f"✓ reused {config.prebuilt_adapter.show()} (DEMO_ADAPTER_URI)")
            return
        store = ModelStore(Storage(config.store_uri))
        if store.has_tag(config.model_name, tag):
            self.progress.detail(
                f"✓ reused {display_path(config.model_store / config.model_name / tag)}"
            )
            return
        started = time.monotonic()
        env = self._env(
            TRAIN_DATASET_FILE=str(config.root / TRAIN_FILE),
            EVAL_DATASET_FILE=str(config.root / EVAL_FILE),
            BASE_MODEL=str(config.tiny_base.resolve()),
            MODEL_NAME=config.model_name,
            MODEL_TAG=tag,
            CHECKPOINT_DIR=str(config.var_dir / "checkpoints" / config.model_name / tag),
            MODEL_CACHE_DIR=str(config.var_dir / "model-cache"),
            METRICS_FILE=str(config.logs / f"finetune-{tag}.metrics.jsonl"),
        )
        env.setdefault("FINETUNE_PROFILE", "cpu")
        env.setdefault("FINETUNE_METHOD", "lora")
        self._run("finetune", [self._bin("myretail-finetune"), "train"], env)
        self.progress.detail(
            f"✓ published {config.model_name}:{tag} in {time.monotonic() - started:.0f}s"
        )

    def load_catalog(self) -> None:
        config = self.config
        self.progress.stage(3, self.STAGES, "Product catalog into embedded Qdrant")
        catalog = config.root / CATALOG
        digest = sha256_files(catalog)
        stamp = self._stamp("catalog")
        if stamp and stamp.get("sha256") == digest and config.qdrant_path.is_dir():
            self.progress.detail(
                f"✓ reused {display_path(config.qdrant_path)} "
                f"({stamp.get('products', '?')} products)"
            )
            return
        shutil.rmtree(config.qdrant_path, ignore_errors=True)
        started = time.monotonic()
        self._run(
            "catalog",
            [self._bin("myretail-catalog"), "load", str(catalog)],
            self._env(QDRANT_PATH=str(config.qdrant_path), EMBEDDINGS_PROVIDER="local"),
        )
        with catalog.open(encoding="utf-8", newline="") as handle:
            products = sum(1 for _ in csv.DictReader(handle))
        self._write_stamp("catalog", {"sha256": digest, "products": products})
        self.progress.detail(
            f"✓ loaded {products} products into {display_path(config.qdrant_path)} "
            f"in {time.monotonic() - started:.0f}s"
        )

    # -- services --------------------------------------------------------------------------
    def start(self) -> None:
        config = self.config
        tag = self.model_tag or self.adapter_tag()
        inference_url = config.url(config.inference_port)
        rag_url = config.url(config.rag_port)
        chat: dict[str, str] = {"CHAT_PROVIDER": config.chat_provider}
        if config.chat_provider == "openai":
            chat |= {
                "OPENAI_BASE_URL": f"{inference_url}/v1",
                "OPENAI_API_KEY": "local-demo-no-key",
                "CHAT_MODEL": config.model_name,
                # The tiny model's 512-token context is too small for many RAG prompts:
                # answer those with the retrieval-only table instead of an error.
                "CHAT_FALLBACK": "retrieval_only",
            }
        services = [
            (
                4,
                "inference",
                "Inference service (the fine-tuned Loyalty model)",
                "myretail-inference",
                config.inference_port,
                {
                    "MODEL_NAME": config.model_name,
                    "MODEL_TAG": tag,
                    "MODEL_CACHE_DIR": str(config.var_dir / "model-cache"),
                },
            ),
            (
                5,
                "rag-api",
                f"RAG API (Shopping; chat model: {self._chat_label()})",
                "myretail-rag",
                config.rag_port,
                {
                    "QDRANT_PATH": str(config.qdrant_path),
                    "EMBEDDINGS_PROVIDER": "local",
                    "HISTORY_URL": f"sqlite:///{(config.var_dir / 'history.db').resolve()}",
                    **chat,
                },
            ),
            (
                6,
                "ui",
                "Chatbot UI",
                "myretail-ui",
                config.ui_port,
                {
                    "RAG_API_ENDPOINT": f"{rag_url}/generate",
                    "INFERENCE_API_ENDPOINT": f"{inference_url}/generate",
                    "METRICS_PORT": str(config.ui_metrics_port),
                },
            ),
        ]
        variables = {port: variable for variable, port in config.ports.items()}
        for number, name, title, script, port, extra in services:
            self.progress.stage(number, self.STAGES, f"{title} on port {port}")
            env = self._env(PORT=str(port), HOST=config.host, **extra)
            # The port is checked again: the build may have taken minutes.
            ports = {variables[port]: port}
            if name == "ui":
                ports["UI_METRICS_PORT"] = config.ui_metrics_port
            service = self._start(name, [self._bin(script)], env, ports)
            self.services[service] = config.url(port)
            self.progress.detail(
                f"started (pid {service.pid}), log {display_path(service.log_path)}"
            )

    def _chat_label(self) -> str:
        if self.config.chat_provider == "openai":
            return "the local inference service"
        return "none, retrieval-only answers"

    def wait_ready(self) -> None:
        """Poll every service's /readyz side by side; fail early when one exits."""
        self.progress.line("Waiting for the services to be ready …")
        started = time.monotonic()

        def ready(service: Supervised, seconds: float) -> None:
            self.progress.detail(
                f"✓ {service.name} ready at {self.services[service]} ({seconds:.0f}s)"
            )

        def waiting(service: Supervised) -> None:
            self.progress.beat(started, f"{service.name}: {last_line(service.log_path)}")

        wait_all_ready(
            [(service, http_ok(f"{url}/readyz")) for service, url in self.services.items()],
            self.config.ready_timeout_seconds,
            interval=0.5,
            on_wait=waiting,
            on_ready=ready,
        )

    def urls(self) -> dict[str, str]:
        return {service.name: url for service, url in self.services.items()}

    def print_summary(self) -> None:
        config = self.config
        self.progress.line("")
        self.progress.line(f"MyRetail is up in {self.progress.elapsed():.0f}s:")
        self.progress.line(f"  Chat UI        {config.url(config.ui_port)}")
        self.progress.line(f"  RAG API        {config.url(config.rag_port)}/docs")
        self.progress.line(f"  Inference API  {config.url(config.inference_port)}/docs")
        self.progress.line(f"  Logs           {display_path(config.logs)}/")
        self.progress.line("Press Ctrl-C to stop.")

    def watch(self) -> None:
        """Block until a service exits on its own (an error) or the user stops the demo."""
        while True:
            for service in self.services:
                service.check_alive("stopped unexpectedly")
            time.sleep(1.0)

    def smoke(self) -> None:
        """Ask each assistant one question through the same routes the UI uses."""
        config = self.config
        self.progress.line("Smoke check:")
        question = json.loads((config.root / TRAIN_FILE).read_text().splitlines()[0])
        status, body = _post(
            f"{config.url(config.inference_port)}/generate", {"prompt": question["prompt"]}
        )
        if status != 200:
            raise DemoError(f"inference /generate answered {status}: {body}")
        answer = str(body.get("response", ""))
        self.progress.detail(f"Loyalty:  {question['prompt']} -> {answer[:160]!r}")
        status, body = _post(f"{config.url(config.rag_port)}/generate", {"prompt": BOOK_QUESTION})
        if status != 200:
            raise DemoError(f"RAG API /generate answered {status}: {body}")
        first_lines = " / ".join(str(body.get("response", "")).splitlines()[:3])
        self.progress.detail(f"Shopping: {BOOK_QUESTION} -> {first_lines[:160]!r} …")
        status = http_status(f"{config.url(config.ui_port)}/")
        if status != 200:
            raise DemoError(f"the UI page answered {status}")
        self.progress.detail("UI:       page served")

    def stop(self) -> None:
        """SIGTERM every running process group (last started first), wait, then SIGKILL."""
        alive = [process for process in reversed(self.processes) if process.alive()]
        if not alive:
            return
        self.progress.line(f"Stopping {', '.join(process.name for process in alive)} …")
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: killed at once
            stop_all(alive, signal.SIGTERM, STOP_GRACE_SECONDS)
        self.progress.line("Stopped.")

    # -- helpers ---------------------------------------------------------------------------
    def _bin(self, script: str) -> str:
        path = self.config.bin_dir / script
        if not path.exists():
            found = shutil.which(script)
            if not found:
                raise DemoError(
                    f"{script} is not installed in {self.config.bin_dir}: "
                    "run `make demo` (it installs every service into .venv)"
                )
            return found
        return str(path)

    def _env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in self.config.env.items() if k not in NOT_INHERITED}
        env.update(
            {
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "HF_DATASETS_OFFLINE": "1",
                "GRADIO_ANALYTICS_ENABLED": "False",
                "ANONYMIZED_TELEMETRY": "False",
                "TOKENIZERS_PARALLELISM": "false",
                "PYTHONUNBUFFERED": "1",
                "LOG_FORMAT": "text",
                "MODEL_STORE_URI": self.config.store_uri,
            }
        )
        env.update(extra)
        return env

    def _start(
        self, name: str, argv: list[str], env: dict[str, str], ports: dict[str, int] | None = None
    ) -> Supervised:
        """Start a process of the stack: its own process group (Ctrl-C reaches only this
        script, which stops them in order), its log in var/logs/, gone if this script dies."""
        process = Supervised(
            argv,
            name=name,
            log_path=self.config.logs / f"{name}.log",
            env=env,
            cwd=self.config.root,
            ports=ports,
            port_host=self.config.connect_host,
        ).start()
        self.processes.append(process)
        return process

    def _run(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        """Run one build step to completion, with a heartbeat from its log."""
        step = self._start(name, argv, env)
        started = time.monotonic()
        self.progress.detail(f"running {Path(argv[0]).name} {' '.join(argv[1:2])} …")
        step.wait_success(on_wait=lambda _: self.progress.beat(started, last_line(step.log_path)))

    def _prebuilt_manifest(self) -> dict[str, Any]:
        """The manifest of ``DEMO_ADAPTER_URI``'s tag; a ConfigError when it is missing."""
        adapter = self.config.prebuilt_adapter
        assert adapter is not None
        store = ModelStore(Storage(adapter.store_uri))
        if not store.has_tag(adapter.model, adapter.tag):
            raise ConfigError(
                f"DEMO_ADAPTER_URI: {adapter.model}:{adapter.tag} is not published in "
                f"{adapter.store_uri}"
            )
        return store.read_manifest(adapter.model, adapter.tag)

    def _stamp(self, name: str) -> dict[str, Any] | None:
        path = self.config.stamps / f"{name}.json"
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_stamp(self, name: str, data: dict[str, Any]) -> None:
        path = self.config.stamps / f"{name}.json"
        path.write_text(json.dumps({**data, "time": time.strftime("%FT%T")}))


def _post(url: str, body: dict[str, Any], timeout: float = 120.0) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(  # noqa: S310 - loopback
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, {"error": error.read().decode("utf-8", "replace")[:500]}
    except OSError as error:
        return 0, {"error": str(error)}


# ---------------------------------------------------------------------------- command line


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP behave like Ctrl-C: the stack is stopped in ``main``'s ``finally``.

    SIGINT is installed explicitly too: a shell starts background jobs with it ignored,
    and Python then would not turn it into KeyboardInterrupt.
    """

    def interrupt(signum: int, _: FrameType | None) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous: dict[int, Callable[..., Any] | int | None] = {}
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        previous[sig] = signal.signal(sig, interrupt)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description="Run the whole MyRetail stack locally (CPU, no keys, no network).",
        epilog=(
            "Ports: INFERENCE_PORT (8000), RAG_API_PORT (8080), UI_PORT (7860), "
            "UI_METRICS_PORT (9090, the UI's /metrics)."
        ),
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="start, ask each assistant, stop")
    mode.add_argument("--build-only", action="store_true", help="build stages 1-3 only")
    parser.add_argument("--var-dir", type=Path, help="state folder (default var/, DEMO_VAR_DIR)")
    parser.add_argument(
        "--chat-provider",
        choices=["none", "openai"],
        help="Shopping chat model: none = retrieval-only (default), openai = local inference",
    )
    args = parser.parse_args(argv)
    try:
        config = DemoConfig.from_env(var_dir=args.var_dir, chat_provider=args.chat_provider)
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    stack = Stack(config)
    with stop_on_signals():
        try:
            stack.check_ports()
            stack.build()
            if args.build_only:
                stack.progress.line(f"Built in {stack.progress.elapsed():.0f}s.")
                return 0
            stack.start()
            stack.wait_ready()
            if args.check:
                stack.progress.line(f"Stack ready in {stack.progress.elapsed():.0f}s.")
                stack.smoke()
                return 0
            stack.print_summary()
            stack.watch()
        except (PortInUseError, ConfigError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
        except (DemoError, ProcessError) as error:
            stack.progress.line("")
            print(f"error: {error}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            stack.progress.line("")
            return 0
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
