from django.contrib.admin.apps import AdminConfig


class ClearhouseAdminConfig(AdminConfig):
    default_site = "apps.core.admin_site.ClearhouseAdminSite"
