import factory

from accounts.models import Customer, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("operator-pass-123")
    is_staff = True


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    telegram_id = factory.Sequence(lambda n: 100000 + n)
    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    language = "ru"
