"""Ventanilla: a citizen-service portal. ``create_app`` builds the Flask application."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Nothing at module level needs Flask or another dependency: setuptools builds the
# package (portal/_build.py) where none is installed.
if TYPE_CHECKING:
    from flask import Flask

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parent


def source_folder(name: str) -> Path:
    """``translations`` or ``migrations``: the copy in a built package, else the checkout's.

    A wheel (or ``pip install .``) carries them inside ``portal/`` (portal/_build.py); an
    editable install or a checkout reads them at the top of the repository.
    """
    packaged = PACKAGE_DIR / name
    return packaged if packaged.is_dir() else PROJECT_ROOT / name


def resolve_instance_path(setting: str) -> Path:
    """``PORTAL_INSTANCE_PATH`` as an absolute path.

    A relative path is relative to the checkout when the code runs from one (``make run``
    and every ``flask`` command then share ``instance/`` wherever they are started from),
    and otherwise to the working directory: an installed package lives in
    site-packages, where no deployment keeps its data (the systemd units set
    ``WorkingDirectory``; an absolute path is plainer still).
    """
    path = Path(setting).expanduser()
    if path.is_absolute():
        return path
    base = PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else Path.cwd()
    return (base / path).resolve()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app from defaults, ``PORTAL_*`` variables and ``config`` (for tests)."""
    from flask import Flask

    from portal import config as portal_config

    settings = portal_config.load(config)
    instance_path = resolve_instance_path(settings["INSTANCE_PATH"])
    app = Flask(__name__, instance_path=str(instance_path), instance_relative_config=False)
    app.jinja_env.add_extension("jinja2.ext.do")
    _configure(app, settings, instance_path)
    _register_extensions(app)
    _register_blueprints(app)

    from portal import (
        deployment,
        errors,
        i18n,
        jobs,
        page_cache,
        search,
        security,
        storage,
    )

    deployment.register(app)
    errors.register(app)
    i18n.register(app)
    page_cache.register(app)
    # Before the jobs: its after-commit hook settles the files a transaction stored,
    # and a job (the virus scan) may then move them.
    storage.register(app)
    jobs.register(app)
    search.register(app)
    security.register(app)

    from portal import cli

    cli.register(app)
    if settings["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = settings["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    return app


def _configure(app: Flask, settings: dict[str, Any], instance_path: Path) -> None:
    from portal import config as portal_config
    from portal.request_limits import URL_CONVERTERS, PortalRequest

    upload_path = instance_path / (settings["UPLOAD_PATH"] or "uploads")
    for folder in (instance_path, upload_path, instance_path / "outbox",
                   instance_path / "search"):
        folder.mkdir(parents=True, exist_ok=True)
    app.config["PORTAL"] = settings
    database_url = settings["DATABASE_URL"] or f"sqlite:///{instance_path / 'portal.db'}"
    if database_url.startswith("postgresql://"):
        # psycopg 3 is the supported driver; accept the plain URL people copy from docs.
        database_url = "postgresql+psycopg://" + database_url[len("postgresql://"):]
    app.config.update(
        SECRET_KEY=settings["SECRET_KEY"] or portal_config.instance_secret_key(instance_path),
        SQLALCHEMY_DATABASE_URI=database_url,
        SQLALCHEMY_ENGINE_OPTIONS={"pool_pre_ping": True},
        TESTING=settings["TESTING"],
        DEBUG=settings["DEBUG"],
        WTF_CSRF_ENABLED=settings["WTF_CSRF_ENABLED"],
        # The CSRF token lives as long as the session; a form left open for an hour
        # while a citizen writes a complaint must still submit.
        WTF_CSRF_TIME_LIMIT=None,
        MAX_CONTENT_LENGTH=settings["MAX_CONTENT_LENGTH"],
        MAX_FORM_MEMORY_SIZE=settings["MAX_FORM_MEMORY_SIZE"],
        MAX_FORM_PARTS=settings["MAX_FORM_PARTS"],
        # Over HTTPS the __Host- prefix makes browsers refuse the cookie unless it is
        # Secure, for this host only and for every path: no subdomain can set or read it.
        SESSION_COOKIE_NAME=("__Host-ventanilla_session" if settings["SESSION_COOKIE_SECURE"]
                             else "ventanilla_session"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings["SESSION_COOKIE_SECURE"],
        PERMANENT_SESSION_LIFETIME=timedelta(days=settings["SESSION_LIFETIME_DAYS"]),
        RATELIMIT_ENABLED=settings["RATELIMIT_ENABLED"],
        RATELIMIT_STORAGE_URI=settings["REDIS_URL"] or "memory://",
        RATELIMIT_KEY_PREFIX=settings["RATELIMIT_KEY_PREFIX"],
        RATELIMIT_HEADERS_ENABLED=True,
        SEARCH_INDEX_PATH=str(instance_path / "search"),
        UPLOAD_PATH=str(upload_path),
        OUTBOX_PATH=str(instance_path / "outbox"),
    )
    # Werkzeug caps multipart forms only; this request class caps urlencoded ones too.
    app.request_class = PortalRequest
    # Before the blueprints: every <int:...> in a route is then a possible database id,
    # and <reference:...>, <token:...>, <slug:...> have their shapes.
    app.url_map.converters.update(URL_CONVERTERS)
    if database_url.startswith("sqlite"):
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {"connect_args": {"timeout": 15}}


def _register_extensions(app: Flask) -> None:
    from portal import models  # noqa: F401  (registers the tables for Alembic)
    from portal.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(source_folder("migrations")),
                     render_as_batch=True, compare_type=True)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from portal.accounts.routes import bp as accounts_bp
    from portal.admin.routes import audit_bp
    from portal.admin.routes import bp as admin_bp
    from portal.cases.routes import bp as cases_bp
    from portal.ideas.routes import bp as ideas_bp
    from portal.ideas.routes import staff_bp as ideas_staff_bp
    from portal.knowledge.routes import bp as knowledge_bp
    from portal.knowledge.routes import staff_bp as knowledge_staff_bp
    from portal.main.routes import bp as main_bp
    from portal.manage.routes import bp as manage_bp
    from portal.privacy.routes import bp as privacy_bp
    from portal.privacy.routes import desk_bp as privacy_desk_bp
    from portal.reports.routes import bp as reports_bp
    from portal.reports.routes import manage_bp as reports_manage_bp
    from portal.staff.routes import bp as staff_bp
    from portal.stats.routes import bp as stats_bp

    app.register_blueprint(main_bp)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(cases_bp)
    app.register_blueprint(knowledge_bp)
    app.register_blueprint(knowledge_staff_bp, url_prefix="/staff/kb")
    app.register_blueprint(ideas_bp)
    app.register_blueprint(ideas_staff_bp, url_prefix="/staff/ideas")
    app.register_blueprint(staff_bp, url_prefix="/staff")
    app.register_blueprint(manage_bp, url_prefix="/manage")
    app.register_blueprint(reports_bp)
    app.register_blueprint(reports_manage_bp, url_prefix="/manage/reports")
    app.register_blueprint(admin_bp, url_prefix="/manage/admin")
    app.register_blueprint(audit_bp, url_prefix="/manage/audit")
    app.register_blueprint(stats_bp)
    app.register_blueprint(privacy_bp)
    app.register_blueprint(privacy_desk_bp, url_prefix="/manage/privacy")
