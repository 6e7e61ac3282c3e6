"""Staff are Django's users and roles are its groups (see roles.py); this app adds no tables.

The module exists so that Django sends this app its post_migrate signal, which keeps the role
groups in step with roles.py after every migrate.
"""
