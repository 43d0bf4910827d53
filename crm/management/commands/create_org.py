from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from crm.audit import change_context
from crm.services import create_organization


class Command(BaseCommand):
    help = "Create an organization with its first org admin (platform staff only)."

    def add_arguments(self, parser):
        parser.add_argument("name", help="Organization name")
        parser.add_argument("--admin-email", required=True)
        parser.add_argument("--admin-password", help="Generated and printed when omitted")
        parser.add_argument("--admin-name", default="")

    def handle(self, *args, name, admin_email, admin_password, admin_name, **options):
        if not name.strip():
            raise CommandError("NAME: give the organization a name.")
        try:
            with change_context(source="command", command="create_org"):
                org, admin, password = create_organization(
                    name, admin_email=admin_email, admin_password=admin_password, admin_name=admin_name)
        except ValidationError as exc:
            details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
            raise CommandError(f"--admin-email/--admin-password: {details}") from None
        except ValueError as exc:
            raise CommandError(f"--admin-email: {exc}") from None
        self.stdout.write(self.style.SUCCESS(f"Created organization {org.name!r} (slug {org.slug})."))
        self.stdout.write(f"Org admin: {admin.email}")
        if not admin_password:
            self.stdout.write(f"Password: {password}")
