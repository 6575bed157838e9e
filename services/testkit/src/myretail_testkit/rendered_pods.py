"""Run the containers of a rendered Helm chart as local processes (tests of the install path).

A rendered pod spec says what each container runs (``command``/``args``, else its image's
ENTRYPOINT/CMD, read from ``services/Dockerfile``) and with which environment.
:class:`LocalCluster` turns a container into a command line and an environment for this
machine and replaces only what exists in a cluster alone:

* Service addresses ``http://<service>:<port>`` become ``http://127.0.0.1:<local port>`` (one
  free port per Service port), and a container's ``PORT`` the local port of the Service in
  front of it; services listen on loopback (``HOST=127.0.0.1``);
* the model-store volume becomes the store URI the test gives (``file:///store/x`` and
  ``/store/x`` become ``<uri>/x``); every other volume a folder ``<root>/<workload>/<volume>``;
  the working folder is ``<root>/<workload>`` (the image's WORKDIR);
* a ``secretKeyRef`` becomes the value in a Secret of the same render (an optional reference
  to a Secret the render lacks is left out, as the kubelet does);
* the program becomes this virtualenv's console script of that name (``python``: this
  interpreter), where the image has the service installed.

Everything else (arguments, variables, scripts) runs as rendered.
"""

from __future__ import annotations

import base64
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from myretail_common.ports import free_port
from myretail_testkit.processes import Supervised
from myretail_testkit.project_files import REPO_ROOT

DOCKERFILE = REPO_ROOT / "services" / "Dockerfile"
SERVICE_URL = re.compile(r"(https?)://([a-z0-9][a-z0-9-]*):(\d+)")
Object = dict[str, Any]


# ------------------------------------------------------------------------------ images


def image_stage(image: str) -> str:
    """The Dockerfile target an image reference was built from: ``myretail/rag-api:0.1.0``
    -> ``rag-api`` (the images are named after their targets)."""
    return image.rsplit("/", 1)[-1].split("@", 1)[0].split(":", 1)[0]


def dockerfile_commands(dockerfile: Path = DOCKERFILE) -> dict[str, tuple[list[str], list[str]]]:
    """Stage name -> (ENTRYPOINT, CMD), each in exec form, inherited from a parent stage of the
    same file (a stage's own ENTRYPOINT resets the CMD it inherits, as Docker does; base images
    from registries are taken to set neither)."""
    stages: dict[str, tuple[list[str], list[str]]] = {}
    current: str | None = None
    for line in _instructions(dockerfile.read_text()):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = rest.split()
            parent = words[0]
            current = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            if current is not None:
                stages[current] = stages.get(parent, ([], []))
        elif keyword in ("ENTRYPOINT", "CMD") and current is not None:
            exec_form = json.loads(rest)
            if keyword == "ENTRYPOINT":
                stages[current] = (exec_form, [])
            else:
                stages[current] = (stages[current][0], exec_form)
    return stages


def _instructions(text: str) -> list[str]:
    """Dockerfile instructions, one per entry (continuations joined, comments dropped)."""
    joined = re.sub(r"\\\n", " ", text)
    return [
        line.strip()
        for line in joined.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def container_argv(container: Object) -> list[str]:
    """What the container runs, by Kubernetes' rules: ``command`` replaces the image's
    ENTRYPOINT (and drops its CMD), ``args`` replaces its CMD."""
    entrypoint, cmd = dockerfile_commands()[image_stage(container["image"])]
    if "command" in container:
        return [*container["command"], *container.get("args", [])]
    return [*entrypoint, *container.get("args", cmd)]


def local_program(name: str) -> str:
    """``python`` -> this interpreter; any other program -> this virtualenv's script."""
    if name == "python":
        return sys.executable
    script = Path(sys.executable).parent / name
    if not script.is_file():
        raise FileNotFoundError(f"{name}: no such console script in {script.parent}")
    return str(script)


# ------------------------------------------------------------------------------ the cluster


def pod_spec(workload: Object) -> Object:
    spec: Object = workload["spec"]
    return spec if workload["kind"] == "Pod" else spec["template"]["spec"]


def pod_labels(workload: Object) -> dict[str, str]:
    meta = workload if workload["kind"] == "Pod" else workload["spec"]["template"]
    labels: dict[str, str] = meta["metadata"].get("labels") or {}
    return labels


def find_container(workload: Object, name: str) -> Object:
    spec = pod_spec(workload)
    for container in [*spec.get("initContainers", []), *spec["containers"]]:
        if container["name"] == name:
            return container
    raise KeyError(f"{workload['kind']}/{workload['metadata']['name']} has no container {name}")


class LocalCluster:
    """Local command lines and environments for the containers of one render.

    ``objects``: the rendered objects; ``root``: where the pods' volumes and working folders
    go; ``store_claim`` and ``store_uri``: the model store's PersistentVolumeClaim and the URI
    that stands in for it; ``base_env``: what every process inherits (the image's environment
    here: PATH, offline switches, the store's credentials).
    """

    def __init__(
        self,
        objects: list[Object],
        root: Path,
        *,
        store_claim: str,
        store_uri: str,
        base_env: Mapping[str, str],
    ) -> None:
        self.objects = objects
        self.root = root
        self.store_claim = store_claim
        self.store_uri = store_uri.rstrip("/")
        self.base_env = {**base_env, "HOST": "127.0.0.1"}
        self._ports: dict[tuple[str, int], int] = {}

    # -- lookups ---------------------------------------------------------------------------
    def get(self, kind: str, name: str) -> Object:
        found = [o for o in self.objects if o["kind"] == kind and o["metadata"]["name"] == name]
        if len(found) != 1:
            raise KeyError(f"{kind}/{name}: {len(found)} objects in the render")
        return found[0]

    def of_kind(self, kind: str) -> list[Object]:
        return [o for o in self.objects if o["kind"] == kind]

    def secret_value(self, name: str, key: str) -> str | None:
        for secret in self.of_kind("Secret"):
            if secret["metadata"]["name"] == name:
                if key in (secret.get("stringData") or {}):
                    return str(secret["stringData"][key])
                if key in (secret.get("data") or {}):
                    return base64.b64decode(secret["data"][key]).decode()
                raise KeyError(f"Secret {name} has no key {key}")
        return None

    # -- addresses -------------------------------------------------------------------------
    def local_port(self, service: str, port: int) -> int:
        """The loopback port that stands in for ``<service>:<port>`` (one per Service port)."""
        if not any(
            s["metadata"]["name"] == service and any(p["port"] == port for p in s["spec"]["ports"])
            for s in self.of_kind("Service")
        ):
            raise KeyError(f"the render has no Service {service} with port {port}")
        if (service, port) not in self._ports:
            taken = set(self._ports.values())
            chosen = free_port()
            while chosen in taken:
                chosen = free_port()
            self._ports[(service, port)] = chosen
        return self._ports[(service, port)]

    def service_url(self, service: str, port: int) -> str:
        return f"http://127.0.0.1:{self.local_port(service, port)}"

    def probe_url(self, workload: Object, name: str, probe: str = "readinessProbe") -> str:
        """The local URL of a container's HTTP probe (``readinessProbe``, ``startupProbe``...)."""
        container = find_container(workload, name)
        check = container[probe]["httpGet"]
        named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        port = named[check["port"]] if isinstance(check["port"], str) else check["port"]
        local = self._listen_ports(workload, container)[port]
        return f"http://127.0.0.1:{local}{check['path']}"

    def _listen_ports(self, workload: Object, container: Object) -> dict[int, int]:
        """containerPort -> local port, for the ports a Service of the render sends to."""
        named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
        labels = pod_labels(workload)
        found: dict[int, int] = {}
        for service in self.of_kind("Service"):
            selector = service["spec"].get("selector") or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                continue
            for port in service["spec"]["ports"]:
                target = port.get("targetPort", port["port"])
                container_port = named.get(target) if isinstance(target, str) else target
                if container_port is not None and container_port not in found:
                    service_name = service["metadata"]["name"]
                    found[container_port] = self.local_port(service_name, port["port"])
        return found

    # -- paths -----------------------------------------------------------------------------
    def pod_dir(self, workload: Object) -> Path:
        return self.root / workload["metadata"]["name"]

    def _mounts(self, workload: Object, container: Object) -> dict[str, str]:
        """mountPath -> the local folder or the store URI that stands in for it."""
        volumes = {v["name"]: v for v in pod_spec(workload).get("volumes", [])}
        for template in workload["spec"].get("volumeClaimTemplates", []):  # a StatefulSet's
            volumes[template["metadata"]["name"]] = {}
        mounts: dict[str, str] = {}
        for mount in container.get("volumeMounts", []):
            claim = (volumes[mount["name"]].get("persistentVolumeClaim") or {}).get("claimName")
            if claim == self.store_claim:
                mounts[mount["mountPath"]] = self.store_uri
            else:
                folder = self.pod_dir(workload) / mount["name"]
                folder.mkdir(parents=True, exist_ok=True)
                mounts[mount["mountPath"]] = str(folder)
        return mounts

    def _localize(self, value: str, mounts: dict[str, str]) -> str:
        def address(match: re.Match[str]) -> str:
            scheme, host, port = match.groups()
            return f"{scheme}://127.0.0.1:{self.local_port(host, int(port))}"

        value = SERVICE_URL.sub(address, value)
        if not mounts:
            return value
        paths = "|".join(re.escape(p) for p in sorted(mounts, key=len, reverse=True))
        pattern = re.compile(rf"(file://)?(?<![\w.-])({paths})(?=/|$)")

        def path(match: re.Match[str]) -> str:
            local = mounts[match.group(2)]
            if local == self.store_uri:
                return local
            return (match.group(1) or "") + local

        return pattern.sub(path, value)

    # -- containers ------------------------------------------------------------------------
    def argv(self, workload: Object, name: str) -> list[str]:
        """The container's command line on this machine."""
        container = find_container(workload, name)
        mounts = self._mounts(workload, container)
        program, *args = container_argv(container)
        return [local_program(program), *(self._localize(a, mounts) for a in args)]

    def environment(self, workload: Object, name: str) -> dict[str, str]:
        """The container's variables on this machine (without ``base_env``)."""
        container = find_container(workload, name)
        if container.get("envFrom"):
            raise NotImplementedError("envFrom is not supported here")
        mounts = self._mounts(workload, container)
        listen = self._listen_ports(workload, container)
        env: dict[str, str] = {}
        for item in container.get("env", []):
            if "value" in item:
                value = self._localize(str(item["value"]), mounts)
                if item["name"] == "PORT" and int(value) in listen:
                    value = str(listen[int(value)])
                env[item["name"]] = value
                continue
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref is None:
                raise NotImplementedError(f"{item['name']}: only secretKeyRef is supported here")
            secret = self.secret_value(ref["name"], ref["key"])
            if secret is None and not ref.get("optional"):
                raise KeyError(f"{item['name']}: the render has no Secret {ref['name']}")
            if secret is not None:
                env[item["name"]] = secret
        return env

    def process(
        self, workload: Object, name: str, log_dir: Path, extra_env: Mapping[str, str] | None = None
    ) -> Supervised:
        """The container as a supervised process (not started), logged to
        ``<log_dir>/<workload>-<container>.log``; ``extra_env`` wins over the render."""
        folder = self.pod_dir(workload)
        folder.mkdir(parents=True, exist_ok=True)
        workload_name = workload["metadata"]["name"]
        return Supervised(
            self.argv(workload, name),
            name=f"{workload_name}/{name}",
            log_path=log_dir / f"{workload_name}-{name}.log",
            env={**self.base_env, **self.environment(workload, name), **(extra_env or {})},
            cwd=folder,
        )

    def run(
        self,
        workload: Object,
        name: str,
        log_dir: Path,
        timeout: float,
        extra_env: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        """Run the container to its end: (exit code, its output)."""
        process = self.process(workload, name, log_dir, extra_env)
        with process:
            code = process.wait(timeout=timeout)
            return code, process.output()
