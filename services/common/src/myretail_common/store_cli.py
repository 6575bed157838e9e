"""``myretail-store``: look into the model store from a shell or a Helm hook.

``myretail-store check-tag NAME TAG`` (or ``--model NAME --tag TAG``) exits 0 when the
tag is published and 1 with a clear message otherwise; the chart runs it before install
and upgrade so a release that names a missing model tag fails before any pod is touched.
With ``--against SERVING_TAG --max-accuracy-drop X`` it is also the promotion gate: a tag
whose recorded eval accuracy (the manifest's ``metrics.after.eval_accuracy``) is below the
serving tag's by more than ``X`` (absolute, 0..1) is refused, as is a tag where either
accuracy is missing, unless ``--allow-regression`` overrides it (with a warning).

``myretail-store fetch NAME TAG DIR [--base-model BASE]`` copies the tag into ``DIR``,
every file checked against the manifest's sha256 and, with ``--base-model``, the
manifest's base model checked first; ``DIR`` is replaced only by a verified copy (a
staging folder beside it is renamed), and a ``DIR`` already holding that version is left
as it is. The vLLM pods' init container runs it.

``myretail-store wait-tag --model NAME --tag TAG --timeout SECONDS`` waits until the tag is
published, with a progress line every 30 s, and exits 0 then, or 1 with a clear message at
the deadline; the inference pods run it first, so a first install can publish its model
(the release's fine-tune Job) while they wait.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from myretail_common.logs import configure_logging, register_secret
from myretail_common.model_store import ModelStore, TagNotFoundError
from myretail_common.settings import CommonSettings
from myretail_common.storage import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myretail-store", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store root URI (default: MODEL_STORE_URI)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser(
        "check-tag", help="exit 0 if MODEL:TAG is published (and passes the promotion gate)"
    )
    _add_model_and_tag(check)
    check.add_argument(
        "--against", metavar="SERVING_TAG", help="the tag being served: compare eval accuracy"
    )
    check.add_argument(
        "--max-accuracy-drop",
        type=_share,
        default=0.0,
        metavar="X",
        help="most eval accuracy (absolute, 0..1) the tag may lose against SERVING_TAG",
    )
    check.add_argument(
        "--allow-regression",
        action="store_true",
        help="accept a tag that fails the accuracy comparison (prints a warning)",
    )
    fetch = commands.add_parser(
        "fetch", help="copy MODEL:TAG into DIR, checksums (and base model) verified"
    )
    fetch.add_argument("name", metavar="NAME")
    fetch.add_argument("tag", metavar="TAG")
    fetch.add_argument("dir", metavar="DIR", type=Path)
    fetch.add_argument("--base-model", help="refuse a tag trained on another base model")
    wait = commands.add_parser("wait-tag", help="wait until MODEL:TAG is published")
    wait.add_argument("--model", required=True)
    wait.add_argument("--tag", required=True)
    wait.add_argument("--timeout", type=float, required=True, help="seconds before giving up")
    wait.add_argument("--interval", type=float, default=10.0, help="seconds between looks")
    wait.add_argument(
        "--progress-every", type=float, default=30.0, help="seconds between progress lines"
    )
    listing = commands.add_parser("list", help="list models, or the tags of one model")
    listing.add_argument("--model")
    show = commands.add_parser("manifest", help="print the manifest of MODEL:TAG")
    show.add_argument("--model", required=True)
    show.add_argument("--tag", required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = CommonSettings()
    configure_logging("WARNING", settings.log_format, stream=sys.stderr)
    if settings.aws_secret_access_key:
        register_secret(settings.aws_secret_access_key.get_secret_value())
    if args.store:
        settings = settings.model_copy(update={"model_store_uri": args.store})
    try:
        store = ModelStore.from_settings(settings)
        if args.command == "check-tag":
            return _check_tag(store, args)
        if args.command == "fetch":
            folder = store.fetch_into(args.name, args.tag, args.dir, args.base_model)
            base = store.read_manifest(args.name, args.tag).get("base_model")
            print(f"ok: {args.name}:{args.tag} (base model {base}) is in {folder}, verified")
        elif args.command == "wait-tag":
            return _wait_tag(store, args)
        elif args.command == "list":
            names = store.list_tags(args.model) if args.model else store.list_models()
            print("\n".join(names))
        else:
            print(json.dumps(store.read_manifest(args.model, args.tag), indent=2))
    except (TagNotFoundError, StorageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, not {text}")
    return value


def _add_model_and_tag(parser: argparse.ArgumentParser) -> None:
    """NAME TAG as positionals, or the older ``--model NAME --tag TAG``."""
    parser.add_argument("name", nargs="?", metavar="NAME")
    parser.add_argument("tag_arg", nargs="?", metavar="TAG")
    parser.add_argument("--model", help="same as NAME")
    parser.add_argument("--tag", help="same as TAG")


def _model_and_tag(args: argparse.Namespace) -> tuple[str, str]:
    model, tag = args.name or args.model, args.tag_arg or args.tag
    if not model or not tag:
        raise ValueError("name the model and the tag: check-tag NAME TAG")
    return model, tag


def recorded_accuracy(manifest: dict[str, Any]) -> float | None:
    """The eval accuracy the fine-tune recorded after training, if the manifest has one."""
    metrics = manifest.get("metrics")
    after = metrics.get("after") if isinstance(metrics, dict) else None
    value = after.get("eval_accuracy") if isinstance(after, dict) else None
    return float(value) if isinstance(value, int | float) else None


def _check_tag(store: ModelStore, args: argparse.Namespace) -> int:
    model, tag = _model_and_tag(args)
    manifest = store.read_manifest(model, tag)
    print(
        f"ok: {model}:{tag} is published at "
        f"{store.tag_uri(model, tag)} (base model {manifest.get('base_model')})"
    )
    if not args.against or args.against == tag:
        return 0
    serving = store.read_manifest(model, args.against)
    problem = _accuracy_problem(
        recorded_accuracy(manifest), recorded_accuracy(serving), args.max_accuracy_drop
    )
    where = f"{model}:{tag} against the serving tag {model}:{args.against}"
    if problem is None:
        print(f"ok: promotion gate passed for {where}")
        return 0
    if args.allow_regression:
        print(f"warning: {where}: {problem}; allowed by --allow-regression", file=sys.stderr)
        return 0
    print(
        f"error: promotion refused for {where}: {problem}; "
        "override with --allow-regression if this is intended",
        file=sys.stderr,
    )
    return 1


def _accuracy_problem(new: float | None, serving: float | None, tolerance: float) -> str | None:
    """Why the new tag fails the gate, or None when it passes."""
    named = (("new tag", new), ("serving tag", serving))
    missing = [name for name, value in named if value is None]
    if missing:
        return (
            f"the {' and the '.join(missing)} manifest records no eval accuracy "
            "(metrics.after.eval_accuracy), so the tags cannot be compared"
        )
    assert new is not None and serving is not None
    if serving - new > tolerance + 1e-9:
        return (
            f"eval accuracy {new:.4f} is {serving - new:.4f} below the serving tag's "
            f"{serving:.4f}, more than the tolerance --max-accuracy-drop={tolerance:g}"
        )
    return None


def _wait_tag(store: ModelStore, args: argparse.Namespace) -> int:
    """Look for the tag every ``interval`` s until ``timeout``. A store that does not answer
    is one more reason to keep waiting; its last error is reported at the deadline."""
    model, tag = args.model, args.tag
    where = store.tag_uri(model, tag)
    started = time.monotonic()
    deadline, next_progress = started + args.timeout, started + args.progress_every
    _say(f"waiting for model tag {model}:{tag} at {where} (up to {args.timeout:.0f} s)")
    while True:
        published, error = _look_for_tag(store, model, tag)
        now = time.monotonic()
        if published:
            _say(f"ok: {model}:{tag} is published at {where} (after {now - started:.0f} s)")
            return 0
        if now >= deadline:
            reason = f"; the store's last error: {error}" if error else ""
            print(
                f"error: model tag {model}:{tag} was not published at {where} within "
                f"{args.timeout:.0f} s ({_published_tags(store, model)}){reason}; a fine-tune "
                "Job publishes it: check that one runs for this tag",
                file=sys.stderr,
                flush=True,
            )
            return 1
        if now >= next_progress:
            state = f"the store did not answer: {error}" if error else "not published yet"
            _say(
                f"still waiting for {model}:{tag} at {where}: {state}; "
                f"{now - started:.0f} s of {args.timeout:.0f} s"
            )
            next_progress = now + args.progress_every
        time.sleep(max(0.0, min(args.interval, deadline - now)))


def _look_for_tag(store: ModelStore, model: str, tag: str) -> tuple[bool, str]:
    """(published, the store's error or "")."""
    try:
        return store.has_tag(model, tag), ""
    except StorageError as exc:
        return False, str(exc)


def _say(line: str) -> None:
    print(line, flush=True)


def _published_tags(store: ModelStore, model: str) -> str:
    try:
        tags = store.list_tags(model)
    except StorageError:
        return "published tags unknown"
    return f"published tags: {', '.join(tags)}" if tags else "no tags are published"


if __name__ == "__main__":
    sys.exit(main())
