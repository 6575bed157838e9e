"""``myretail-store``: look into the model store from a shell or a Helm hook.

``myretail-store check-tag --model NAME --tag TAG`` exits 0 when the tag is published
and 1 with a clear message otherwise; the chart runs it before install and upgrade so a
release that names a missing model tag fails before any pod is touched.

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

from myretail_common.logs import configure_logging, register_secret
from myretail_common.model_store import ModelStore, TagNotFoundError
from myretail_common.settings import CommonSettings
from myretail_common.storage import StorageError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="myretail-store", description=__doc__.splitlines()[0])
    parser.add_argument("--store", help="store root URI (default: MODEL_STORE_URI)")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check-tag", help="exit 0 if MODEL:TAG is published")
    check.add_argument("--model", required=True)
    check.add_argument("--tag", required=True)
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
            manifest = store.read_manifest(args.model, args.tag)
            print(
                f"ok: {args.model}:{args.tag} is published at "
                f"{store.tag_uri(args.model, args.tag)} (base model {manifest.get('base_model')})"
            )
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
