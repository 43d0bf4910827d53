from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from crm import backups


class Command(BaseCommand):
    help = ("Back up the configured database with pg_dump (custom format) into PATH "
            "(default var/backups/kith-<UTC time>.dump); --media also writes the media files "
            "(imports, exports) to PATH.media.tar.gz. Restore with manage.py restore PATH --yes.")

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", type=Path, help="file to write (default var/backups/kith-<time>.dump)")
        parser.add_argument("--media", action="store_true", help="also archive MEDIA_ROOT beside the dump")
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, path=None, media=False, database="default", **options):
        try:
            result = backups.backup(path, media=media, alias=database)
        except backups.BackupError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(self.style.SUCCESS(f"Database backed up to {result['database']} ({result['bytes']:,} bytes)"))
        if "media" in result:
            self.stdout.write(self.style.SUCCESS(f"Media files archived to {result['media']}"))
