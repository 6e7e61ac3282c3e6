from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from apps.merchants.models import Merchant


class MerchantFactory(DjangoModelFactory[Merchant]):
    class Meta:
        model = Merchant

    slug = factory.Sequence(lambda n: f"merchant-{n}")
    name = factory.Faker("company")
