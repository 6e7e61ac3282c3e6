from django.urls import path

from .views import FraudReportApi, SettlementReportApi, TransactionReportApi

urlpatterns = [
    path("reports/transactions", TransactionReportApi.as_view(), name="reports-transactions"),
    path("reports/settlements", SettlementReportApi.as_view(), name="reports-settlements"),
    path("reports/fraud", FraudReportApi.as_view(), name="reports-fraud"),
]
