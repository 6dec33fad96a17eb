"""Server-rendered pages (Jinja2): sign-in and the case queue, in English and Dutch."""
