"""A checked profile is kept (settings.profiles): loaded again without pydantic while nothing it
was checked from has changed, checked afresh as soon as anything has, never kept when bad, and
holding secret references, never their values."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_profile_validation import GOOD, with_value, write

from komet_ftd_ops.errors import ConfigError
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import SANDBOX, load_profile

# Every tuple and table a profile holds set, so that a value the cache gives back in another
# shape (a list for a tuple) makes the two loads differ.
FULL = (
    with_value("sync", "exclude_colors", '["Black", "Brown"]')
    .replace("[sync]\n", '[sync]\nexclude_categories = ["Filler"]\n')
    .replace("[komet]\n", '[komet]\ncompany_token = "env:KOMET_COMPANY"\n')
    + '\n[alerts]\ntargets = ["env:ALERT_URL"]\n\n[komet.switches]\nmax_rows = "5000"\n'
)

LOAD = """
import sys
from komet_ftd_ops.settings.home import Home
from komet_ftd_ops.settings.profiles import load_profile
profile = load_profile(sys.argv[1], Home.at(sys.argv[2]))
print(repr(profile))
print("pydantic" in sys.modules)
"""


def load_in_a_new_process(home: Path, name: str = "acme") -> tuple[str, bool]:
    """The profile's repr and whether loading it imported pydantic, in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", LOAD, name, str(home)], capture_output=True, text=True, check=True
    )
    shown, imported = done.stdout.strip().splitlines()
    return shown, imported == "True"


def test_a_profile_checked_once_loads_again_without_pydantic_and_the_same(home: Path) -> None:
    write(home, FULL)
    first, checked = load_in_a_new_process(home)
    again, checked_again = load_in_a_new_process(home)

    assert (checked, checked_again) == (True, False)
    assert again == first
    profile = load_profile("acme", Home.at(home))
    assert profile.sync.exclude_colors == ("Black", "Brown")
    assert profile.alerts.targets == ("env:ALERT_URL",)
    assert profile.komet_switches["max_rows"] == "5000"
    assert repr(profile) == first


def test_a_changed_profile_is_checked_again_and_a_bad_one_is_never_kept(home: Path) -> None:
    kit = Home.at(home)
    write(home, GOOD)
    assert load_profile("acme", kit).sync.deadline_seconds == 240
    kept = kit.checked_profile_path("acme").read_bytes()

    write(home, with_value("sync", "deadline_seconds", "-5"))
    with pytest.raises(ConfigError, match=r"\[sync\] deadline_seconds = -5: must be > 0"):
        load_profile("acme", kit)
    assert kit.checked_profile_path("acme").read_bytes() == kept  # the bad file kept nothing

    write(home, with_value("sync", "deadline_seconds", "120"))
    assert load_profile("acme", kit).sync.deadline_seconds == 120
    _, checked = load_in_a_new_process(home)
    assert checked is False  # the good file is the one kept now


def test_the_kept_profile_holds_references_and_no_secret(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = "kept-nowhere-0123456789abcdef"
    monkeypatch.setenv("KOMET_FTD_TOKEN", token)
    write(home, GOOD)
    load_profile("acme", Home.at(home))
    kept = Home.at(home).checked_profile_path("acme").read_text()
    assert "env:KOMET_FTD_TOKEN" in kept and token not in kept


def test_the_sandbox_profile_follows_the_twin_it_is_kept_for(home: Path) -> None:
    """Only info.json is read (no twin is started): a new twin is a new profile at once."""
    kit = Home.at(home)

    def twin_on(port: int) -> None:
        info = {
            "komet": {"base_url": f"http://127.0.0.1:{port}/api/", "company_id": "1",
                      "ftd_customer_id": "2"},
            "ftd": {"base_url": f"http://127.0.0.1:{port + 1}", "supplier_id": "SUP-1"},
        }  # fmt: skip
        kit.sandbox_info.parent.mkdir(exist_ok=True)
        kit.sandbox_info.write_text(json.dumps(info))

    twin_on(40000)
    assert load_profile(SANDBOX, kit).komet_base_url == "http://127.0.0.1:40000/api/"
    twin_on(41000)
    assert load_profile(SANDBOX, kit).komet_base_url == "http://127.0.0.1:41000/api/"
    kit.sandbox_info.unlink()
    with pytest.raises(ConfigError, match="the sandbox twin is not running"):
        load_profile(SANDBOX, kit)


def test_a_damaged_or_foreign_kept_file_is_checked_again(home: Path) -> None:
    kit = Home.at(home)
    write(home, GOOD)
    load_profile("acme", kit)
    path = kit.checked_profile_path("acme")
    kept = json.loads(path.read_text())

    kept["profile"]["sync"]["deadline_seconds"] = 9999  # another digest: never read back
    kept["digest"] = "0" * 64
    path.write_text(json.dumps(kept))
    assert load_profile("acme", kit).sync.deadline_seconds == 240

    path.write_text('{"digest": ')  # cut short
    assert load_profile("acme", kit).sync.deadline_seconds == 240
    assert json.loads(path.read_text())["digest"] != "0" * 64  # written anew


def test_a_home_that_cannot_keep_profiles_still_loads_them(home: Path) -> None:
    (home / "cache").write_text("a file where the cache folder would go")
    write(home, GOOD)
    assert load_profile("acme", Home.at(home)).sync.deadline_seconds == 240
    _, checked = load_in_a_new_process(home)
    assert checked is True  # nothing kept: checked each time, as before


def test_a_profile_that_is_not_utf8_is_one_line(home: Path) -> None:
    path = home / "profiles" / "acme.toml"
    path.parent.mkdir()
    path.write_bytes(GOOD.encode() + b"# \xff\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_profile("acme", Home.at(home))
