import factory

from accounts.tests.factories import UserFactory
from api.models import TOKEN_KIND, ApiToken
from api.scopes import Scope
from api.services import token_digest


def raw_for(prefix: str) -> str:
    """The token a factory-made ``ApiToken`` with `prefix` answers to."""
    return f"{TOKEN_KIND}_{prefix}_factory-secret-{prefix}"


class ApiTokenFactory(factory.django.DjangoModelFactory):
    """A usable operators token of a superuser; ``token.raw`` is what to send."""

    class Meta:
        model = ApiToken
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"token {n}")
    owner = factory.SubFactory(UserFactory, is_superuser=True)
    scope = Scope.OPERATORS
    prefix = factory.Sequence(lambda n: f"{n + 1:012x}")
    secret_hash = factory.LazyAttribute(lambda o: token_digest(raw_for(o.prefix)))

    @factory.post_generation
    def raw(self, create, extracted, **kwargs):
        self.raw = raw_for(self.prefix)
