"""The ``territoires`` command."""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from territoires.config import Settings
from territoires.ngsild.errors import NgsiLdError

if TYPE_CHECKING:
    from territoires.store.port import Store


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
    bridge = _start_bridge(settings)
    chores = Chores(replace(settings, database_upgrade=False))
    try:
        serving.run(settings, log_level=args.log_level)
    finally:
        if bridge is not None:
            bridge.terminate()
            bridge.wait(timeout=30)
        chores.stop()
    return 0


class Chores:
    """What this process sweeps by itself, once whatever the number of workers: the audit
    trail's retention, hourly; the transient entities, every ``expiry_sweep_interval``."""

    def __init__(self, settings: Settings) -> None:
        from territoires.broker import open_broker
        from territoires.broker.audit import SWEEP_INTERVAL
        from territoires.broker.sweeper import Sweeper

        self.sweepers: list[Sweeper] = []
        wanted = settings.audit_retention_days > 0, settings.expiry_sweep_interval > 0
        self.broker = open_broker(settings) if any(wanted) else None
        if self.broker is None:
            return
        if wanted[0]:
            self.sweepers.append(Sweeper("audit retention", self.broker.audit.purge, SWEEP_INTERVAL))
        if wanted[1]:
            self.sweepers.append(Sweeper("expiry of transient entities", self.broker.entities.expire_everywhere,
                                         settings.expiry_sweep_interval))
        for sweeper in self.sweepers:
            sweeper.start()

    def stop(self) -> None:
        for sweeper in self.sweepers:
            sweeper.stop()
        if self.broker is not None:
            self.broker.close()


def _start_bridge(settings: Settings) -> subprocess.Popen[bytes] | None:
    """The LoRaWAN bridge in ONE child process (which starts its consumers, if several),
    beside the API workers, when MQTT is configured."""
    if not settings.mqtt_url:
        return None
    print("pont LoRaWAN démarré (TERRITOIRES_MQTT_URL)", flush=True)
    return subprocess.Popen([sys.executable, "-m", "territoires.cli", "ingest", "--parent", str(os.getpid())])


def ingest(args: argparse.Namespace) -> int:
    import logging

    from territoires.broker import open_broker
    from territoires.ingest.bridge import serve_forever
    from territoires.ingest.consumers import consumers, retire_others, supervise
    from territoires.ingest.mqtt import Broker as MqttBroker

    settings = _settings(args)
    if args.mqtt:
        settings = replace(settings, mqtt_url=args.mqtt)
    if args.consumers is not None:
        settings = replace(settings, ingest_consumers=args.consumers)
    if not settings.mqtt_url:
        print("erreur : donnez le serveur MQTT (--mqtt mqtt://hôte:port ou TERRITOIRES_MQTT_URL)", file=sys.stderr)
        return 2
    try:
        MqttBroker.from_url(settings.mqtt_url)
        team = consumers(settings)
    except ValueError as error:
        print(f"erreur : {error}", file=sys.stderr)
        return 2
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    if args.consumer is not None:  # one of the consumers ``supervise`` started
        if not 0 <= args.consumer < len(team):
            print(f"erreur : il n'y a pas de consommateur {args.consumer} parmi {len(team)}", file=sys.stderr)
            return 2
        serve_forever(team[args.consumer], parent=args.parent)
        return 0
    broker = open_broker(settings)
    try:
        retire_others(broker, settings)
    finally:
        broker.close()
    if len(team) == 1:
        serve_forever(settings, parent=args.parent)
    else:
        supervise(settings, parent=args.parent)
    return 0


def devices(args: argparse.Namespace) -> int:
    from territoires.broker.devices import device_json
    from territoires.ingest.bridge import decoder_types

    broker = _broker(args)
    try:
        if args.action == "add":
            body = {"devEui": args.dev_eui, "tenant": args.tenant, "entityId": args.entity_id,
                    "decoder": args.decoder, "entityType": args.entity_type, "name": args.name}
            device = broker.devices.register({k: v for k, v in body.items() if v is not None}, decoder_types())
            print(f"appareil {device.dev_eui} enregistré : {device.entity_id} ({device.decoder}), "
                  f"locataire {device.tenant or '(défaut)'}")
        elif args.action == "import":
            bodies = orjson.loads(Path(args.file).read_bytes())
            if not isinstance(bodies, list):
                print("erreur : le fichier doit contenir une liste JSON d'appareils", file=sys.stderr)
                return 1
            for body in bodies:
                broker.devices.register(body, decoder_types())
            print(f"{len(bodies)} appareils enregistrés")
        elif args.action == "delete":
            broker.devices.delete(args.dev_eui)
            print(f"appareil {args.dev_eui.upper()} supprimé")
        else:
            found, total = broker.devices.list(tenant=args.tenant, limit=args.limit)
            for device in found:
                row = device_json(device)
                print("\t".join((row["devEui"], row["tenant"] or "(défaut)", row["decoder"], row["entityId"],
                                 row["name"])))
            if total > len(found):
                print(f"… {total - len(found)} de plus (--limit)", file=sys.stderr)
    finally:
        broker.close()
    return 0


def audit(args: argparse.Namespace) -> int:
    import getpass

    from territoires.broker.actor import Actor, acting
    from territoires.broker.audit import parse_instant
    from territoires.broker.audit_views import (
        FILTERS,
        audit_json,
        audit_query,
        csv_lines,
        jsonl_lines,
        text_of,
    )

    broker = _broker(args)
    try:
        if args.action == "purge":
            before = parse_instant(args.before, "--before") if args.before else None
            if before is None and broker.settings.audit_retention_days <= 0:
                print("conservation sans limite (TERRITOIRES_AUDIT_RETENTION_DAYS=0) : rien à effacer ; "
                      "donnez --before pour effacer jusqu'à une date")
                return 0
            with acting(Actor(kind="cli", subject=getpass.getuser())):
                purged = broker.audit.purge(before)
            for tenant, count in purged.items():
                print(f"{tenant or '(défaut)'}\t{count}")
            print(f"{sum(purged.values())} enregistrements effacés")
            return 0
        tenant = _cli_tenant(args.tenant) or ""
        ctx = broker.contexts.compile(tenant, None)
        filters = {name: getattr(args, name) for name in FILTERS if getattr(args, name) is not None}
        query = audit_query(filters, ctx.expand, offset=args.offset, limit=args.limit)
        records, total = broker.audit.query(tenant, query)
        if args.format == "csv":
            sys.stdout.writelines(csv_lines(records, ctx.compact))
        elif args.format == "jsonl":
            sys.stdout.buffer.writelines(jsonl_lines(records, ctx.compact))
        else:
            for record in records:
                row = audit_json(record, ctx.compact)
                print("\t".join(text_of(row[key]) for key in ("at", "operation", "target", "attributes",
                                                               "principalKind", "subject", "name", "detail")))
        if total > args.offset + len(records):
            print(f"… {total - args.offset - len(records)} de plus (--offset, --limit)", file=sys.stderr)
    finally:
        broker.close()
    return 0


def _cli_tenant(value: str | None) -> str | None:
    """A tenant given on the command line: "" or ``_default`` name the default tenant."""
    from territoires.auth.grants import tenant_named

    return value if value in (None, "") else tenant_named(value)


def _tenant_label(tenant: str | None) -> str:
    return "(plateforme)" if tenant is None else tenant or "(défaut)"


def keys(args: argparse.Namespace) -> int:
    import getpass

    from territoires import clock
    from territoires.auth.keys import KeyService
    from territoires.broker import open_store
    from territoires.broker.actor import Actor, acting

    store = open_store(_settings(args))
    try:
        service = KeyService(store)
        if args.action == "create":
            with acting(Actor(kind="cli", subject=getpass.getuser())):
                key, token = service.create(_cli_tenant(args.tenant), args.role, args.name or "", args.expires,
                                            scope=args.scope or "")
            until = f", expire le {key.expires_at}" if key.expires_at else ""
            print(f"clé d'API {key.id} créée : rôle {key.role}, locataire {_tenant_label(key.tenant)}{until}")
            print("Conservez-la maintenant : elle ne sera plus affichée. "
                  "Présentez-la dans l'en-tête « Authorization: Bearer <clé> ».")
            print(token)
        elif args.action == "revoke":
            key = service.revoke(args.id)
            print(f"clé d'API {key.id} révoquée le {key.revoked_at} "
                  "(les serveurs en marche la refusent au plus tard 5 secondes après)")
        else:
            found, total = service.list(_cli_tenant(args.tenant), limit=args.limit)
            now = clock.now()
            for key in found:
                state = (f"révoquée le {key.revoked_at}" if key.revoked_at else
                         f"expirée le {key.expires_at}" if key.expires_at and key.expires_at <= now else "active")
                print("\t".join((key.id, _tenant_label(key.tenant), key.role, key.name, state,
                                 f"dernier usage {key.last_used_at or 'jamais'}")))
            if total > len(found):
                print(f"… {total - len(found)} de plus (--limit)", file=sys.stderr)
    finally:
        store.close()
    return 0


def members(args: argparse.Namespace) -> int:
    import getpass

    from territoires.auth.members import MemberService
    from territoires.broker import open_store
    from territoires.broker.actor import Actor, acting

    store = open_store(_settings(args))
    try:
        service = MemberService(store)
        if args.action == "add":
            with acting(Actor(kind="cli", subject=getpass.getuser())):
                member = service.add(_cli_tenant(args.tenant), args.role, email=args.email or "",
                                     subject=args.subject or "", issuer=args.issuer or "", scope=args.scope or "")
            print(f"membre {member.id} ajouté : {member.email or member.subject}, rôle {member.role}, "
                  f"locataire {_tenant_label(member.tenant)}")
        elif args.action == "remove":
            service.remove(args.id)
            print(f"membre {args.id} retiré (effet sous 5 secondes sur les serveurs en marche)")
        else:
            found, total = service.list(_cli_tenant(args.tenant), limit=args.limit)
            for member in found:
                print("\t".join((member.id, _tenant_label(member.tenant), member.role, member.scope,
                                 member.email or member.subject, member.issuer or "(tout émetteur)")))
            if total > len(found):
                print(f"… {total - len(found)} de plus (--limit)", file=sys.stderr)
    finally:
        store.close()
    return 0


def notifications(args: argparse.Namespace) -> int:
    from territoires.broker import open_store
    from territoires.broker.dead_letters import DeadLetterService, choice_of, dead_letter_json

    store = open_store(_settings(args))
    try:
        service, tenant = DeadLetterService(store), _cli_tenant(args.tenant) or ""
        if args.action == "list":
            found, total = service.list(tenant, args.subscription, offset=args.offset, limit=args.limit)
            for entry in found:
                row = dead_letter_json(entry)
                print("\t".join((str(row["seq"]), row.get("givenUpAt", "?"), row["subscriptionId"],
                                 f"{row['attempts']} essais", row.get("lastError", ""), row["id"],
                                 ",".join(map(str, row["entityIds"])))))
            if total > args.offset + len(found):
                print(f"… {total - args.offset - len(found)} de plus (--offset, --limit)", file=sys.stderr)
            return 0
        choice = choice_of({"subscription": args.subscription, "seqs": args.seq})
        if args.action == "revive":
            count = service.revive(tenant, choice)
            print(f"{count} notification(s) remise(s) en file d'envoi, avec leur identifiant et à leur place ; "
                  "un serveur en marche les envoie à sa prochaine ronde (PostgreSQL) ou à son prochain balayage "
                  "(stockage embarqué, TERRITOIRES_NOTIFICATION_SWEEP_INTERVAL)")
        else:
            print(f"{service.drop(tenant, choice)} notification(s) abandonnée(s) supprimée(s)")
    finally:
        store.close()
    return 0


def observatoire(args: argparse.Namespace) -> int:
    from territoires.observatoire.projects import TENANT
    from territoires.observatoire.seed import command, territories_command

    broker = _broker(args)
    try:
        if args.action == "reindex":
            indexed = broker.text_search.reindex(TENANT)
            print(f"observatoire : {indexed} fiche(s) indexée(s) pour la recherche plein texte")
            return 0
        if args.action == "territories":
            return territories_command(broker, everything=args.all)
        return command(broker)
    finally:
        broker.close()


def simulate(args: argparse.Namespace) -> int:
    from territoires.ingest import simulator

    return simulator.command(args)


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
        if settings.database_url:
            return _schema(settings.database_url, upgrade=args.action == "upgrade")
        if args.action == "upgrade":
            return _upgrade_files(open_store(settings))
        print("le stockage embarqué (SQLite) met chaque fichier à jour à sa première ouverture "
              "(territoires db upgrade les ouvre tous) ; TERRITOIRES_DATABASE_URL désigne une base PostgreSQL")
        return 0
    # A restore goes through the broker: its full-text index is rebuilt from each restored tenant.
    broker = _broker(args) if args.action == "restore" else None
    store = broker.store if broker else open_store(settings)
    try:
        path = Path(args.file)
        progress = _backup_progress()
        if args.action == "backup":
            names = [args.tenant] if args.tenant is not None else ["", *store.tenants()]
            done = backup.backup(store, path, names, progress, platform=args.tenant is None)
        else:
            reindex = broker.text_search.reindex if broker else None
            done = backup.restore(store, path, args.tenant, progress, after_tenant=reindex)
        print(file=sys.stderr)
        for tenant, report in done.items():
            print(f"{_tenant_label(tenant)}\t{report.entities} entités\t{report.instances} instances d'historique\t"
                  f"{report.kept} entités supprimées à l'historique gardé\t{report.keys} clés d'API\t"
                  f"{report.members} membres\t{report.audit} enregistrements d'audit")
    finally:
        store.close()
    return 0


def _upgrade_files(store: Store) -> int:
    """Open every tenant file of the embedded store: each is brought to today's layout when opened."""
    try:
        for tenant in ["", *store.tenants()]:
            with store.session(tenant):
                print(f"{_tenant_label(tenant)} : à jour")
    finally:
        store.close()
    return 0


def _backup_progress() -> Callable[[str, str, int], None]:
    """Progress of a backup or restore on one line of stderr per tenant: entities, then history instances."""
    from territoires.store.backup import ENTITIES, INSTANCES

    shown: dict[str, object] = {}

    def progress(tenant: str, kind: str, count: int) -> None:
        if shown.get("tenant", tenant) != tenant:
            print(file=sys.stderr)
            shown.clear()
        shown.update({"tenant": tenant, kind: count})
        print(f"\r{tenant or '(défaut)'} : {shown.get(ENTITIES, 0)} entités, "
              f"{shown.get(INSTANCES, 0)} instances d'historique", end="", file=sys.stderr, flush=True)

    return progress


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
    db_actions.add_parser("upgrade", help="appliquer les migrations de schéma PostgreSQL en attente, "
                                          "ou mettre à jour les fichiers SQLite")
    db_actions.add_parser("status", help="version du schéma PostgreSQL")
    for action, verb in (("backup", "sauvegarder"), ("restore", "restaurer")):
        one = db_actions.add_parser(action, help=f"{verb} un locataire ou tous (fichier JSON lignes, .gz compressé)")
        one.add_argument("file")
        one.add_argument("--tenant", help="ce locataire seulement (\"\" : le locataire par défaut)")
    database.set_defaults(handler=db)

    bridge = commands.add_parser("ingest", help="pont LoRaWAN : recevoir les remontées MQTT (ChirpStack, TTS)")
    bridge.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    bridge.add_argument("--mqtt", help="serveur MQTT, mqtt://hôte:port (défaut : TERRITOIRES_MQTT_URL)")
    bridge.add_argument("--log-level", default="warning")
    bridge.add_argument("--consumers", type=int, choices=range(1, 65), metavar="N",
                        help="processus consommateurs sur un abonnement partagé (défaut : TERRITOIRES_INGEST_CONSUMERS, 1)")
    bridge.add_argument("--parent", type=int, help=argparse.SUPPRESS)  # stop when this process is gone
    bridge.add_argument("--consumer", type=int, help=argparse.SUPPRESS)  # the k-th consumer of ``--consumers``
    bridge.set_defaults(handler=ingest)

    device = commands.add_parser("devices", help="registre des appareils LoRaWAN (DevEUI → entité)")
    device.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    device_actions = device.add_subparsers(dest="action", required=True)
    add = device_actions.add_parser("add", help="enregistrer un appareil")
    add.add_argument("dev_eui", help="DevEUI, 16 chiffres hexadécimaux")
    add.add_argument("--tenant", help="locataire (défaut : le locataire par défaut)")
    add.add_argument("--entity-id", required=True, help="entité mise à jour, ex. urn:ngsi-ld:Streetlight:0042")
    add.add_argument("--decoder", required=True, help="décodeur des trames, ex. streetlight")
    add.add_argument("--entity-type", help="type de l'entité, IRI complète (défaut : celui du décodeur)")
    add.add_argument("--name", help="libellé")
    imported = device_actions.add_parser("import", help="enregistrer les appareils d'un fichier JSON (liste)")
    imported.add_argument("file")
    listed = device_actions.add_parser("list", help="lister les appareils")
    listed.add_argument("--tenant", help="ceux de ce locataire seulement")
    listed.add_argument("--limit", type=int, default=1000)
    removed = device_actions.add_parser("delete", help="supprimer un appareil du registre")
    removed.add_argument("dev_eui")
    device.set_defaults(handler=devices)

    trail = commands.add_parser("audit", help="journal d'audit : qui a écrit quoi, quand")
    trail.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    audit_actions = trail.add_subparsers(dest="action", required=True)
    listed = audit_actions.add_parser("list", help="lister les écritures d'un locataire, les plus récentes d'abord")
    listed.add_argument("--tenant", default="", help="locataire (défaut ou _default : le locataire par défaut)")
    for name, what in (("subject", "auteur (identifiant de clé, sujet OIDC)"), ("credential", "identifiant de clé"),
                       ("entity", "entité ou ressource écrite"), ("attribute", "attribut (nom court ou IRI)"),
                       ("operation", "opération (create, update, append, deleteAttribute, delete…)")):
        listed.add_argument(f"--{name}", help=f"seulement cet(te) {what}")
    listed.add_argument("--from", dest="from", help="depuis cette date ou cet instant ISO 8601 (inclus)")
    listed.add_argument("--to", dest="to", help="jusqu'à cette date ou cet instant ISO 8601 (exclu)")
    listed.add_argument("--offset", type=int, default=0)
    listed.add_argument("--limit", type=int, default=100)
    listed.add_argument("--format", choices=("texte", "csv", "jsonl"), default="texte")
    purge = audit_actions.add_parser("purge", help="effacer les enregistrements plus anciens que la durée de "
                                                   "conservation (TERRITOIRES_AUDIT_RETENTION_DAYS) ou que --before")
    purge.add_argument("--before", help="effacer ceux d'avant cette date ou cet instant ISO 8601")
    trail.set_defaults(handler=audit)

    key = commands.add_parser("keys", help="clés d'API des machines et des capteurs")
    key.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    key_actions = key.add_subparsers(dest="action", required=True)
    created = key_actions.add_parser("create", help="créer une clé (affichée une seule fois, en dernière ligne)")
    created.add_argument("--tenant", help="locataire (\"\" ou _default : le locataire par défaut ; "
                                          "aucun pour les rôles operator et nationaux)")
    created.add_argument("--role", required=True, help="admin, editor, reader, device, operator ou un rôle national")
    created.add_argument("--name", help="libellé (à quoi sert la clé)")
    created.add_argument("--expires", help="date d'expiration ISO 8601, ex. 2027-01-01T00:00:00Z (défaut : jamais)")
    created.add_argument("--scope", help="rôles nationaux : le territoire, nature:code (commune:35238, epci:243500139…)")
    listed_keys = key_actions.add_parser("list", help="lister les clés")
    listed_keys.add_argument("--tenant", help="celles de ce locataire seulement")
    listed_keys.add_argument("--limit", type=int, default=1000)
    revoked = key_actions.add_parser("revoke", help="révoquer une clé (elle reste listée)")
    revoked.add_argument("id")
    key.set_defaults(handler=keys)

    member = commands.add_parser("members", help="rôles des personnes (connexion ProConnect, Keycloak)")
    member.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    member_actions = member.add_subparsers(dest="action", required=True)
    added = member_actions.add_parser("add", help="donner un rôle à une personne")
    added.add_argument("--tenant", help="locataire (\"\" ou _default : le locataire par défaut ; "
                                        "aucun pour les rôles operator et nationaux)")
    added.add_argument("--role", required=True, help="admin, editor, reader, operator ou un rôle national")
    who = added.add_mutually_exclusive_group(required=True)
    who.add_argument("--email", help="adresse électronique de la personne")
    who.add_argument("--subject", help="identifiant « sub » de la personne chez son fournisseur d'identité")
    added.add_argument("--issuer", help="URL du fournisseur d'identité (obligatoire avec --subject)")
    added.add_argument("--scope", help="rôles nationaux : le territoire, nature:code (commune:35238, epci:243500139…)")
    listed_members = member_actions.add_parser("list", help="lister les membres")
    listed_members.add_argument("--tenant", help="ceux de ce locataire seulement")
    listed_members.add_argument("--limit", type=int, default=1000)
    removed_member = member_actions.add_parser("remove", help="retirer un rôle")
    removed_member.add_argument("id")
    member.set_defaults(handler=members)

    sent = commands.add_parser("notifications", help="notifications des abonnements")
    sent.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    sent_groups = sent.add_subparsers(dest="group", required=True)
    dead = sent_groups.add_parser("dead-letters", help="notifications abandonnées après leur dernier essai")
    dead_actions = dead.add_subparsers(dest="action", required=True)
    for action, what in (("list", "lister les notifications abandonnées, les plus anciennes d'abord"),
                         ("revive", "les envoyer de nouveau (même identifiant, dans l'ordre de l'abonnement)"),
                         ("drop", "les supprimer définitivement")):
        one = dead_actions.add_parser(action, help=what)
        one.add_argument("--tenant", default="", help="locataire (défaut ou _default : le locataire par défaut)")
        one.add_argument("--subscription", help="celles de cet abonnement seulement (son identifiant)")
        if action == "list":
            one.add_argument("--offset", type=int, default=0)
            one.add_argument("--limit", type=int, default=100)
        else:
            one.add_argument("--seq", type=int, action="append",
                             help="celle de ce numéro (colonne 1 de la liste) ; répétable ; sans --seq ni "
                                  "--subscription : toutes celles du locataire")
    sent.set_defaults(handler=notifications)

    from territoires.ingest.simulator import add_arguments as simulate_arguments

    observatory = commands.add_parser("observatoire", help="observatoire national des projets")
    observatory.add_argument("--data-dir", default=argparse.SUPPRESS, help="dossier des données")
    observatory_actions = observatory.add_subparsers(dest="action", required=True)
    observatory_actions.add_parser(
        "seed", help="charger les projets documentés publiquement (sans effet sur ceux déjà présents)")
    observatory_actions.add_parser(
        "reindex", help="indexer de nouveau toutes les fiches pour la recherche plein texte (après une mise à jour)")
    observatory_actions.add_parser(
        "territories", help="écrire les entités Territory et Organisation des fiches (idempotent)").add_argument(
        "--all", action="store_true", help="tous les territoires du référentiel (36 359), par lots de 1 000")
    observatory.set_defaults(handler=observatoire)

    simulation = commands.add_parser("simulate", help="publier sur MQTT des remontées LoRaWAN simulées "
                                                      "(éclairage, eau, déchets, stationnement, air, électricité)")
    simulate_arguments(simulation)
    simulation.set_defaults(handler=simulate)
    return top


def _raise_open_files_limit() -> None:
    """Let the process open as many files as the system allows it: the embedded store keeps
    about 7 descriptors open per tenant (two connections, their WAL and shared memory, the
    lock), past the usual soft limit of 1,024 from about 140 tenants."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 65_536)
    if soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # a sandbox may refuse: the soft limit then stays
            pass


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    _raise_open_files_limit()
    try:
        return args.handler(args)
    except NgsiLdError as error:
        print(f"erreur : {error.detail}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
