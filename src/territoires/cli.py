"""The ``territoires`` command."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from territoires.config import Settings
from territoires.ngsild.errors import NgsiLdError


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.from_env(
        data_dir=Path(args.data_dir) if getattr(args, "data_dir", None) else None,
        host=getattr(args, "host", None),
        port=getattr(args, "port", None),
        workers=getattr(args, "workers", None),
    )


def serve(args: argparse.Namespace) -> int:
    from territoires import serving
    from territoires.broker import open_broker

    settings = _settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # Worker processes rebuild their settings from the environment: hand ours down.
    os.environ["TERRITOIRES_DATA_DIR"] = str(settings.data_dir)
    open_broker(settings).close()  # create the store's files once, before workers race to
    print(
        f"Territoires est prêt : http://{settings.host}:{settings.port}/ "
        f"(API NGSI-LD : http://{settings.host}:{settings.port}/ngsi-ld/v1/entities, "
        f"données : {settings.data_dir.resolve()})",
        flush=True,
    )
    serving.run(settings, log_level=args.log_level)
    return 0


def _broker(args: argparse.Namespace):
    from territoires.broker import open_broker

    return open_broker(_settings(args))


def tenants(args: argparse.Namespace) -> int:
    broker = _broker(args)
    try:
        if args.action == "create":
            print(broker.tenants.create(args.name))
        elif args.action == "delete":
            broker.tenants.delete(args.name)
        else:
            for name in broker.tenants.list():
                print(name)
    finally:
        broker.close()
    return 0


def contexts(args: argparse.Namespace) -> int:
    broker = _broker(args)
    try:
        broker.contexts.pin(args.url, Path(args.file).read_bytes())
        print(f"{args.url} -> {args.file}")
    finally:
        broker.close()
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="territoires", description="Plateforme des territoires intelligents")
    top.add_argument("--data-dir", help="dossier des données (défaut : ./var, ou TERRITOIRES_DATA_DIR)")
    commands = top.add_subparsers(dest="command", required=True)

    run = commands.add_parser("serve", help="démarrer la plateforme (API NGSI-LD, administration)")
    run.add_argument("--host")
    run.add_argument("--port", type=int)
    run.add_argument("--workers", type=int, help="processus de service (défaut : 1)")
    run.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    run.add_argument("--log-level", default="warning")
    run.set_defaults(handler=serve)

    tenant = commands.add_parser("tenants", help="gérer les locataires (une collectivité membre chacun)")
    tenant.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    actions = tenant.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="lister les locataires")
    for action in ("create", "delete"):
        one = actions.add_parser(action, help=f"{'créer' if action == 'create' else 'supprimer'} un locataire")
        one.add_argument("name")
    tenant.set_defaults(handler=tenants)

    context = commands.add_parser("contexts", help="@context JSON-LD épinglés (résolus sans réseau)")
    context.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    pin_actions = context.add_subparsers(dest="action", required=True)
    pin = pin_actions.add_parser("pin", help="servir une URL de @context depuis un fichier local")
    pin.add_argument("url")
    pin.add_argument("file")
    context.set_defaults(handler=contexts)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except NgsiLdError as error:
        print(f"erreur : {error.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
