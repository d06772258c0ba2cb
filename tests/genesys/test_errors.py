from __future__ import annotations

import json

import pytest

from genesys.errors import (
    GenesysError,
    MalformedResponseError,
    PermissionDeniedError,
    division_ids_from,
    error_for_status,
    missing_permissions_from,
)

DIVISION = "3b4c5d6e-1111-4222-8333-944455566677"
OTHER = "9f8e7d6c-aaaa-4bbb-8ccc-ddddeeeeffff"


def forbidden(body: dict) -> PermissionDeniedError:
    error = error_for_status(status=403, body_text=json.dumps(body), headers={}, endpoint="sta.transcripturls")
    assert isinstance(error, PermissionDeniedError)
    return error


def test_it_reads_the_division_and_the_permission_from_a_division_denial():
    error = forbidden(
        {
            "message": f"You are missing the following permission(s) in division [{DIVISION}]: "
            "[recording:recording:view]",
            "code": "missing.division.permissions",
            "status": 403,
        }
    )
    assert error.division_ids == [DIVISION]
    assert error.missing_permissions == ["recording:recording:view"]  # the UUID bracket is not a permission
    assert f"permission denied in division {DIVISION};" in str(error)
    assert "recording:recording:view" in str(error)


def test_it_reads_divisions_from_message_params_and_detail_entity_ids():
    body = {
        "message": "Not authorized for the division",
        "code": "not.authorized",
        "messageParams": {"divisionId": DIVISION.upper(), "count": "2"},
        "details": [{"errorCode": "not.authorized", "entityId": OTHER}, {"entityId": DIVISION}],
    }
    assert division_ids_from(body) == [DIVISION, OTHER]  # lower-cased, in order, each once
    error = forbidden(body)
    assert error.division_ids == [DIVISION, OTHER]
    assert f"permission denied in divisions {DIVISION}, {OTHER};" in str(error)
    assert error.missing_permissions == []


def test_it_reads_divisions_from_nested_errors():
    body = {"message": "denied", "errors": [{"message": f"division [{DIVISION}]"}]}
    assert division_ids_from(body) == [DIVISION]


def test_it_explains_a_bare_not_authorized():
    error = forbidden({"message": "Not authorized", "code": "not.authorized", "status": 403})
    assert error.division_ids == [] and error.missing_permissions == []
    message = str(error)
    assert "HTTP 403 not.authorized: permission denied;" in message
    assert "division" in message and "role" in message


def test_it_ignores_ids_that_are_not_uuid_shaped():
    body = {"message": "missing [recording:recording:view] in [Home]", "messageParams": {"0": "Home"}}
    assert division_ids_from(body) == []
    assert missing_permissions_from(body) == ["recording:recording:view"]
    assert "in division" not in str(forbidden(body))


def test_it_has_a_malformed_response_error_that_is_a_genesys_error():
    assert issubclass(MalformedResponseError, GenesysError)


@pytest.mark.parametrize("body_text", ["", "not json", "[1]"])
def test_it_survives_403_bodies_that_say_nothing(body_text):
    error = error_for_status(status=403, body_text=body_text, headers={}, endpoint="x")
    assert isinstance(error, PermissionDeniedError) and error.division_ids == []
    assert "body named none" in str(error)
