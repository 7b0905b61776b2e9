"""The pages: Jinja2 templates, static files, and their translations (i18n)."""
