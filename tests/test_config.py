"""Configuration: defaults, every example key, durations, env overrides, errors naming keys."""

from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, load_settings, parse_duration

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    s = load_settings(environ={})
    assert s.server.port == 8080
    assert s.database.url.startswith("sqlite://")
    assert s.redis.url == ""
    assert s.enabled_platforms == []
    assert s.source == "built-in defaults"


def test_example_config_is_valid_and_complete():
    s = load_settings(ROOT / "config.example.toml", environ={})
    assert s.timers.offer_unconfirmed_after == timedelta(hours=24)
    assert s.timers.offer_expires_after == timedelta(days=7)
    assert s.company.quiet_window is not None


@pytest.mark.parametrize(
    "text,seconds",
    [("90s", 90), ("30m", 1800), ("24h", 86400), ("3d", 259200), ("250ms", 0.25), (5, 5)],
)
def test_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("bad", ["2 days", "", "-1s", "1w", None, True])
def test_bad_durations(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_env_overrides_secrets(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wecom]\nsecret = "from-file"\n')
    s = load_settings(
        cfg, environ={"OFFERBOT_WECOM_SECRET": "from-env", "OFFERBOT_API_TOKEN": "tok"}
    )
    assert s.wecom.secret == "from-env"
    assert s.api.token == "tok"


def test_config_path_from_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server]\nport = 9999\n")
    assert load_settings(environ={"OFFERBOT_CONFIG": str(cfg)}).server.port == 9999


def test_every_problem_is_one_line_naming_its_key(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text(
        "[server]\nprot = 1\n"
        '[timers]\noffer_unconfirmed_after = "2 days"\n'
        '[company]\ntimezone = "Mars/Olympus"\nlanguage = "fr"\n'
        "[wecom]\nenabled = true\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    text = "\n".join(err.value.problems)
    assert "server.prot: unknown key" in text
    assert "timers.offer_unconfirmed_after" in text
    assert "company.timezone" in text
    assert "company.language" in text
    assert all("\n" not in p for p in err.value.problems)


def test_enabled_platform_needs_its_keys(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[feishu]\nenabled = true\napp_id = "cli_1"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert "feishu.app_secret: required when feishu.enabled = true" in err.value.problems


@pytest.mark.parametrize("n,ok", [(0, False), (1, True), (2, True), (32, True), (33, False)])
def test_serve_workers_bounds(tmp_path, monkeypatch, n, ok):
    """`[worker] serve_workers`: 1 by default, 1-32 accepted, anything else named."""
    monkeypatch.chdir(tmp_path)
    assert load_settings(environ={}).worker.serve_workers == 1
    cfg = tmp_path / "c.toml"
    cfg.write_text(f"[worker]\nserve_workers = {n}\n")
    if ok:
        assert load_settings(cfg, environ={}).worker.serve_workers == n
        return
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert any(p.startswith("worker.serve_workers") for p in err.value.problems)


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError):
        load_settings(tmp_path / "nope.toml", environ={})


def test_not_toml(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[server\nport=")
    with pytest.raises(ConfigError) as err:
        load_settings(cfg, environ={})
    assert "not valid TOML" in err.value.problems[0]


def test_check_config_cli_names_the_misspelled_key(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wecom]\ncorp_idd = "x"\n')
    with pytest.raises(SystemExit) as exc:
        main(["check-config", "--config", str(cfg)])
    assert exc.value.code != 0
    assert "wecom.corp_idd: unknown key" in capsys.readouterr().err


def test_check_config_cli_prints_what_is_enabled(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[api]\ntoken = "t"\n')
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "wecom: disabled" in out
    assert "api: enabled" in out


def test_check_config_names_what_sms_and_email_lack(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[sms]\nenabled = true\nsign_name = "示例科技"\n[email]\nenabled = true\n')
    with pytest.raises(SystemExit) as exc:
        main(["check-config", "--config", str(cfg)])
    assert exc.value.code != 0
    err = capsys.readouterr().err
    for key in ("sms.access_key_id", "sms.access_key_secret", "sms.template_invite"):
        assert f"{key}: required when sms.enabled = true" in err
    assert "email.smtp_host: required when email.enabled = true" in err
    assert "server.public_url: required when sms.enabled = true" in err
    assert "server.public_url: required when email.enabled = true" in err
    assert "sms.sign_name" not in err


def test_check_config_shows_sms_and_email_without_secrets(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[server]\npublic_url = "https://hr.example.com"\n'
        '[sms]\nenabled = true\naccess_key_id = "LTAI1"\naccess_key_secret = "s3cret-ak"\n'
        'sign_name = "示例科技"\ntemplate_invite = "SMS_1"\n'
        '[email]\nenabled = true\nsmtp_host = "smtp.exmail.qq.com"\npassword = "pw-123"\n'
    )
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "sms: enabled" in out and "reminders by e-mail only" in out
    assert "email: enabled, smtp.exmail.qq.com:465 (tls)" in out
    assert "https://hr.example.com/c/" in out
    assert "s3cret-ak" not in out and "pw-123" not in out

def test_check_config_names_the_ai_bot_and_the_hr_route_it_takes(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[wecom_bot]\nenabled = true\nbot_id = "b"\n')
    with pytest.raises(SystemExit):
        main(["check-config", "--config", str(cfg)])
    assert "wecom_bot.secret: required when wecom_bot.enabled = true" in capsys.readouterr().err
    cfg.write_text(
        '[wecom]\nenabled = true\ncorp_id = "c"\nagent_id = 1\nsecret = "s"\ntoken = "t"\n'
        'encoding_aes_key = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"\n'
        'hr_webhook_key = "693a91f6-7a1e-4bc4-97a0-0ec2f1a5aa01"\n'
        '[wecom_bot]\nenabled = true\nbot_id = "b"\nsecret = "s"\nhr_chat_id = "wrHR"\n'
    )
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "wecom_bot: enabled" in out
    assert "HR alerts via: cards with 认领 / 已处理 to chat wrHR" in out
    assert "HR alerts via: the AI bot (wecom_bot.hr_chat_id)" in out
    assert "held by one serve process" in out

def test_check_config_names_the_feishu_connection_and_what_it_lacks(tmp_path, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[feishu]\nenabled = true\nconnection = "websocket"\napp_id = "cli_1"\n'
        'app_secret = "s"\nencrypt_key = "k"\n'
    )
    assert main(["check-config", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "events via: long connection (websocket; no public URL needed)" in out
    assert "not used in this mode: feishu.encrypt_key" in out
    # Without a webhook, the verification token is not required; the secret still is.
    cfg.write_text('[feishu]\nenabled = true\nconnection = "websocket"\napp_id = "cli_1"\n')
    with pytest.raises(SystemExit):
        main(["check-config", "--config", str(cfg)])
    err = capsys.readouterr().err
    assert "feishu.app_secret: required" in err and "verification_token" not in err
    cfg.write_text(
        '[feishu]\nenabled = true\nconnection = "webhook"\napp_id = "c"\napp_secret = "s"\n'
    )
    with pytest.raises(SystemExit):
        main(["check-config", "--config", str(cfg)])
    assert "feishu.verification_token: required" in capsys.readouterr().err

def test_check_config_names_who_may_run_hr_commands(tmp_path, capsys):
    """With no admins configured, the playground's HR pane still may (and can)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text("[hr]\nadmins = []\n")
    assert main(["check-config", "--config", str(cfg)]) == 0
    admins = next(line for line in capsys.readouterr().out.splitlines() if "hr admins" in line)
    assert "web:playground-hr" in admins and "nobody" not in admins
    cfg.write_text("[hr]\nadmins = []\n[playground]\nenabled = false\n")
    assert main(["check-config", "--config", str(cfg)]) == 0
    assert "nobody can run HR commands" in capsys.readouterr().out
