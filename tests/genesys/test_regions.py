from __future__ import annotations

import pytest

from genesys.regions import REGION_DOMAINS, login_url_for, normalise_domain, urls_for_region


def test_it_builds_api_and_login_urls_from_a_region_domain():
    urls = urls_for_region("usw2.pure.cloud")
    assert urls.api_url == "https://api.usw2.pure.cloud"
    assert urls.login_url == "https://login.usw2.pure.cloud"


def test_it_accepts_sdk_region_names():
    assert urls_for_region("eu_west_1").login_url == "https://login.mypurecloud.ie"
    assert normalise_domain(" MyPureCloud.com.au ") == "mypurecloud.com.au"


def test_it_rejects_a_url_or_host_instead_of_a_domain():
    for bad in ("", "https://api.mypurecloud.com", "api.mypurecloud.com", "login.mypurecloud.ie"):
        with pytest.raises(ValueError, match="region"):
            urls_for_region(bad)


def test_it_derives_the_login_host_like_the_sdk():
    assert login_url_for("https://api.mypurecloud.de/") == "https://login.mypurecloud.de"
    # An emulator host has no api. prefix: the token goes to the same host.
    assert login_url_for("http://127.0.0.1:8787") == "http://127.0.0.1:8787"


def test_it_knows_every_documented_region():
    assert len(REGION_DOMAINS) == 18
    assert REGION_DOMAINS["us_east_2"] == "use2.us-gov-pure.cloud"
