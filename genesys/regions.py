"""Region domain -> API and login base URLs (genesys-api.md §1.1)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# SDK enum -> region domain; the API host is api.<domain>, the token host login.<domain>.
REGION_DOMAINS: dict[str, str] = {
    "us_east_1": "mypurecloud.com",
    "eu_west_1": "mypurecloud.ie",
    "ap_southeast_2": "mypurecloud.com.au",
    "ap_northeast_1": "mypurecloud.jp",
    "eu_central_1": "mypurecloud.de",
    "us_west_2": "usw2.pure.cloud",
    "ca_central_1": "cac1.pure.cloud",
    "ap_northeast_2": "apne2.pure.cloud",
    "eu_west_2": "euw2.pure.cloud",
    "ap_south_1": "aps1.pure.cloud",
    "us_east_2": "use2.us-gov-pure.cloud",
    "sa_east_1": "sae1.pure.cloud",
    "me_central_1": "mec1.pure.cloud",
    "ap_northeast_3": "apne3.pure.cloud",
    "eu_central_2": "euc2.pure.cloud",
    "mx_central_1": "mxc1.pure.cloud",
    "ap_southeast_1": "apse1.pure.cloud",
    "eusc_de_east_1": "edee1.eusc-pure.cloud",
}

_API_PREFIX = re.compile(r"//api\.")


@dataclass(frozen=True)
class RegionUrls:
    api_url: str
    login_url: str


def normalise_domain(region: str) -> str:
    """Accept a domain ("usw2.pure.cloud") or an SDK enum name ("us_west_2")."""
    cleaned = region.strip().lower()
    if cleaned in REGION_DOMAINS:
        return REGION_DOMAINS[cleaned]
    if not cleaned or "/" in cleaned or cleaned.startswith(("api.", "login.")):
        raise ValueError(f"a Genesys region is a domain such as mypurecloud.com or usw2.pure.cloud, got {region!r}")
    return cleaned


def urls_for_region(region: str) -> RegionUrls:
    domain = normalise_domain(region)
    return RegionUrls(api_url=f"https://api.{domain}", login_url=f"https://login.{domain}")


def login_url_for(api_url: str) -> str:
    """The SDK rule: replace a leading `api.` host label with `login.`; hosts without it (emulator) are unchanged."""
    return _API_PREFIX.sub("//login.", api_url.rstrip("/"), count=1)


def is_known_region_domain(domain: str) -> bool:
    return domain.strip().lower() in REGION_DOMAINS.values()
