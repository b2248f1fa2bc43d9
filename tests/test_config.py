"""Configuration: defaults, then PORTAL_* variables, then the test mapping."""

import stat

import pytest

from portal import config, create_app


def test_environment_overrides_defaults_with_types():
    settings = config.load(environ={"PORTAL_MAIL_PORT": "2525", "PORTAL_MAIL_USE_TLS": "no",
                                    "PORTAL_SITE_NAME": "Sede"})
    assert settings["MAIL_PORT"] == 2525
    assert settings["MAIL_USE_TLS"] is False
    assert settings["SITE_NAME"] == "Sede"


def test_mapping_overrides_environment():
    settings = config.load({"SITE_NAME": "Test"}, environ={"PORTAL_SITE_NAME": "Env"})
    assert settings["SITE_NAME"] == "Test"


@pytest.mark.parametrize("environ", [{"PORTAL_MAIL_SEVER": "smtp.example.org"},
                                     {"PORTAL_NOPE": "1"}])
def test_unknown_environment_setting_is_rejected(environ):
    with pytest.raises(config.ConfigError, match="Unknown setting"):
        config.load(environ=environ)


def test_unknown_mapping_key_is_rejected():
    with pytest.raises(config.ConfigError, match="Unknown setting"):
        config.load({"SQLALCHEMY_DATABASE_URI": "sqlite://"}, environ={})


@pytest.mark.parametrize(("name", "raw"), [("PORTAL_MAIL_PORT", "twenty"),
                                           ("PORTAL_MAIL_USE_TLS", "maybe")])
def test_badly_typed_value_is_rejected(name, raw):
    with pytest.raises(config.ConfigError):
        config.load(environ={name: raw})


def test_variables_for_tools_are_not_settings():
    settings = config.load(environ={"PORTAL_TEST_DATABASE_URL": "postgresql://x",
                                    "PORTAL_NEW_PASSWORD": "secret"})
    assert "TEST_DATABASE_URL" not in settings


def test_secret_key_is_generated_once_with_private_permissions(tmp_path, monkeypatch):
    monkeypatch.delenv("PORTAL_SECRET_KEY", raising=False)
    first = create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True})
    second = create_app({"INSTANCE_PATH": str(tmp_path), "TESTING": True})
    key_file = tmp_path / "secret_key"
    assert len(first.secret_key) >= 64
    assert first.secret_key == second.secret_key == key_file.read_text()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_instance_folder_holds_database_index_uploads_and_outbox(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'portal.db'}"
    for folder in ("search", "uploads", "outbox"):
        assert (tmp_path / folder).is_dir()


def test_database_url_switches_to_postgresql_with_psycopg(tmp_path):
    app = create_app({"INSTANCE_PATH": str(tmp_path), "SECRET_KEY": "x",
                      "DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/ventanilla"})
    assert app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql+psycopg://")
