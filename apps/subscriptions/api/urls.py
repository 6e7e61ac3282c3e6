from django.urls import path

from . import views

urlpatterns = [
    path("plans", views.PlanListCreateApi.as_view(), name="plan-list"),
    path("plans/<str:plan_id>", views.PlanDetailApi.as_view(), name="plan-detail"),
    path("subscriptions", views.SubscriptionListCreateApi.as_view(), name="subscription-list"),
    path("subscriptions/<str:subscription_id>", views.SubscriptionDetailApi.as_view(), name="subscription-detail"),
    path(
        "subscriptions/<str:subscription_id>/cancel", views.SubscriptionCancelApi.as_view(), name="subscription-cancel"
    ),
    path("subscriptions/<str:subscription_id>/pause", views.SubscriptionPauseApi.as_view(), name="subscription-pause"),
    path(
        "subscriptions/<str:subscription_id>/resume", views.SubscriptionResumeApi.as_view(), name="subscription-resume"
    ),
    path(
        "subscriptions/<str:subscription_id>/invoices",
        views.SubscriptionInvoicesApi.as_view(),
        name="subscription-invoices",
    ),
]
