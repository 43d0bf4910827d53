import os

from django.core.management.base import BaseCommand

from crm.audit import change_context
from crm.models import User
from crm.services import create_organization


class Command(BaseCommand):
    help = (
        "Create the first admin once: an org admin of a first organization and a superuser. "
        "Takes KITH_ADMIN_EMAIL / KITH_ADMIN_PASSWORD / KITH_ORG_NAME when set; otherwise "
        "admin@kith.local with a generated password, printed."
    )

    def handle(self, *args, **options):
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write("An admin already exists; sign in with it (manage.py changepassword EMAIL resets it).")
            return
        email = os.environ.get("KITH_ADMIN_EMAIL") or "admin@kith.local"
        password = os.environ.get("KITH_ADMIN_PASSWORD") or None
        org_name = os.environ.get("KITH_ORG_NAME") or "My Organization"
        with change_context(source="command", command="ensure_admin"):
            org, admin, password_used = create_organization(
                org_name, admin_email=email, admin_password=password, superuser=True, admin_name="Admin")
        self.stdout.write(self.style.SUCCESS(f"Created organization {org.name!r} and its first admin."))
        self.stdout.write(f"  Sign in at http://127.0.0.1:8000/ with {admin.email}")
        if password is None:
            self.stdout.write(f"  Password: {password_used}  (shown once; change it after signing in)")
