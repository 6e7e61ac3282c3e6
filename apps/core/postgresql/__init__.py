"""The PostgreSQL database backend (settings: ENGINE "apps.core.postgresql")."""
