"""The calendar record: validation through the model, the cached engine, and the API."""

from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from itline.core.models import BusinessCalendar
from itline.core.services import create_record, update_record
from itline.core.testing import bearer, make_user


def _office(**kw):
    fields = {"name": "Office", "time_zone": "Europe/Amsterdam", "country": "NL"} | kw
    return create_record(BusinessCalendar(**fields), by=None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"working_hours": {"mon": ["17:00-08:00"]}}, "working_hours"),
        ({"working_hours": {"funday": ["08:00-17:00"]}}, "working_hours"),
        ({"working_hours": {}}, "working_hours"),
        ({"working_hours": ["08:00-17:00"]}, "working_hours"),
        ({"country": "XX"}, "country"),
        ({"custom_holidays": ["24 December"]}, "custom_holidays"),
        ({"removed_holidays": "2026-01-01"}, "removed_holidays"),
    ],
)
def test_an_invalid_calendar_is_refused_naming_the_field(fields, bad_field):
    with pytest.raises(ValidationError) as exc:
        _office(**fields)
    assert bad_field in exc.value.message_dict
    assert not BusinessCalendar.objects.exists()


@pytest.mark.django_db
def test_the_engine_counts_business_time_with_the_records_holidays():
    calendar = _office(custom_holidays=["2026-11-30"])
    friday_4pm = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)  # 16:00 in Amsterdam
    # one hour on Friday, Monday the 30th is a custom holiday, so 60 more minutes on Tuesday
    assert calendar.engine().add_minutes(friday_4pm, 120) == datetime(2026, 12, 1, 8, 0, tzinfo=UTC)


@pytest.mark.django_db
def test_editing_a_calendar_rebuilds_its_cached_engine():
    calendar = _office()
    monday = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
    assert calendar.engine().is_business_time(monday)
    update_record(calendar, by=None, custom_holidays=["2026-11-30"])
    calendar.refresh_from_db()
    assert not calendar.engine().is_business_time(monday)


@pytest.mark.django_db
def test_the_api_creates_a_calendar_and_computes_with_it(client):
    headers = bearer(make_user("admin", "administrator"))
    created = client.post(
        "/api/v1/calendars",
        {
            "name": "Desk",
            "working_hours": {"mon": ["09:00-17:00"], "fri": ["09:00-17:00"]},
            "country": "NL",
        },
        content_type="application/json",
        headers=headers,
    )
    assert created.status_code == 201, created.content
    ref = created.json()["reference"]
    added = client.get(
        f"/api/v1/calendars/{ref}/add",
        {"start": "2026-11-27T16:30:00+01:00", "minutes": 60},
        headers=headers,
    )
    assert added.status_code == 200
    assert added.json()["deadline"].startswith("2026-11-30T08:30:00")  # Monday 09:30 in Amsterdam
    between = client.get(
        f"/api/v1/calendars/{ref}/between",
        {"start": "2026-11-27T16:30:00+01:00", "end": "2026-11-30T09:30:00+01:00"},
        headers=headers,
    )
    assert between.json()["business_minutes"] == 60
    naive = client.get(
        f"/api/v1/calendars/{ref}/add",
        {"start": "2026-11-27T16:30:00", "minutes": 1},
        headers=headers,
    )
    assert naive.status_code == 400
    assert naive.json()["errors"][0]["field"] == "start"
    bad = client.patch(
        f"/api/v1/calendars/{ref}",
        {"working_hours": {"mon": ["25:00-26:00"]}},
        content_type="application/json",
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "working_hours"


@pytest.mark.django_db
def test_only_administrators_change_calendars(client):
    headers = bearer(make_user("tom", "technician"))
    response = client.post(
        "/api/v1/calendars", {"name": "Mine"}, content_type="application/json", headers=headers
    )
    assert response.status_code == 403
    assert client.get("/api/v1/calendars", headers=headers).status_code == 200


@pytest.mark.django_db
def test_the_calendar_form_reads_like_a_timetable_and_reports_each_bad_field(client):
    from itline.core.testing import PASSWORD

    make_user("admin", "administrator")
    client.login(username="admin", password=PASSWORD)
    bad = client.post(
        "/calendars/new/",
        {
            "name": "Desk",
            "time_zone": "Europe/Berlin",
            "hours_mon": "08:00-12:00",
            "hours_tue": "9-5",
            "country": "DE",
            "subdivision": "ZZ",
            "custom_holidays_text": "2026-13-01",
        },
    )
    assert bad.status_code == 422
    body = bad.content.decode()
    assert "Tuesday: invalid interval" in body
    assert "unknown subdivision" in body
    assert "Not a date (YYYY-MM-DD): 2026-13-01" in body
    assert not BusinessCalendar.objects.exists()
    good = client.post(
        "/calendars/new/",
        {
            "name": "Desk",
            "time_zone": "Europe/Berlin",
            "hours_mon": "08:00-12:00, 13:00-17:00",
            "country": "DE",
            "subdivision": "BY",
            "custom_holidays_text": "2026-12-24",
        },
    )
    calendar = BusinessCalendar.objects.get()
    assert good["Location"] == calendar.get_absolute_url()
    assert calendar.working_hours == {"mon": ["08:00-12:00", "13:00-17:00"]}
    assert calendar.custom_holidays == ["2026-12-24"]
    page = client.get(calendar.get_absolute_url()).content.decode()
    assert "8.0 h a week" in page
