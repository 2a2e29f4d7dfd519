"""Settings: one table, one meaning per value, and a config file that cannot be read never
drops the daily limit (against the simulator; nothing is submitted when a setting is bad)."""
import json
import os
from pathlib import Path

import pytest

from nodes.remote.journal_sqlite import SqliteJournal

from nodes.app.pipeline import run_model
from nodes.app.status import StatusReporter as Reporter
from nodes.core.errors import ConfigError, SpendLimitReached
from nodes.core.settings import DEFAULT_BASE_URL, SETTINGS, ConfigFileError, markdown_table

from test_prices import SAME, call, priced, wan22  # noqa: F401 - fixtures and helpers

BROKEN = '{\n  "daily_limit_usd": 0.5,\n}\n'     # one trailing comma, as typed by hand


@pytest.fixture
def broken_config(rt):
    path = rt.settings.config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BROKEN, encoding="utf-8")
    return path


def test_a_config_file_that_is_not_json_is_an_error_naming_the_file_line_and_column(rt, broken_config):
    with pytest.raises(ConfigFileError) as info:
        rt.settings.read_config()
    e = info.value
    assert (e.path, e.line, e.column) == (broken_config, 3, 1)
    assert str(broken_config) in str(e) and "line 3, column 1" in str(e)
    with pytest.raises(ConfigError, match="cannot be read"):
        rt.settings.daily_limit()                           # never silently "no limit"


@pytest.mark.parametrize("text,why", [("[1, 2]", "a JSON list, not an object"),
                                      ("\xff\xfe", "cannot be read")])
def test_a_config_file_that_is_no_object_or_no_text_is_an_error(rt, text, why):
    path = rt.settings.config_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("latin-1"))
    with pytest.raises(ConfigFileError, match=why):
        rt.settings.read_config()


def test_a_broken_config_with_a_limit_refuses_the_paid_job_and_is_never_rewritten(rt, priced, broken_config):
    """The issue's case: a $0.25 Wan 2.2 job under a broken $0.50 limit is not submitted."""
    with pytest.raises(ConfigFileError, match="no paid job is submitted"):
        run_model(rt, *wan22(rt), Reporter())
    assert priced.calls("submit") == []
    with pytest.raises(ConfigFileError):       # which journal holds the jobs is in that file too
        rt.journal.recent()
    assert SqliteJournal(rt.host.user_dir() / "journal.sqlite3").recent() == []
    for change in (lambda: rt.settings.set_token("rc-a-new-token-1234"), lambda: rt.settings.set_daily_limit(2)):
        with pytest.raises(ConfigFileError):
            change()
    assert broken_config.read_text(encoding="utf-8") == BROKEN


def test_a_broken_config_is_shown_in_settings_and_the_routes_do_not_rewrite_it(rt, broken_config):
    (c1, limit, _), (c2, saved, _), (c3, token, text), (c4, posted, _) = call(
        rt,
        ("GET", "/runcomfy/settings", {"headers": SAME}),
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": 3}}),
        ("GET", "/runcomfy/token", {"headers": SAME}),
        ("POST", "/runcomfy/token", {"headers": SAME, "json": {"token": "rc-a-new-token-1234"}}))
    assert c1 == 200 and "line 3, column 1" in limit["problem"] and limit["daily_limit_usd"] is None
    assert c2 == 409 and str(broken_config) in saved["error"]
    assert c3 == 200 and "line 3, column 1" in token["problem"] and token["set"] is False
    assert c4 == 409 and "rc-a-new-token-1234" not in json.dumps(posted)
    assert broken_config.read_text(encoding="utf-8") == BROKEN


def test_a_token_in_the_environment_still_shows_while_the_config_is_broken(rt, broken_config, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_API_TOKEN", "rc-env-token-5678")
    [(code, token, text)] = call(rt, ("GET", "/runcomfy/token", {"headers": SAME}))
    assert (code, token["set"], token["last4"], token["source"]) == (200, True, "5678", "environment")
    assert "line 3" in token["problem"] and "rc-env-token-5678" not in text


# -- 0 as a daily limit ------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["settings", "environment"])
def test_a_daily_limit_of_0_means_no_paid_jobs_wherever_it_is_set(rt, priced, monkeypatch, where):
    if where == "settings":
        rt.settings.set_daily_limit(0)
    else:
        monkeypatch.setenv("RUNCOMFY_DAILY_LIMIT_USD", "0")
    assert rt.settings.daily_limit() == (0.0, where)
    with pytest.raises(SpendLimitReached, match=r"daily limit of \$0.00 \(no paid jobs\)"):
        run_model(rt, *wan22(rt), Reporter())
    assert priced.calls("submit") == []


def test_the_settings_route_keeps_0_as_a_limit(rt):
    [(code, data, _)] = call(rt, ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": 0}}))
    assert (code, data["daily_limit_usd"], data["source"]) == (200, 0.0, "settings")


# -- every setting a job uses is checked before its submit -----------------------------------------

@pytest.mark.parametrize("name,value,allowed", [
    ("RUNCOMFY_TIMEOUT_MIN", "-5", "more than 0"),
    ("RUNCOMFY_TIMEOUT_MIN", "0", "more than 0"),
    ("RUNCOMFY_QUEUE_TIMEOUT_MIN", "0", "more than 0"),
    ("RUNCOMFY_MAX_DOWNLOAD_MB", "0", "more than 0"),
    ("RUNCOMFY_MAX_DOWNLOAD_MB", "abc", "not a number"),
    ("RUNCOMFY_DOWNLOAD_TIMEOUT_MIN", "nan", "not a finite number"),
    ("RUNCOMFY_MAX_RESULT_GB", "-1", "more than 0"),
    ("RUNCOMFY_MAX_IMAGE_MP", "inf", "not a finite number"),
    ("RUNCOMFY_MAX_CONCURRENT_JOBS", "0", "from 1 to 256"),
    ("RUNCOMFY_MAX_CONCURRENT_JOBS", "2.5", "from 1 to 256"),
    ("RUNCOMFY_DAILY_LIMIT_USD", "-1", "0 (no paid jobs) or more"),
])
def test_a_setting_that_cannot_work_is_refused_before_the_submit(rt, priced, monkeypatch, name, value, allowed):
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as info:
        run_model(rt, *wan22(rt), Reporter())
    assert f"{name} is {value!r}, " in str(info.value) and allowed in str(info.value)
    assert "nothing was sent" in str(info.value)
    assert priced.calls("submit") == [] and rt.journal.recent() == []


def test_a_bad_setting_in_the_config_file_names_its_key_and_the_file(rt, priced):
    rt.settings.update(timeout_min=-5)
    with pytest.raises(ConfigError, match=r"'timeout_min' in .*config.json is '-5', which must be more than 0"):
        run_model(rt, *wan22(rt), Reporter())
    assert priced.calls("submit") == []


def test_a_base_url_that_is_no_web_address_is_refused_before_anything_is_sent(rt, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_BASE_URL", "model-api.runcomfy.net")
    with pytest.raises(ConfigError, match="RUNCOMFY_BASE_URL is 'model-api.runcomfy.net', which must be an http"):
        rt.settings.check()


def test_unset_and_blank_settings_take_their_defaults(rt, monkeypatch):
    monkeypatch.setenv("RUNCOMFY_TIMEOUT_MIN", "  ")
    assert rt.settings.run_timeout_s() == 30 * 60 and rt.settings.queue_timeout_s() == 120 * 60
    assert rt.settings.max_download_bytes() == 1024 * 2**20 and rt.settings.max_concurrent_jobs() == 16
    assert rt.settings.base_url() == DEFAULT_BASE_URL
    monkeypatch.setenv("RUNCOMFY_MAX_CONCURRENT_JOBS", "4")
    assert rt.settings.max_concurrent_jobs() == 4
    assert not os.path.exists(rt.settings.config_path)                # reading never writes


def test_the_readme_lists_every_setting_as_the_table_declares_it():
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
    assert [s.key for s in SETTINGS] == [s.env[len("RUNCOMFY_"):].lower() for s in SETTINGS]


def test_the_settings_page_lists_what_the_table_shows_and_takes_nothing_else(rt):
    [(code, data, _)] = call(rt, ("GET", "/runcomfy/settings", {"headers": SAME}))
    shown = [s for s in SETTINGS if s.shown]
    assert code == 200 and [v["key"] for v in data["settings"]] == [s.key for s in shown]
    assert {(v["label"], v["unit"], v["env_var"]) for v in data["settings"]} == \
        {(s.label, s.unit, s.env) for s in shown}
    (c1, refused, _), (c2, bad, _) = call(
        rt, ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"timeout_min": 5}}),
        ("POST", "/runcomfy/settings", {"headers": SAME, "json": {"daily_limit_usd": "lots"}}))
    assert c1 == 400 and "daily_limit_usd" in refused["error"]           # not a setting of the page
    assert c2 == 400 and "not an amount of US dollars" in bad["error"]   # the table's own parser
    assert "timeout_min" not in rt.settings.read_config() and "daily_limit_usd" not in rt.settings.read_config()
