from django.urls import path

from .views import RowCreateApi, RowDetailApi, live

urlpatterns = [
    path("rows", RowCreateApi.as_view()),
    path("rows/<int:pk>", RowDetailApi.as_view()),
    path("health/live", live),
]
