"""`manage.py seed_demo --contacts N --orgs K`: realistic demo data, fast (see crm/seeding.py)."""

from django.core.management.base import BaseCommand, CommandError

from crm import seeding


class Command(BaseCommand):
    help = ("Create demo organizations with users, tags, companies, contacts, company links, relationships and "
            "activities (COPY bulk load, no audit events). Safe to run more than once.")

    def add_arguments(self, parser):
        parser.add_argument("--contacts", type=int, default=10_000, help="Contacts in total (default 10,000).")
        parser.add_argument("--orgs", type=int, default=1, help="Organizations sharing them evenly (default 1).")
        parser.add_argument("--seed", type=int, default=seeding.DEFAULT_SEED,
                            help=f"Random seed (default {seeding.DEFAULT_SEED}).")
        parser.add_argument("--batch", type=int, default=seeding.DEFAULT_BATCH,
                            help=f"Contacts per COPY transaction (default {seeding.DEFAULT_BATCH:,}).")
        parser.add_argument("--jobs", type=int, default=seeding.DEFAULT_JOBS,
                            help=f"Organizations loaded in parallel, one connection each "
                                 f"(default {seeding.DEFAULT_JOBS}).")
        parser.add_argument("--password", default=seeding.DEFAULT_PASSWORD,
                            help=f"Password of every demo user (default {seeding.DEFAULT_PASSWORD!r}).")
        parser.add_argument("--vacuum", action="store_true", help="VACUUM (ANALYZE) the tables instead of ANALYZE.")

    def handle(self, *args, **options):
        if options["contacts"] < 0 or min(options["orgs"], options["batch"], options["jobs"]) < 1:
            raise CommandError("--contacts must be >= 0; --orgs, --batch and --jobs >= 1")

        def out(line):
            self.stdout.write(line)
            self.stdout.flush()

        seeding.seed_demo(contacts=options["contacts"], orgs=options["orgs"], seed=options["seed"],
                          batch=options["batch"], jobs=options["jobs"], password=options["password"],
                          vacuum=options["vacuum"], out=out)
