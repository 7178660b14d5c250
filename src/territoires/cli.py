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
    # Create the store's files (or apply migrations) once, before the workers race to.
    open_broker(settings).close()
    os.environ["TERRITOIRES_DATABASE_UPGRADE"] = "0"
    where = "PostgreSQL" if settings.database_url else settings.data_dir.resolve()
    print(
        f"Territoires est prêt : http://{settings.host}:{settings.port}/ "
        f"(API NGSI-LD : http://{settings.host}:{settings.port}/ngsi-ld/v1/entities, "
        f"données : {where})",
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


def db(args: argparse.Namespace) -> int:
    from territoires.broker import open_store
    from territoires.store import backup

    settings = _settings(args)
    if args.action in ("upgrade", "status"):
        if not settings.database_url:
            print("le stockage embarqué (SQLite) se met à jour seul ; "
                  "TERRITOIRES_DATABASE_URL désigne une base PostgreSQL")
            return 0
        return _schema(settings.database_url, upgrade=args.action == "upgrade")
    store = open_store(settings)
    try:
        def progress(tenant: str, count: int) -> None:
            print(f"\r{tenant or '(défaut)'} : {count} entités", end="", file=sys.stderr, flush=True)

        path = Path(args.file)
        if args.action == "backup":
            names = [args.tenant] if args.tenant is not None else ["", *store.tenants()]
            done = backup.backup(store, path, names, progress)
        else:
            done = backup.restore(store, path, args.tenant, progress)
        print(file=sys.stderr)
        for tenant, count in done.items():
            print(f"{tenant or '(défaut)'}\t{count}")
    finally:
        store.close()
    return 0


def _schema(url: str, *, upgrade: bool) -> int:
    from territoires.store import postgres_schema

    report = postgres_schema.status(url, apply=upgrade)
    for migration in report.applied:
        print(f"appliquée : {migration.version:04d} {migration.name}")
    print(f"schéma à la version {report.version} (dernière : {report.latest})")
    for function in report.not_leakproof:
        print(f"attention : {function} n'est pas LEAKPROOF, les géo-requêtes n'utiliseront pas leur index "
              f"(en superutilisateur : ALTER FUNCTION {function} LEAKPROOF)")
    return 0 if report.version == report.latest else 1


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

    database = commands.add_parser("db", help="base de données : schéma, sauvegarde, restauration")
    database.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    db_actions = database.add_subparsers(dest="action", required=True)
    db_actions.add_parser("upgrade", help="appliquer les migrations de schéma PostgreSQL en attente")
    db_actions.add_parser("status", help="version du schéma PostgreSQL")
    for action, verb in (("backup", "sauvegarder"), ("restore", "restaurer")):
        one = db_actions.add_parser(action, help=f"{verb} un locataire ou tous (fichier JSON lignes, .gz compressé)")
        one.add_argument("file")
        one.add_argument("--tenant", help="ce locataire seulement (\"\" : le locataire par défaut)")
    database.set_defaults(handler=db)
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
