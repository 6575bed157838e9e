"""``myretail-store``: look into the model store from a shell or a Helm hook.

``myretail-store check-tag --model NAME --tag TAG`` exits 0 when the tag is published
and 1 with a clear message otherwise; the chart runs it before install and upgrade so a
release that names a missing model tag fails before any pod is touched.
"""

from __future__ import annotations

import argparse
import json
import sys

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
        elif args.command == "list":
            names = store.list_tags(args.model) if args.model else store.list_models()
            print("\n".join(names))
        else:
            print(json.dumps(store.read_manifest(args.model, args.tag), indent=2))
    except (TagNotFoundError, StorageError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
