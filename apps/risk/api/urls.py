from django.urls import path

from . import views

urlpatterns = [
    path("risk/lists", views.ListEntryListCreateApi.as_view(), name="risk-list-entry-list"),
    path("risk/lists/<str:entry_id>", views.ListEntryDetailApi.as_view(), name="risk-list-entry-detail"),
]
