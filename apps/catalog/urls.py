from django.urls import path

from . import views

app_name = "storefront"

urlpatterns = [
    path("<slug:slug>/", views.index, name="index"),
    path("<slug:slug>/success", views.success, name="success"),
    path("<slug:slug>/failure", views.failure, name="failure"),
]
