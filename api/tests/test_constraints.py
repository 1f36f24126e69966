"""The database's invariants for API tokens."""

import pytest

from api.models import ApiToken
from api.tests.factories import ApiTokenFactory
from core.tests.helpers import violates

pytestmark = pytest.mark.django_db


def test_the_factory_makes_a_usable_token(api):
    token = ApiTokenFactory()
    token.full_clean()
    assert api.get("/api/v1/tariffs/", token.raw).status_code == 200


def test_a_scope_must_be_known():
    token = ApiTokenFactory()
    assert violates(lambda: ApiToken.objects.filter(pk=token.pk).update(scope="root"))


@pytest.mark.parametrize("field", ["secret_hash", "prefix"])
def test_a_token_has_a_secret_and_a_prefix(field):
    token = ApiTokenFactory()
    assert violates(lambda: ApiToken.objects.filter(pk=token.pk).update(**{field: ""}))


def test_prefixes_are_unique():
    token = ApiTokenFactory()
    assert violates(lambda: ApiTokenFactory(prefix=token.prefix))
