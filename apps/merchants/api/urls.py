from django.urls import path

from . import views

urlpatterns = [
    path("merchant", views.MerchantDetailApi.as_view(), name="merchant-detail"),
    path("api-keys", views.ApiKeyListApi.as_view(), name="api-key-list"),
    path("api-keys/<str:key_id>", views.ApiKeyDetailApi.as_view(), name="api-key-detail"),
    path("api-keys/<str:key_id>/revoke", views.ApiKeyRevokeApi.as_view(), name="api-key-revoke"),
]
