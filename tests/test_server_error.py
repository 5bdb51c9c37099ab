"""The 500 page: what a user sees when a request fails on our side."""

import pytest
from django.urls import path


def boom(request):
    raise RuntimeError("a bug")


urlpatterns = [path("boom/", boom)]


@pytest.mark.urls("tests.test_server_error")
def test_an_unexpected_error_shows_the_500_page_without_details(client):
    client.raise_request_exception = False

    response = client.get("/boom/")

    page = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side" in page
    # It must not promise that nothing was sent: the failure may come after the provider answered.
    assert "check History before you send it again" in page
    assert "a bug" not in page and "RuntimeError" not in page
