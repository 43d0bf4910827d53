import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm import backups


class Command(BaseCommand):
    help = ("Restore a backup made by manage.py backup into the configured database, replacing its "
            "contents (pg_restore --clean, in one transaction). Stop the web and worker processes first. "
            "--media also puts back the media files of PATH.media.tar.gz.")

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="a .dump file written by manage.py backup")
        parser.add_argument("--media", action="store_true", help="also restore the media files archived beside it")
        parser.add_argument("--yes", "--noinput", "--no-input", action="store_true", dest="yes",
                            help="do not ask for confirmation")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, path, media=False, yes=False, database="default", **options):
        from django.db import connections

        try:
            backups.check_archive(path)
            if media:
                backups.check_media(path)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        name = connections[database].settings_dict["NAME"]
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError(f"restore replaces everything in database {name!r}: "
                                   "confirm with --yes (or --noinput)")
            answer = input(f"This replaces everything in database {name!r} with {path}. Type 'yes' to go on: ")
            if answer.strip().lower() != "yes":
                raise CommandError("restore cancelled")
        try:
            result = backups.restore(path, media=media, alias=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Database {name!r} restored from {result['database']}"))
        if "media" in result:
            self.stdout.write(self.style.SUCCESS(f"Media files restored from {result['media']}"))
